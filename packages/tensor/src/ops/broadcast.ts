import type { DType } from '../storage.ts';
import type { Tensor } from '../tensor.ts';
import { mapElementwise } from './kernel-elementwise.ts';

/**
 * Broadcasting and its reverse, below the primitives that need them: a value broadcast to a shape
 * (`full`), and a gradient summed back to an operand's shape (`sumTo`, every broadcasting op's
 * backward).
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
