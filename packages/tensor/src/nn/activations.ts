import { record } from '../autograd.ts';
import { dispatch, grid, LINEAR_ID } from '../engine.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { mapElementwise } from '../ops/kernel-elementwise.ts';
import type { Tensor } from '../tensor.ts';
import { denseAt, empty, WG } from './util.ts';

/**
 * Fused activations: one kernel forward and one backward each, instead of the 5-10 elementwise
 * dispatches (and saved intermediates) of the composed forms in `composed.ts`.
 */

// GPT-2's tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
const GELU = `fn gelu_t(x: f32) -> f32 { return tanh(clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0)); }`;
const SIG = `fn sig(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }`;

/** GELU with the tanh approximation (GPT-2's `gelu_new`), fused. */
export function geluTanh(x: Tensor): Tensor {
  x._assertLive('geluTanh');
  const y = mapElementwise('gelu', [x], x.shape, 'f32', 'f32', '0.5 * v0 * (1.0 + gelu_t(v0))', GELU);
  return record(y, 'geluTanh', [x], [x], (g, [xs]) => [
    mapElementwise(
      'gelu_bw',
      [xs, g],
      xs.shape,
      'f32',
      'f32',
      // d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
      'v1 * (0.5 * (1.0 + gelu_t(v0)) + 0.5 * v0 * (1.0 - gelu_t(v0) * gelu_t(v0)) * 0.7978845608028654 * (1.0 + 0.134145 * v0 * v0))',
      GELU,
    ),
  ]);
}

/** SiLU (swish): x * sigmoid(x), fused. */
export function silu(x: Tensor): Tensor {
  x._assertLive('silu');
  const y = mapElementwise('silu', [x], x.shape, 'f32', 'f32', 'v0 * sig(v0)', SIG);
  return record(y, 'silu', [x], [x], (g, [xs]) => [
    mapElementwise('silu_bw', [xs, g], xs.shape, 'f32', 'f32', 'v1 * sig(v0) * (1.0 + v0 * (1.0 - sig(v0)))', SIG),
  ]);
}

/** SwiGLU gate: silu(a) * b (LLaMA's MLP), fused; a and b have the same shape. */
export function swiglu(a: Tensor, b: Tensor): Tensor {
  a._assertLive('swiglu');
  b._assertLive('swiglu');
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new KdgpuError(`swiglu: gate ${fmtShape(a.shape)} and up ${fmtShape(b.shape)} must have the same shape`);
  }
  const y = mapElementwise('swiglu', [a, b], a.shape, 'f32', 'f32', 'v0 * sig(v0) * v1', SIG);
  return record(y, 'swiglu', [a, b], [a, b], (g, [as, bs]) => [
    mapElementwise('swiglu_bw_a', [as, bs, g], as.shape, 'f32', 'f32', 'v2 * v1 * sig(v0) * (1.0 + v0 * (1.0 - sig(v0)))', SIG),
    mapElementwise('swiglu_bw_b', [as, g], as.shape, 'f32', 'f32', 'v1 * v0 * sig(v0)', SIG),
  ]);
}

// SwiGLU of a packed projection [rows, 2I] (gate columns, then up columns): one thread per output
// element (r, j) reads gate X[r, j] and up X[r, I + j]; the backward writes both halves of dX.
const SWIGLU_PACKED = defineKernel({
  key: 'swiglu_packed',
  inputs: { X: 'f32' },
  outputs: { Y: 'f32' },
  params: { n: 'u32', I: 'u32', xOff: 'u32' },
  body: () => `${SIG}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = ${LINEAR_ID(WG)};
  if (k >= params.n) { return; }
  let r = k / params.I;
  let x = params.xOff + k + r * params.I;
  let a = X[x];
  Y[k] = a * sig(a) * X[x + params.I];
}`,
});
const SWIGLU_PACKED_BW = defineKernel({
  key: 'swiglu_packed_bw',
  inputs: { X: 'f32', G: 'f32' },
  outputs: { DX: 'f32' },
  params: { n: 'u32', I: 'u32', xOff: 'u32', gOff: 'u32' },
  body: () => `${SIG}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = ${LINEAR_ID(WG)};
  if (k >= params.n) { return; }
  let r = k / params.I;
  let d = k + r * params.I;
  let x = params.xOff + d;
  let a = X[x];
  let b = X[x + params.I];
  let g = G[params.gOff + k];
  let s = sig(a);
  DX[d] = g * b * s * (1.0 + a * (1.0 - s));
  DX[d + params.I] = g * a * s;
}`,
});

/**
 * SwiGLU of a packed gate-and-up projection: x [..., 2I] (gate in the first I columns, up in the
 * last I, as one matmul against the stacked weights gives) -> silu(gate) * up [..., I]. One kernel
 * forward and one backward, whose gradient is the packed [..., 2I] one, so the projection stays
 * one matmul in both directions.
 */
export function swigluPacked(x: Tensor): Tensor {
  x._assertLive('swigluPacked');
  const W2 = x.shape[x.rank - 1];
  if (x.rank < 1 || W2 % 2 !== 0 || x.dtype !== 'f32') throw new KdgpuError(`swigluPacked: needs f32 [..., 2I], got ${fmtShape(x.shape)} ${x.dtype}`);
  const I = W2 / 2;
  const shape = [...x.shape.slice(0, -1), I];
  const xd = denseAt('swigluPacked', x);
  const y = empty(shape);
  const n = y.size;
  dispatch(SWIGLU_PACKED, { X: xd.storage.buf, Y: y.storage.buf }, { n, I, xOff: xd.offset }, grid(n, WG));
  const out = record(y, 'swigluPacked', [x], [xd], (g, [xs]) => {
    const gd = denseAt('swigluPacked', g);
    const dx = empty(xs.shape);
    dispatch(SWIGLU_PACKED_BW, { X: xs.storage.buf, G: gd.storage.buf, DX: dx.storage.buf }, { n, I, xOff: xs.offset, gOff: gd.offset }, grid(n, WG));
    return [dx];
  });
  if (xd !== x) xd.dispose();
  return out;
}
