import { record } from '../autograd.ts';
import { tensor } from '../creation.ts';
import { dispatch, grid, LINEAR_ID } from '../engine.ts';
import { defineKernel } from '../kernel.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { dense, dropCopy, empty, WG } from './util.ts';

/**
 * Rotary position embedding, rotate-half convention (Hugging Face LlamaModel): for i < D/2,
 * out[i] = x[i] cos - x[i + D/2] sin and out[i + D/2] = x[i + D/2] cos + x[i] sin, with angle
 * pos * theta^(-2i/D). The backward is the rotation by the opposite angle (same kernel, sin negated).
 */

/**
 * cos/sin tables [maxPositions, D/2] computed in float64 on the CPU (then stored as f32), so that
 * large positions keep their accuracy, matching HF's float32 inv_freq * position product.
 */
export function rotaryTables(headDim: number, maxPositions: number, theta = 10000): { cos: Tensor; sin: Tensor } {
  if (headDim % 2 !== 0) throw new KdgpuError(`rotaryTables: head dimension ${headDim} must be even`);
  const half = headDim / 2;
  const cos = new Float32Array(maxPositions * half);
  const sin = new Float32Array(maxPositions * half);
  for (let i = 0; i < half; i++) {
    // HF: inv_freq = 1.0 / (base ** (arange(0, D, 2).float() / D)), each step in float32;
    // then positions * inv_freq in float32.
    const invFreq = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / headDim)));
    for (let p = 0; p < maxPositions; p++) {
      const a = Math.fround(p * invFreq);
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { cos: tensor(cos, { shape: [maxPositions, half] }), sin: tensor(sin, { shape: [maxPositions, half] }) };
}

// One thread per rotated pair; x viewed as [A, H, T, D] (leading dims of a lower rank are 1) and
// read through its strides (D's stride is 1), so a permuted projection ([B, T, H, D] memory seen as
// [B, H, T, D]) needs no copy; the result is written through its own strides (contiguous forward;
// in the backward, the layout of the forward's input, so the gradient flows back through the
// permute and reshape as views). Positions from `offset`; forward = 1, inverse = 0.
const KERNEL = defineKernel({
  key: 'rope',
  inputs: { X: 'f32', CS: 'f32', SN: 'f32' },
  outputs: { O: 'f32' },
  params: { pairs: 'u32', H: 'u32', T: 'u32', half: 'u32', offset: 'u32', forward: 'u32', xOff: 'u32', xs: ['u32', 3], os: ['u32', 3] },
  body: () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = ${LINEAR_ID(WG)};
  if (k >= params.pairs) { return; }
  let half = params.half;
  let i = k % half;
  let row = k / half;
  let t = row % params.T;
  let ah = row / params.T;
  let h = ah % params.H;
  let a = ah / params.H;
  let ti = (t + params.offset) * half + i;
  let c = CS[ti];
  let s = select(-SN[ti], SN[ti], params.forward == 1u);
  let xb = params.xOff + a * params.xs[0] + h * params.xs[1] + t * params.xs[2] + i;
  let ob = a * params.os[0] + h * params.os[1] + t * params.os[2] + i;
  let x1 = X[xb];
  let x2 = X[xb + half];
  O[ob] = x1 * c - x2 * s;
  O[ob + half] = x2 * c + x1 * s;
}`,
});

/** [A, H, T] strides of x's leading dimensions (rank <= 4; missing ones are 0, as their size is 1). */
function lead3(x: { rank: number; strides: readonly number[] }): number[] {
  const st = x.strides.slice(0, -1);
  while (st.length < 3) st.unshift(0);
  return st.slice(-3);
}

/**
 * Strides for a fresh buffer holding a tensor in the memory order of `like` (a permutation of a
 * contiguous tensor: no gaps, no overlaps, offset 0), or null when `like` is not such a view.
 */
function denseOrder(like: Tensor): number[] | null {
  if (like.offset !== 0) return null;
  const order = like.shape.map((_, i) => i).sort((p, q) => like.strides[q] - like.strides[p]);
  let acc = 1;
  for (let j = order.length - 1; j >= 0; j--) {
    const d = order[j];
    if (like.shape[d] !== 1 && like.strides[d] !== acc) return null;
    acc *= like.shape[d];
  }
  return [...like.strides];
}

function rotate(x: Tensor, cos: Tensor, sin: Tensor, offset: number, forward: boolean, outLike: Tensor | null): Tensor {
  const T = x.shape[x.rank - 2];
  const D = x.shape[x.rank - 1];
  const flat = x.rank > 4; // leading dimensions folded into H (contiguous copies)
  const xd = !flat && x.strides[x.rank - 1] === 1 ? x : dense('applyRotary', x);
  const order = outLike && !flat ? denseOrder(outLike) : null;
  const y = empty(x.shape);
  const out = order ? y._view(x.shape, order, 0) : y;
  if (order) y.dispose();
  const lead = flat ? [1, x.size / (T * D)] : x.shape.slice(0, -2);
  while (lead.length < 2) lead.unshift(1);
  const pairs = x.size / 2;
  const bufs = { X: xd.storage.buf, CS: cos.storage.buf, SN: sin.storage.buf, O: out.storage.buf };
  const strides = (t: Tensor) => (flat ? [0, T * D, D] : lead3(t));
  dispatch(KERNEL, bufs, { pairs, H: lead[1], T, half: D / 2, offset, forward: forward ? 1 : 0, xOff: xd.offset, xs: strides(xd), os: strides(out) }, grid(pairs, WG));
  dropCopy(xd, x);
  return out;
}

/**
 * Applies rotary embeddings to x [..., T, D] at positions offset..offset+T-1 using tables from
 * `rotaryTables` (contiguous [maxPositions, D/2]).
 */
export function applyRotary(x: Tensor, cos: Tensor, sin: Tensor, offset = 0): Tensor {
  x._assertLive('applyRotary');
  if (x.rank < 2) throw new KdgpuError(`applyRotary: x must be [..., T, D], got ${fmtShape(x.shape)}`);
  const T = x.shape[x.rank - 2];
  const D = x.shape[x.rank - 1];
  if (cos.rank !== 2 || cos.shape[1] !== D / 2 || !cos.isContiguous || cos.offset !== 0 || sin.shape.some((d, i) => d !== cos.shape[i])) {
    throw new KdgpuError(`applyRotary: tables must be contiguous [maxPositions, ${D / 2}] for head dimension ${D}, got ${fmtShape(cos.shape)} and ${fmtShape(sin.shape)}`);
  }
  if (offset + T > cos.shape[0]) {
    throw new KdgpuError(`applyRotary: positions up to ${offset + T - 1} exceed the table's ${cos.shape[0]} positions (max_position_embeddings)`);
  }
  const y = rotate(x, cos, sin, offset, true, null);
  // The gradient in x's memory order (see the kernel): only the layout is kept, not x itself.
  const layout = { shape: x.shape, strides: x.strides, offset: x.offset, rank: x.rank } as Tensor;
  return record(y, 'applyRotary', [x], [cos, sin], (g, [c, s]) => [rotate(g, c, s, offset, false, layout)]);
}
