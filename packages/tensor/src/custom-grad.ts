import { type BackwardFn, record } from './autograd.ts';
import { fmtShape, KdgpuError } from './errors.ts';
import { sameShape } from './shape.ts';
import type { Tensor } from './tensor.ts';

/**
 * A tensor with `value`'s contents whose gradient is defined by `backward` instead of by the ops
 * that computed `value` (torch.autograd.Function): backward(grad, saved) gets the gradient with
 * respect to the result and the tensors in `saved`, and returns one gradient per input (shaped like
 * that input), or null for an input it gives none.
 *
 * - The result shares `value`'s storage (no copy); `value`'s own graph, if any, is not followed.
 * - The autograd node owns handles to `saved` (the caller may dispose its own at once) and releases
 *   them right after `backward` has run, or when the graph is dropped without a backward pass, so
 *   saved tensors never outlive the step. `backward` may modify them in place (it runs once) and may
 *   return one of them as a gradient: it is then handed on through a handle of its own.
 * - `backward` runs with gradient recording off, inside a scope that frees what it does not return.
 * - Under `noGrad()`, or when no input requires grad, nothing is recorded or saved.
 *
 * `name` appears in errors (a second backward through the same graph, a wrong gradient shape).
 */
export function customGrad(value: Tensor, inputs: readonly Tensor[], saved: readonly Tensor[], backward: BackwardFn, name = 'customGrad'): Tensor {
  value._assertLive(`${name}: use the value`);
  for (const t of inputs) t._assertLive(`${name}: take as input`);
  for (const t of saved) t._assertLive(`${name}: save`);
  const shapes = inputs.map((t) => t.shape);
  const out = value.detach();
  return record(out, name, inputs, [...saved], (grad, kept) => {
    const grads = backward(grad, kept);
    if (!Array.isArray(grads) || grads.length !== shapes.length) {
      throw new KdgpuError(`${name}: backward must return an array of ${shapes.length} gradient(s) (one per input, or null), got ${Array.isArray(grads) ? `${grads.length}` : typeof grads}`);
    }
    return grads.map((g, i) => {
      if (g === null || g === undefined) return null;
      if (!sameShape(g.shape, shapes[i])) {
        throw new KdgpuError(`${name}: backward returned a gradient of shape ${fmtShape(g.shape)} for input ${i}, whose shape is ${fmtShape(shapes[i])}`);
      }
      // The node disposes its saved handles as soon as this returns: a saved tensor handed back as
      // a gradient travels on through a new handle on the same storage.
      return kept.includes(g) ? g.detach() : g;
    });
  });
}
