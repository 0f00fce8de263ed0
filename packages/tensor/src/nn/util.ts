import { Tensor } from '../tensor.ts';
import { fmtShape, KdgpuError } from '../errors.ts';

export { empty } from '../ops/inplace.ts';

/** Contiguous f32 view of `x` with zero offset semantics handled by passing `offset` to kernels. */
export function dense(op: string, x: Tensor): Tensor {
  x._assertLive(op);
  if (x.dtype !== 'f32') throw new KdgpuError(`${op}: needs an f32 tensor, got ${x.dtype} ${fmtShape(x.shape)}`);
  return x.contiguous();
}

/**
 * `x` itself when its elements are one contiguous run (at any offset: a parameter in an
 * optimizer's flat buffer), else a contiguous copy: for kernels that take the offset as a parameter.
 */
export function denseAt(op: string, x: Tensor): Tensor {
  x._assertLive(op);
  if (x.dtype !== 'f32') throw new KdgpuError(`${op}: needs an f32 tensor, got ${x.dtype} ${fmtShape(x.shape)}`);
  return x.isContiguous ? x : x.contiguous();
}

/** Disposes `t` if it is a temporary copy made from `orig`. */
export function dropCopy(t: Tensor, orig: Tensor): void {
  if (t !== orig) t.dispose();
}

export const WG = 64;
