import { isGradEnabled, type Tensor, where } from '@kdgpu/tensor';

/**
 * Embedding lookup: rows of `w` [V, C] picked by i32 `ids` [B, T] -> [B, T, C].
 *
 * With `paddingIdx` it behaves as torch.nn.Embedding(padding_idx=...): the row is read normally
 * but receives no gradient (transformers' LLaMA builds its embedding this way from pad_token_id).
 */
export function embedding(w: Tensor, ids: Tensor, paddingIdx: number | null = null): Tensor {
  const [B, T] = ids.shape;
  const rows = w.indexSelect(0, ids.reshape([-1])); // [B*T, C]
  const out = paddingIdx === null || !w.requiresGrad || !isGradEnabled() ? rows : where(ids.reshape([-1, 1]).eq(paddingIdx), rows.detach(), rows);
  return out.reshape([B, T, w.shape[1]]);
}

