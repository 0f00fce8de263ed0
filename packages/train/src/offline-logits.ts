import { deflateSync, inflateSync } from 'fflate';
import { full, scatterAdd, type Tensor, tensor, tidy, where } from '@kdgpu/tensor';
import { crc32 } from './checksum.ts';

/**
 * Offline teacher logits (pre-training distillation): the teachers' truncated (top-p, then top-k)
 * logits for every training block, computed once and stored compressed, so distillation streams
 * them instead of running the teachers.
 *
 * File layout: `KDGPUTL1`, then one deflate-compressed record per block, then a JSON footer (the
 * settings, and each record's offset, length and CRC-32), its length as u32 LE, and `KDGPUTL1`
 * again. A record holds, for each of the block's T positions, the number of kept tokens (u16),
 * then all kept token ids (i32) and their logits (f32). Dropped tokens are -inf, so the
 * reconstructed distribution is the truncated, renormalised teacher.
 */

export const MAGIC: Uint8Array = new TextEncoder().encode('KDGPUTL1');

export interface OfflineFooter {
  version: 1;
  vocabSize: number;
  blockSize: number;
  topK: number;
  topP: number;
  /** Identifies the token stream the logits were computed on. */
  tokensKey: string;
  /** [byteOffset, byteLength, crc32] of each block's record. */
  records: Array<[number, number, number]>;
}

/** Compresses one block's kept logits: `rows` is [T, V] with -inf for dropped tokens. */
export function encodeBlock(rows: Float32Array, T: number, V: number): Uint8Array {
  const counts = new Uint16Array(T);
  const ids: number[] = [];
  const vals: number[] = [];
  for (let t = 0; t < T; t++) {
    let c = 0;
    for (let v = 0; v < V; v++) {
      const z = rows[t * V + v];
      if (z !== -Infinity) {
        ids.push(v);
        vals.push(z);
        c++;
      }
    }
    if (c > 65535) throw new Error(`offline logits: ${c} kept tokens at one position exceed 65535; set topK`);
    counts[t] = c;
  }
  const n = ids.length;
  const raw = new Uint8Array(T * 2 + n * 8);
  raw.set(new Uint8Array(counts.buffer), 0);
  raw.set(new Uint8Array(Int32Array.from(ids).buffer), T * 2);
  raw.set(new Uint8Array(Float32Array.from(vals).buffer), T * 2 + n * 4);
  return deflateSync(raw, { level: 6 });
}

/**
 * Inflates `bytes`, refusing to produce more than `limit` bytes: a record's size is bounded by its
 * block, so a corrupted or hostile record cannot make the reader allocate without bound.
 *
 * One call into a fixed output buffer of `limit + 1` bytes: fflate writes nothing past a buffer it
 * was given (and does not grow it), so a bomb ends as a full buffer, and memory stays at the
 * limit. (Streaming in small pieces, as this did before, bounded memory too, but fflate's streaming
 * inflater allocates a fresh ~160 KiB window per piece: 64 MB of garbage per training step of the
 * demo's distilled student, ~20 ms/step of inflate and GC on the main thread.)
 */
export function inflateBounded(bytes: Uint8Array, limit: number, where_: string, what = 'offline logits'): Uint8Array {
  const over = () => new Error(`${what}: ${where_} decompresses to more than ${limit} bytes, more than a block can hold (corrupted); recompute the logits`);
  // (fflate hands back the whole given buffer for empty input.)
  if (bytes.byteLength === 0) throw new Error(`${what}: ${where_} does not decompress (empty record); recompute the logits`);
  let raw: Uint8Array;
  try {
    raw = inflateSync(bytes, { out: new Uint8Array(limit + 1) });
  } catch (e) {
    // A stored block that does not fit the buffer is a RangeError from the copy into it.
    if (e instanceof RangeError) throw over();
    throw new Error(`${what}: ${where_} does not decompress (${(e as Error).message}); recompute the logits`);
  }
  if (raw.byteLength > limit) throw over();
  return raw;
}

/**
 * Decompresses a record into per-position counts, ids and logits (checks its CRC first). With the
 * vocabulary size `V`, ids are checked to lie in [0, V).
 */
export function decodeBlock(bytes: Uint8Array, crc: number, T: number, where_ = 'record', V?: number): { counts: Uint16Array; ids: Int32Array; vals: Float32Array } {
  if (crc32(bytes) !== crc) throw new Error(`offline logits: ${where_} is corrupted (checksum mismatch); recompute the logits`);
  const raw = inflateBounded(bytes, T * 2 + T * Math.min(V ?? 65535, 65535) * 8, where_);
  if (raw.byteLength < T * 2) throw new Error(`offline logits: ${where_} has ${raw.byteLength} bytes, too few for its ${T} counts`);
  const counts = new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + T * 2));
  const n = counts.reduce((a, b) => a + b, 0);
  if (raw.byteLength !== T * 2 + n * 8) throw new Error(`offline logits: ${where_} has ${raw.byteLength} bytes, expected ${T * 2 + n * 8}`);
  const ids = new Int32Array(raw.buffer.slice(raw.byteOffset + T * 2, raw.byteOffset + T * 2 + n * 4));
  const vals = new Float32Array(raw.buffer.slice(raw.byteOffset + T * 2 + n * 4, raw.byteOffset + T * 2 + n * 8));
  if (V !== undefined) {
    for (let i = 0; i < ids.length; i++) {
      if (!(ids[i]! >= 0 && ids[i]! < V)) throw new Error(`offline logits: ${where_} holds token id ${ids[i]} outside the vocabulary of ${V} (corrupted); recompute the logits`);
    }
  }
  return { counts, ids, vals };
}

/**
 * Dense teacher logits [B, T, V] on the GPU from decoded blocks: kept entries scattered into a
 * -inf background (two scatter-adds: the values, and a presence mask).
 */
export function denseLogits(blocks: Array<{ counts: Uint16Array; ids: Int32Array; vals: Float32Array }>, T: number, V: number): Tensor {
  const B = blocks.length;
  const K = Math.max(1, ...blocks.map((b) => Math.max(...b.counts)));
  // Pad every position to K slots; padding uses index -1, which the scatter skips.
  const idx = new Int32Array(B * T * K).fill(-1);
  const val = new Float32Array(B * T * K);
  blocks.forEach((b, r) => {
    let o = 0;
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < b.counts[t]; j++) {
        idx[(r * T + t) * K + j] = b.ids[o + j];
        val[(r * T + t) * K + j] = b.vals[o + j];
      }
      o += b.counts[t];
    }
  });
  return tidy(() => {
    const it = tensor(idx, { shape: [B * T, K] });
    const vt = tensor(val, { shape: [B * T, K] });
    const sum = scatterAdd([B * T, V], 1, it, vt);
    const present = scatterAdd([B * T, V], 1, it, full([B * T, K], 1));
    return where(present.gt(0), sum, -Infinity).reshape([B, T, V]);
  });
}
