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

// One thread per rotated pair; rows of T positions from `offset`; forward = 1, inverse = 0.
const KERNEL = defineKernel({
  key: 'rope',
  inputs: { X: 'f32', CS: 'f32', SN: 'f32' },
  outputs: { O: 'f32' },
  params: { pairs: 'u32', T: 'u32', half: 'u32', offset: 'u32', forward: 'u32' },
  body: () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = ${LINEAR_ID(WG)};
  if (k >= params.pairs) { return; }
  let half = params.half;
  let i = k % half;
  let row = k / half;
  let t = row % params.T;
  let ti = (t + params.offset) * half + i;
  let c = CS[ti];
  let s = select(-SN[ti], SN[ti], params.forward == 1u);
  let a = X[row * 2u * half + i];
  let b = X[row * 2u * half + half + i];
  O[row * 2u * half + i] = a * c - b * s;
  O[row * 2u * half + half + i] = b * c + a * s;
}`,
});

function rotate(x: Tensor, cos: Tensor, sin: Tensor, offset: number, forward: boolean): Tensor {
  const T = x.shape[x.rank - 2];
  const D = x.shape[x.rank - 1];
  const xd = dense('applyRotary', x);
  const y = empty(x.shape);
  const pairs = x.size / 2;
  const bufs = { X: xd.storage.buf, CS: cos.storage.buf, SN: sin.storage.buf, O: y.storage.buf };
  dispatch(KERNEL, bufs, { pairs, T, half: D / 2, offset, forward: forward ? 1 : 0 }, grid(pairs, WG));
  dropCopy(xd, x);
  return y;
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
  const y = rotate(x, cos, sin, offset, true);
  return record(y, 'applyRotary', [x], [cos, sin], (g, [c, s]) => [rotate(g, c, s, offset, false)]);
}
