import { isGradEnabled } from '../autograd.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import { where } from '../ops/elementwise.ts';
import type { Tensor } from '../tensor.ts';

/**
 * Embedding lookup: rows of `weight` [V, C] picked by integer `ids` (any shape, i32), giving
 * [...ids.shape, C]. The backward is a deterministic scatter-add into [V, C] (one invocation per
 * column adds the rows in index order; no float atomics). Out-of-range ids give NaN rows.
 *
 * With `paddingIdx` it behaves as torch.nn.Embedding(padding_idx=...): that row is read normally
 * but receives no gradient (transformers' LLaMA builds its embedding this way from pad_token_id).
 */
export function embedding(weight: Tensor, ids: Tensor, paddingIdx: number | null = null): Tensor {
  if (weight.rank !== 2) throw new KdgpuError(`embedding: weight must be [V, C], got ${fmtShape(weight.shape)}`);
  if (ids.dtype !== 'i32') throw new KdgpuError(`embedding: ids must be i32, got ${ids.dtype} (use .cast('i32'))`);
  const flat = ids.reshape([-1]);
  const rows = weight.indexSelect(0, flat); // [N, C]
  // The padding positions read a detached copy of their row, so no gradient reaches it.
  const out = paddingIdx === null || !weight.requiresGrad || !isGradEnabled() ? rows : where(flat.reshape([-1, 1]).eq(paddingIdx), rows.detach(), rows);
  return out.reshape([...ids.shape, weight.shape[1]]); // [...ids.shape, C]
}
