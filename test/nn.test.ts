/**
 * Fused kernels (`nn`) against PyTorch float64 fixtures (test/fixtures/make_nn_golden.py) and
 * against their composed versions, forward and gradients. Tolerance: 1e-4 relative + 2e-5
 * absolute (f32 with O(1) values and short reductions).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { init, nn, randn, type Tensor, tensor, tidy } from '@kdgpu/tensor';

interface Arr { shape: number[]; data: number[] }
interface Case { name: string; inputs: Record<string, Arr>; w: Arr; out: Arr; grads: Record<string, number[]>; labels?: number[]; offset?: number; maxPos?: number; theta?: number }
const golden = JSON.parse(await readFile(new URL('./fixtures/nn-golden.json', import.meta.url), 'utf8')) as {
  cases: Case[];
  adamw: { init: Arr[]; final: number[][]; norms: number[]; lr: number; betas: [number, number]; eps: number; weight_decay: number; max_norm: number };
};

function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string, atol = 2e-5, rtol = 1e-4) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= atol + rtol * Math.abs(want[i]), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

type Impl = (v: Record<string, Tensor>, c: Case) => Tensor;
const tables = (c: Case) => nn.rotaryTables(c.inputs.x.shape.at(-1)!, c.maxPos!, c.theta!);
const impls: Record<string, { fused: Impl; composed: Impl }> = {
  geluTanh: { fused: ({ x }) => nn.geluTanh(x), composed: ({ x }) => nn.geluTanhComposed(x) },
  silu: { fused: ({ x }) => nn.silu(x), composed: ({ x }) => nn.siluComposed(x) },
  swiglu: { fused: ({ a, b }) => nn.swiglu(a, b), composed: ({ a, b }) => nn.swigluComposed(a, b) },
  layerNorm: { fused: ({ x, w, b }) => nn.layerNorm(x, w, b, 1e-5), composed: ({ x, w, b }) => nn.layerNormComposed(x, w, b, 1e-5) },
  rmsNorm: { fused: ({ x, w }) => nn.rmsNorm(x, w, 1e-6), composed: ({ x, w }) => nn.rmsNormComposed(x, w, 1e-6) },
  applyRotary: {
    fused: ({ x }, c) => { const { cos, sin } = tables(c); return nn.applyRotary(x, cos, sin, c.offset); },
    composed: ({ x }, c) => { const { cos, sin } = tables(c); return nn.rotaryComposed(x, cos, sin, c.offset!); },
  },
  causalAttention: { fused: ({ q, k, v }) => nn.causalAttention(q, k, v), composed: ({ q, k, v }) => nn.attentionComposed(q, k, v, 1 / Math.sqrt(q.shape[3])) },
  causalAttentionCache: { fused: ({ q, k, v }) => nn.causalAttention(q, k, v), composed: ({ q, k, v }) => nn.attentionComposed(q, k, v, 1 / Math.sqrt(q.shape[3])) },
  crossEntropy: {
    fused: ({ logits }, c) => nn.crossEntropy(logits, tensor(Int32Array.from(c.labels!))),
    composed: ({ logits }, c) => nn.crossEntropyComposed(logits, tensor(Int32Array.from(c.labels!))),
  },
};

for (const c of golden.cases) {
  for (const kind of ['fused', 'composed'] as const) {
    test(`${c.name} (${kind}) matches PyTorch, value and gradients`, async () => {
      await init();
      const vars: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(c.inputs)) vars[k] = tensor(v.data, { shape: v.shape, requiresGrad: true });
      const w = tensor(c.w.data, { shape: c.w.shape });
      const out = tidy(() => impls[c.name][kind](vars, c));
      assert.deepEqual([...out.shape], c.out.shape);
      close(await out.data(), c.out.data, `${c.name} ${kind} forward`);
      tidy(() => out.mul(w).sum()).backward();
      for (const [k, g] of Object.entries(c.grads)) close(await vars[k].grad!.data(), g, `${c.name} ${kind} d/d${k}`);
      for (const t of [...Object.values(vars), w, out]) t.dispose();
    });
  }
}

test('every fixture case has a fused and a composed implementation', () => {
  assert.deepEqual(golden.cases.map((c) => c.name).filter((n) => !impls[n]), []);
});

async function fusedEqualsComposed(name: string, shapes: number[][], fused: (...t: Tensor[]) => Tensor, composed: (...t: Tensor[]) => Tensor, tol = 1e-4) {
  await init();
  const run = async (f: (...t: Tensor[]) => Tensor) => {
    const xs = shapes.map((s, i) => { const t = randn(s, { seed: 100 + i }); t.requiresGrad = true; return t; });
    const out = tidy(() => f(...xs));
    const w = randn(out.shape, { seed: 99 });
    tidy(() => out.mul(w).sum()).backward();
    const res = { out: await out.data(), grads: await Promise.all(xs.map((x) => x.grad!.data())) };
    for (const t of [...xs, out, w]) t.dispose();
    return res;
  };
  const a = await run(fused);
  const b = await run(composed);
  close(a.out, b.out, `${name} forward`, tol, tol);
  a.grads.forEach((g, i) => close(g, b.grads[i], `${name} grad ${i}`, tol, tol));
}

// Both backward paths (the dQ/dK/dV kernels, and row blocks through the matmul kernels) are
// checked whatever the adapter would pick.
// 'blocks' with a small score budget, so the backward runs in several row blocks.
for (const [mode, maxScores] of [['kernels', undefined], ['blocks', undefined], ['blocks', 3000]] as const) {
  test(`causal attention (${mode} backward${maxScores ? `, ${maxScores} scores per block` : ''}) equals the composed path at T = 256 with grouped-query heads`, async () => {
    nn.setAttentionBackward(mode, maxScores);
    try {
      await fusedEqualsComposed('attention T=256', [[1, 4, 256, 16], [1, 2, 256, 16], [1, 2, 256, 16]],
        (q, k, v) => nn.causalAttention(q, k, v), (q, k, v) => nn.attentionComposed(q, k, v, 0.25), 2e-4);
    } finally {
      nn.setAttentionBackward('auto');
    }
  });

  test(`causal attention (${mode} backward${maxScores ? `, ${maxScores} scores per block` : ''}): ragged shapes with a KV-cache offset, and the per-row kernels for odd head dims`, async () => {
    nn.setAttentionBackward(mode, maxScores);
    try {
      // T and S not multiples of a workgroup's 32 rows, S > T (decoding with a cache), 3 query heads per KV head.
      await fusedEqualsComposed('attention blocked T=37 S=50', [[2, 6, 37, 8], [2, 2, 50, 8], [2, 2, 50, 8]],
        (q, k, v) => nn.causalAttention(q, k, v), (q, k, v) => nn.attentionComposed(q, k, v, 1 / Math.sqrt(8)), 2e-4);
      // D = 6 is not a multiple of 4: the per-row kernels.
      await fusedEqualsComposed('attention per-row D=6', [[1, 2, 19, 6], [1, 1, 23, 6], [1, 1, 23, 6]],
        (q, k, v) => nn.causalAttention(q, k, v), (q, k, v) => nn.attentionComposed(q, k, v, 1 / Math.sqrt(6)), 2e-4);
    } finally {
      nn.setAttentionBackward('auto');
    }
  });
}

test('causal attention with dropout: the composed path, the same mask for the same seed, none at p = 0', async () => {
  await init();
  const [q, k, v] = [[1, 4, 9, 8], [1, 2, 9, 8], [1, 2, 9, 8]].map((s, i) => randn(s, { seed: 40 + i }));
  const run = (dropout?: { p: number; seed: number }) => tidy(() => nn.causalAttention(q, k, v, { scale: 0.3, dropout }));
  const [a, b, c, plain, p0] = [run({ p: 0.5, seed: 7 }), run({ p: 0.5, seed: 7 }), run({ p: 0.5, seed: 8 }), run(), run({ p: 0, seed: 7 })];
  assert.deepEqual(await a.data(), await b.data());
  assert.notDeepEqual(await a.data(), await c.data());
  assert.notDeepEqual(await a.data(), await plain.data());
  // p = 0 takes the fused kernels, the same result as no dropout.
  close(await p0.data(), await plain.data(), 'p = 0');
  // The composed reference with the same dropout gives the same numbers.
  const ref = tidy(() => nn.attentionComposed(q, k, v, 0.3, { p: 0.5, seed: 7 }));
  assert.deepEqual(await a.data(), await ref.data());
  for (const t of [q, k, v, a, b, c, plain, p0, ref]) t.dispose();
});

test('embedding: the rows of the weight for ids of any shape; with paddingIdx that row gets no gradient', async () => {
  await init();
  const V = 5;
  const C = 3;
  const w = tensor(Float32Array.from({ length: V * C }, (_, i) => i / 10), { shape: [V, C], requiresGrad: true });
  const idsData = [1, 0, 4, 0, 1, 3];
  const ids = tensor(Int32Array.from(idsData), { shape: [2, 3] });
  const y = nn.embedding(w, ids, 0);
  assert.deepEqual([...y.shape], [2, 3, C]);
  close(await y.data(), idsData.flatMap((r) => [0, 1, 2].map((c) => (r * C + c) / 10)), 'rows');
  // d(sum(y * g))/dw: each row sums g over the positions that read it; row 0 (padding) gets nothing.
  const g = Float32Array.from({ length: 6 * C }, (_, i) => i + 1);
  tidy(() => y.mul(tensor(g, { shape: [2, 3, C] })).sum()).backward();
  const want = new Float32Array(V * C);
  idsData.forEach((r, p) => { if (r !== 0) for (let c = 0; c < C; c++) want[r * C + c] += g[p * C + c]; });
  close(await w.grad!.data(), want, 'dw');
  assert.throws(() => nn.embedding(w, tensor([1.5])), /ids must be i32/);
  for (const t of [w, ids, y]) t.dispose();
});

test('norms and activations equal their composed versions on a larger shape', async () => {
  await fusedEqualsComposed('layerNorm', [[64, 96], [96], [96]], (x, w, b) => nn.layerNorm(x, w, b), (x, w, b) => nn.layerNormComposed(x, w, b, 1e-5), 2e-4);
  await fusedEqualsComposed('rmsNorm', [[64, 96], [96]], (x, w) => nn.rmsNorm(x, w), (x, w) => nn.rmsNormComposed(x, w, 1e-6), 2e-4);
  await fusedEqualsComposed('swiglu', [[32, 40], [32, 40]], (a, b) => nn.swiglu(a, b), (a, b) => nn.swigluComposed(a, b));
});

test('cross-entropy: no valid label gives 0 (not NaN) and zero gradients', async () => {
  await init();
  const logits = randn([3, 5], { seed: 1 });
  logits.requiresGrad = true;
  const loss = nn.crossEntropy(logits, tensor(Int32Array.from([-100, -100, -100])));
  assert.equal(await loss.item(), 0);
  loss.backward();
  assert.ok((await logits.grad!.data()).every((g) => g === 0));
  logits.dispose();
  loss.dispose();
});

test('dropout: same seed same mask, keeps about 1-p, scales by 1/(1-p), backward uses the mask', async () => {
  await init();
  const x = tensor(new Float32Array(4000).fill(1), { requiresGrad: true });
  const a = await nn.dropout(x, 0.25, 1234).data();
  const b = await nn.dropout(x, 0.25, 1234).data();
  const c = await nn.dropout(x, 0.25, 999).data();
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const kept = Array.from(a).filter((v) => v !== 0);
  assert.ok(Math.abs(kept.length / 4000 - 0.75) < 0.03, `kept ${kept.length}`);
  assert.ok(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6));
  const y = nn.dropout(x, 0.25, 1234);
  y.sum().backward();
  assert.deepEqual(await x.grad!.data(), a);
  x.dispose();
});

test('AdamW with global-norm clipping matches torch.optim.AdamW + clip_grad_norm_', async () => {
  await init();
  const g = golden.adamw;
  const ps = g.init.map((a) => tensor(a.data, { shape: a.shape, requiresGrad: true }));
  const opt = new nn.AdamW(ps, { lr: g.lr, beta1: g.betas[0], beta2: g.betas[1], eps: g.eps, weightDecay: g.weight_decay });
  for (let step = 0; step < 3; step++) {
    opt.zeroGrad();
    const loss = tidy(() => ps[0].mul(3).pow(2).sum().add(ps[1].sub(1).pow(2).sum()).mul(step + 1));
    loss.backward();
    const { norm, scale, finite } = nn.clipGradNorm(ps, g.max_norm);
    assert.equal(await finite.item(), 1);
    opt.update({ gradScale: scale });
    close([await norm.item()], [g.norms[step]], `grad norm step ${step}`);
    for (const t of [loss, norm, scale, finite]) t.dispose();
  }
  for (let i = 0; i < ps.length; i++) close(await ps[i].data(), g.final[i], `param ${i}`, 1e-5, 1e-4);
  opt.dispose();
  for (const p of ps) p.dispose();
});

test('AdamW skips the whole update when gradients are not finite', async () => {
  await init();
  const p = tensor([1, 2, 3], { requiresGrad: true });
  const opt = new nn.AdamW([p], { lr: 0.1 });
  p.mul(tensor([1, NaN, 1])).sum().backward();
  const { scale, finite, norm } = nn.clipGradNorm([p], 1);
  assert.equal(await finite.item(), 0);
  opt.update({ gradScale: scale });
  assert.deepEqual(await p.toArray(), [1, 2, 3]);
  assert.deepEqual(await opt.m[0].toArray(), [0, 0, 0]);
  for (const t of [scale, finite, norm, p]) t.dispose();
  opt.dispose();
});
