import { fmtShape, KdgpuError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';

/**
 * Embedding lookup: rows of `weight` [V, C] picked by integer `ids` (any shape, i32), giving
 * [...ids.shape, C]. The backward is a deterministic scatter-add into [V, C] (one invocation per
 * column adds the rows in index order; no float atomics). Out-of-range ids give NaN rows.
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.rank !== 2) throw new KdgpuError(`embedding: weight must be [V, C], got ${fmtShape(weight.shape)}`);
  if (ids.dtype !== 'i32') throw new KdgpuError(`embedding: ids must be i32, got ${ids.dtype} (use .cast('i32'))`);
  const rows = weight.indexSelect(0, ids.reshape([-1]));
  return rows.reshape([...ids.shape, weight.shape[1]]);
}
