/**
 * Kernels that read or write a layout instead of copying to it, against composed references.
 *
 * Rotary embeddings on a permuted projection (LLaMA's q/k: [B, T, H, D] memory seen as
 * [B, H, T, D]) read through strides and give the input's gradient in the input's memory order:
 * values and gradients match the composed reference (rotaryComposed) on the same view, including a
 * position offset and a view at a nonzero offset.
 *
 * SwiGLU of a packed [..., 2I] gate-and-up projection matches swiglu of its two halves, values and
 * the packed gradient, also on a view at a nonzero offset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, nn, randn, tidy, type Tensor } from '@kdgpu/tensor';

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('applyRotary on permuted and offset views matches the composed reference, values and gradients', async () => {
  await init();
  const [B, T, H, D] = [2, 5, 3, 8];
  const { cos, sin } = nn.rotaryTables(D, 16);
  for (const [name, offset, view] of [
    ['permuted [B,T,H,D] -> [B,H,T,D]', 2, (x: Tensor) => x.reshape([B, T, H, D]).permute([0, 2, 1, 3])],
    ['column slice of [B,T,2HD], permuted', 0, (x: Tensor) => x.slice(-1, H * D, 2 * H * D).reshape([B, T, H, D]).permute([0, 2, 1, 3])],
  ] as const) {
    const w = randn([B, H, T, D], { seed: 7 });
    const run = async (fused: boolean) => {
      const x = randn([B, T, (name.startsWith('column') ? 2 : 1) * H * D], { seed: 3 });
      x.requiresGrad = true;
      const y = tidy(() => {
        const v = view(x);
        const out = fused ? nn.applyRotary(v, cos, sin, offset) : nn.rotaryComposed(v, cos, sin, offset);
        out.mul(w).sum().backward();
        return out.contiguous();
      });
      const r = { y: await y.data(), g: await x.grad!.data() };
      y.dispose();
      x.dispose();
      return r;
    };
    const f = await run(true);
    const c = await run(false);
    assert.ok(maxDiff(f.y, c.y) < 1e-5, `${name}: values differ by ${maxDiff(f.y, c.y)}`);
    assert.ok(maxDiff(f.g, c.g) < 1e-5, `${name}: gradients differ by ${maxDiff(f.g, c.g)}`);
    w.dispose();
  }
});

test('swigluPacked matches swiglu of the two halves, values and gradients', async () => {
  await init();
  const [R, I] = [6, 10];
  for (const shifted of [false, true]) {
    const w = randn([R, I], { seed: 11 });
    const run = async (packed: boolean) => {
      const base = randn([R * 2 * I + (shifted ? 4 : 0)], { seed: 5, std: 2 });
      base.requiresGrad = true;
      const y = tidy(() => {
        const x = (shifted ? base.slice(0, 4) : base).reshape([R, 2 * I]);
        const out = packed ? nn.swigluPacked(x) : nn.swiglu(x.slice(-1, 0, I), x.slice(-1, I, 2 * I));
        out.mul(w).sum().backward();
        return out;
      });
      const r = { y: await y.data(), g: await base.grad!.data() };
      y.dispose();
      base.dispose();
      return r;
    };
    const f = await run(true);
    const c = await run(false);
    assert.ok(maxDiff(f.y, c.y) < 1e-5, `shifted=${shifted}: values differ by ${maxDiff(f.y, c.y)}`);
    assert.ok(maxDiff(f.g, c.g) < 1e-5, `shifted=${shifted}: gradients differ by ${maxDiff(f.g, c.g)}`);
    w.dispose();
  }
});
