import { normAxes, normAxis, numel } from '../shape.ts';
import { softmaxLast } from './softmax.ts';
import type { Tensor } from '../tensor.ts';
import { where } from './elementwise.ts';

/**
 * Ops composed from primitives; their gradients come from the primitives' rules. Fused kernels
 * for the hot ones (softmax, log-softmax, norms, attention) replace them later and must match
 * these in a test.
 */

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
