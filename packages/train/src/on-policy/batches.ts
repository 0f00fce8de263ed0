import { KdgpuError } from '@kdgpu/tensor';
import type { Batch } from '../blocks.ts';

/**
 * Prompts and continuations. A prompt is the first `promptLength` tokens of a training block; its
 * continuation is either the block's own remaining tokens (off-policy) or tokens sampled from the
 * student. Either way the batch the step trains on is prompt + continuation, [B, T], with labels
 * -100 wherever the predicted token is part of the prompt (or padding after an end-of-sequence),
 * so every loss of the zoo, and CE, counts continuation tokens only.
 */

/** The first `promptLength` ids of every row of `batch`: [B, P] row-major. */
export function promptsOf(batch: Batch, promptLength: number): Int32Array {
  const [B, T] = batch.shape;
  if (!Number.isInteger(promptLength) || promptLength < 1 || promptLength >= T) {
    throw new KdgpuError(`on-policy: promptLength must be an integer in 1..${T - 1} (blocks hold ${T} tokens, and a continuation needs at least one), got ${promptLength}`);
  }
  const out = new Int32Array(B * promptLength);
  for (let b = 0; b < B; b++) out.set(batch.ids.subarray(b * T, b * T + promptLength), b * promptLength);
  return out;
}

/**
 * Next-token labels of prompt + continuation rows `ids` [B, T]: label[t] = ids[t + 1] where that
 * token is a continuation token (t + 1 ≥ promptLength) within the row's valid continuation length
 * (`lengths[b]` tokens, default all T − promptLength), else -100.
 */
export function continuationLabels(ids: Int32Array, shape: [number, number], promptLength: number, lengths?: readonly number[]): Int32Array {
  const [B, T] = shape;
  if (ids.length !== B * T) throw new KdgpuError(`on-policy: ${ids.length} ids for shape [${B}, ${T}]`);
  const labels = new Int32Array(B * T).fill(-100);
  for (let b = 0; b < B; b++) {
    const n = lengths ? lengths[b]! : T - promptLength;
    for (let t = promptLength - 1; t < promptLength - 1 + n && t < T - 1; t++) labels[b * T + t] = ids[b * T + t + 1]!;
  }
  return labels;
}

/**
 * A training batch from prompt + continuation ids [B, T] (generated, or the data's own): the ids,
 * masked labels, and the source batch's bookkeeping (blocks, starts, loader state).
 */
export function continuationBatch(ids: Int32Array, shape: [number, number], promptLength: number, source: Batch, lengths?: readonly number[]): Batch {
  return { ids, labels: continuationLabels(ids, shape, promptLength, lengths), shape, blocks: source.blocks, starts: source.starts, next: source.next };
}

/** Splits rows [ΣB_i, T] back into batches shaped like `like` (one per source micro-batch). */
export function splitRows(ids: Int32Array, T: number, like: readonly Batch[]): Array<{ ids: Int32Array; shape: [number, number] }> {
  let row = 0;
  return like.map((b) => {
    const B = b.shape[0];
    const part = ids.slice(row * T, (row + B) * T);
    row += B;
    return { ids: part, shape: [B, T] as [number, number] };
  });
}
