import { record } from '../autograd.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import { mapElementwise } from '../ops/kernel-elementwise.ts';
import type { Tensor } from '../tensor.ts';

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
