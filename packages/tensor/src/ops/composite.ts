import { normAxes, normAxis, numel } from '../shape.ts';
import { softmaxLast } from './softmax.ts';
import type { DType } from '../storage.ts';
import type { Tensor } from '../tensor.ts';
import { where } from './elementwise.ts';
import { mapElementwise } from './kernel-elementwise.ts';

/**
 * Ops composed from primitives; their gradients come from the primitives' rules. Fused kernels
 * for the hot ones (softmax, log-softmax, norms, attention) replace them later and must match
 * these in a test.
 */

/** A tensor of `shape` filled with `value`. */
export function full(shape: readonly number[], value: number, dtype: DType = 'f32'): Tensor {
  return mapElementwise('fill', [value], shape, dtype, dtype, 'v0');
}

/** A tensor shaped like `t` filled with `value`. */
export function fullLike(t: Tensor, value: number): Tensor {
  return full(t.shape, value, t.dtype);
}

/** Sums `g` down to `shape` (the reverse of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const s = g.sum(axes, true);
  return s.reshape(shape);
}

/** Mean over `axis` (all when omitted). */
export function mean(x: Tensor, axis: number | number[] | undefined, keepdim: boolean): Tensor {
  const axes = normAxes('mean', axis, x.rank);
  const n = numel(axes.map((a) => x.shape[a]));
  return x.sum(axes, keepdim).div(n);
}

/** log(sum(exp(x))) over `axis`, stable for large magnitudes and -inf entries. */
export function logsumexp(x: Tensor, axis: number | number[] | undefined, keepdim: boolean): Tensor {
  const axes = normAxes('logsumexp', axis, x.rank);
  // The shift is a constant for differentiation; a row of -inf (or +inf) gets shift 0 so that
  // the result is -inf (or inf), not NaN.
  const m0 = x.detach().max(axes, true);
  const m = where(m0.abs().lt(Infinity), m0, 0);
  const s = x.sub(m).exp().sum(axes, true).log().add(m);
  return keepdim ? s : s.reshape(s.shape.filter((_, i) => !axes.includes(i)));
}

/** softmax along `axis` (one fused kernel on the last axis; composed otherwise). */
export function softmax(x: Tensor, axis: number): Tensor {
  if (normAxis('softmax', axis, x.rank) === x.rank - 1 && x.dtype === 'f32') return softmaxLast(x, false);
  return x.sub(logsumexp(x, axis, true)).exp();
}

/** log(softmax(x)) along `axis` (one fused kernel on the last axis; else x - logsumexp(x)). */
export function logSoftmax(x: Tensor, axis: number): Tensor {
  if (normAxis('logSoftmax', axis, x.rank) === x.rank - 1 && x.dtype === 'f32') return softmaxLast(x, true);
  return x.sub(logsumexp(x, axis, true));
}
