import { deflateSync } from 'fflate';
import { crc32 } from './checksum.ts';
import { inflateBounded } from './offline-logits.ts';

/**
 * Sparse offline teacher logits: per position, the teacher's K most likely token ids, their
 * log-probabilities at τ = 1 (before any temperature) and the tail mass (the probability of all
 * other tokens), the representation of TRL's `loss_add_tail`, DistillKit and verl's vLLM
 * `prompt_logprobs`. Browser-safe; the file I/O is in sparse-logits-node.ts.
 *
 * File layout (as the dense files of offline-logits.ts, another magic): `KDGPUSL1`, one
 * deflate-compressed record per block, a JSON footer ({@link SparseFooter}: settings, keys of the
 * data and tokenizer, each record's [offset, length, CRC-32]), its length as u32 LE, `KDGPUSL1`.
 *
 * A record, before deflate, for a block of T positions holding n = Σ counts entries:
 * - counts  u16 [T]  entries kept at each position (≤ K; fewer only where the source gave fewer);
 * - tail    u16 [T]  the tail mass as a log-probability code (below), 0xFFFF = exactly zero;
 * - ids     [n] in `idBytes` byte planes (plane b holds byte b of every id: deflate sees the
 *           slowly varying high bytes together), rank order within a position;
 * - codes   [n] log-probability codes, rank order, so non-decreasing within a position: each
 *           stored as the difference from the previous one of its position, in two byte planes.
 *
 * Quantisation: code = round(−log p · 2048), so a stored log-probability is within 2⁻¹² nats
 * (relative probability error ≤ 2.45e-4) of the true one for log p ≥ −32; smaller ones (p < 1.3e-14)
 * are stored as −31.9995 (see {@link LOGPROB_STEP}, {@link quantiseLogProb}). The same code holds
 * log(tail), with 0xFFFF for a tail of exactly zero (log −Infinity; always so for K ≥ V).
 */

/** File magic (start and end) of a sparse logits file. */
export const SPARSE_MAGIC = new TextEncoder().encode('KDGPUSL1');
/** Nats per log-probability code step. */
export const LOGPROB_STEP = 1 / 2048;
/** The largest code of a non-zero probability (log p = −65534/2048 ≈ −32). */
export const MAX_LOGPROB_CODE = 0xfffe;
/** The code of probability zero (only a tail can be zero). */
export const ZERO_PROB_CODE = 0xffff;

/** The footer of a sparse logits file. */
export interface SparseFooter {
  version: 1;
  format: 'sparse-topk';
  vocabSize: number;
  blockSize: number;
  /** Entries kept per position (min of the requested K and the vocabulary). */
  topK: number;
  /** Nats per code ({@link LOGPROB_STEP}); a reader refuses another. */
  logProbStep: number;
  /** What computed the log-probabilities: kdgpu running the config's teachers, or a vLLM server. */
  source: 'teachers' | 'vllm';
  /** Identifies the token stream (data, tokenizer and cleaning) the logits belong to. */
  tokensKey: string;
  /** Identifies the tokenizer (its vocabulary and merges), to tell "other tokenizer" from "other data". */
  tokenizerKey: string;
  /** [byteOffset, byteLength, crc32] of each block's record. */
  records: Array<[number, number, number]>;
}

/**
 * One block's sparse teacher: position t holds `counts[t]` entries, laid out one position after
 * the other in `ids` and `logProbs` (rank order, most likely first), and `tail[t]`, the
 * log of the probability mass of every other token (as `SparseTeacher` of @kdgpu/losses holds it).
 */
export interface SparseBlock {
  /** [T] entries at each position. */
  counts: Uint16Array;
  /** [n] token ids. */
  ids: Int32Array;
  /** [n] log-probabilities at τ = 1 (nats). */
  logProbs: Float32Array;
  /** [T] log of the tail mass, log(1 − Σ exp(logProbs)); −Infinity where the entries hold all of it. */
  tail: Float32Array;
}

/** The code of log-probability `lp` (≤ 0; −Infinity is probability zero). */
export function quantiseLogProb(lp: number): number {
  if (lp === -Infinity) return ZERO_PROB_CODE;
  const c = Math.round(Math.max(0, -lp) / LOGPROB_STEP);
  return c > MAX_LOGPROB_CODE ? MAX_LOGPROB_CODE : c;
}

/** The log-probability of code `c` (−Infinity for {@link ZERO_PROB_CODE}). */
export function dequantiseLogProb(c: number): number {
  return c === ZERO_PROB_CODE ? -Infinity : c === 0 ? 0 : -c * LOGPROB_STEP;
}

/** Bytes per stored id for a vocabulary of `V` (1 to 4). */
export function idBytes(V: number): number {
  return V <= 256 ? 1 : V <= 65536 ? 2 : V <= 1 << 24 ? 3 : 4;
}

/**
 * The top-K entries and tail of each of T rows of logits [T, V] (τ = 1): log-softmax in float64,
 * ties broken towards the lower id; the tail is summed over the other tokens directly (not
 * 1 − Σ top-k, which would lose a small tail to cancellation). K ≥ V keeps every token, tail −Infinity.
 */
export function topKRows(rows: Float32Array, T: number, V: number, K: number): SparseBlock {
  const k = Math.min(K, V);
  const counts = new Uint16Array(T).fill(k);
  const ids = new Int32Array(T * k);
  const logProbs = new Float32Array(T * k);
  const tail = new Float32Array(T);
  const heap = new Int32Array(k); // min-heap of ids by (logit, then higher id is "smaller")
  const chosen = new Uint8Array(V);
  for (let t = 0; t < T; t++) {
    const z = rows.subarray(t * V, (t + 1) * V);
    // a is "worse" than b: lower logit, or equal logit and higher id.
    const worse = (a: number, b: number) => z[a]! < z[b]! || (z[a] === z[b] && a > b);
    let size = 0;
    const down = (i: number) => {
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < size && worse(heap[l]!, heap[m]!)) m = l;
        if (r < size && worse(heap[r]!, heap[m]!)) m = r;
        if (m === i) return;
        const x = heap[i]!;
        heap[i] = heap[m]!;
        heap[m] = x;
        i = m;
      }
    };
    let max = -Infinity;
    for (let v = 0; v < V; v++) {
      const zv = z[v]!;
      if (Number.isNaN(zv)) throw new Error(`sparse logits: the teacher's logit for token ${v} at position ${t} is NaN`);
      if (zv > max) max = zv;
      if (size < k) {
        heap[size] = v;
        let i = size++;
        while (i > 0) {
          const p = (i - 1) >> 1;
          if (!worse(heap[i]!, heap[p]!)) break;
          const x = heap[i]!;
          heap[i] = heap[p]!;
          heap[p] = x;
          i = p;
        }
      } else if (worse(heap[0]!, v)) {
        heap[0] = v;
        down(0);
      }
    }
    let total = 0;
    for (let v = 0; v < V; v++) total += Math.exp(z[v]! - max);
    const lse = max + Math.log(total);
    const sel = Array.from(heap.subarray(0, k)).sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0));
    for (const v of sel) chosen[v] = 1;
    let rest = 0;
    for (let v = 0; v < V; v++) if (!chosen[v]) rest += Math.exp(z[v]! - max);
    sel.forEach((v, j) => {
      ids[t * k + j] = v;
      logProbs[t * k + j] = z[v]! - lse;
      chosen[v] = 0;
    });
    tail[t] = rest > 0 ? Math.log(rest / total) : -Infinity;
  }
  return { counts, ids, logProbs, tail };
}

/**
 * Quantises and compresses one block (format above). Entries of a position must be in rank order
 * (non-increasing log-probability); ids must lie in [0, V).
 */
export function encodeSparseBlock(b: SparseBlock, T: number, V: number): Uint8Array {
  if (b.counts.length !== T || b.tail.length !== T) throw new Error(`sparse logits: a block needs ${T} counts and tails, got ${b.counts.length} and ${b.tail.length}`);
  const n = b.counts.reduce((a, c) => a + c, 0);
  if (b.ids.length !== n || b.logProbs.length !== n) throw new Error(`sparse logits: counts say ${n} entries, got ${b.ids.length} ids and ${b.logProbs.length} log-probabilities`);
  const nb = idBytes(V);
  const raw = new Uint8Array(4 * T + n * (nb + 2));
  const dv = new DataView(raw.buffer);
  const idAt = 4 * T;
  const codeAt = idAt + n * nb;
  let o = 0;
  for (let t = 0; t < T; t++) {
    dv.setUint16(2 * t, b.counts[t]!, true);
    dv.setUint16(2 * T + 2 * t, quantiseLogProb(b.tail[t]!), true);
    let prev = 0;
    for (let j = 0; j < b.counts[t]!; j++, o++) {
      const id = b.ids[o]!;
      if (!(id >= 0 && id < V)) throw new Error(`sparse logits: token id ${id} at position ${t} is outside the vocabulary of ${V}`);
      for (let p = 0; p < nb; p++) raw[idAt + p * n + o] = (id >>> (8 * p)) & 0xff;
      const c = quantiseLogProb(b.logProbs[o]!);
      if (c < prev) throw new Error(`sparse logits: entries at position ${t} are not in rank order (log-probability ${b.logProbs[o]} after a smaller one)`);
      const d = c - prev;
      raw[codeAt + o] = d & 0xff;
      raw[codeAt + n + o] = d >>> 8;
      prev = c;
    }
  }
  return deflateSync(raw, { level: 6 });
}

let seen = new Int32Array(0);
let stamp = 0;

/**
 * Checks the CRC, inflates (bounded by what a block of T positions × K entries can hold) and
 * decodes one record, checking every count, id (in the vocabulary, no repeat within a position)
 * and code. A corrupted or hostile record fails with an error naming `where_`.
 */
export function decodeSparseBlock(bytes: Uint8Array, crc: number, T: number, V: number, K: number, where_ = 'record'): SparseBlock {
  const fail = (m: string): never => {
    throw new Error(`sparse logits: ${where_} ${m}; recompute the logits`);
  };
  if (crc32(bytes) !== crc) fail('is corrupted (checksum mismatch)');
  const nb = idBytes(V);
  const raw = inflateBounded(bytes, 4 * T + T * K * (nb + 2), where_, 'sparse logits');
  if (raw.byteLength < 4 * T) fail(`has ${raw.byteLength} bytes, too few for its ${T} counts and tails`);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const counts = new Uint16Array(T);
  const tail = new Float32Array(T);
  let n = 0;
  for (let t = 0; t < T; t++) {
    const c = dv.getUint16(2 * t, true);
    if (c > K) fail(`holds ${c} entries at position ${t}, more than its top-k of ${K} (corrupted)`);
    counts[t] = c;
    n += c;
    const tc = dv.getUint16(2 * T + 2 * t, true);
    tail[t] = dequantiseLogProb(tc);
  }
  if (raw.byteLength !== 4 * T + n * (nb + 2)) fail(`has ${raw.byteLength} bytes, its counts need ${4 * T + n * (nb + 2)} (corrupted)`);
  if (seen.length < V) seen = new Int32Array(V);
  const ids = new Int32Array(n);
  const logProbs = new Float32Array(n);
  const idAt = 4 * T;
  const codeAt = idAt + n * nb;
  let o = 0;
  for (let t = 0; t < T; t++) {
    stamp = (stamp + 1) | 0;
    if (stamp === 0) {
      seen.fill(0);
      stamp = 1;
    }
    let code = 0;
    let mass = Math.exp(tail[t]!);
    for (let j = 0; j < counts[t]!; j++, o++) {
      let id = 0;
      for (let p = 0; p < nb; p++) id += raw[idAt + p * n + o]! * 2 ** (8 * p);
      if (id >= V) fail(`holds token id ${id} outside the vocabulary of ${V} (corrupted)`);
      if (seen[id] === stamp) fail(`holds token id ${id} twice at position ${t} (corrupted)`);
      seen[id] = stamp;
      code += raw[codeAt + o]! | (raw[codeAt + n + o]! << 8);
      if (code > MAX_LOGPROB_CODE) fail(`holds a log-probability code ${code} past the largest (corrupted)`);
      ids[o] = id;
      logProbs[o] = dequantiseLogProb(code);
      mass += Math.exp(logProbs[o]!);
    }
    // Quantisation moves each probability by at most 2.45e-4 of itself: the total stays near 1.
    if (!(Math.abs(mass - 1) <= 1e-3)) fail(`has probabilities summing to ${mass.toPrecision(6)} at position ${t}, not 1 (corrupted)`);
  }
  return { counts, ids, logProbs, tail };
}

/**
 * Blocks padded to K entries per position, as flat arrays for `SparseTeacher` (@kdgpu/losses):
 * ids [B·T·K] (padding −1, an unused slot), logProbs [B·T·K] (padding −Infinity), tail [B·T] (log).
 */
export function padSparse(blocks: readonly SparseBlock[], T: number, K: number): { ids: Int32Array; logProbs: Float32Array; tail: Float32Array } {
  const B = blocks.length;
  const ids = new Int32Array(B * T * K).fill(-1);
  const logProbs = new Float32Array(B * T * K).fill(-Infinity);
  const tail = new Float32Array(B * T);
  blocks.forEach((b, r) => {
    let o = 0;
    for (let t = 0; t < T; t++) {
      const row = (r * T + t) * K;
      const c = b.counts[t]!;
      ids.set(b.ids.subarray(o, o + c), row);
      logProbs.set(b.logProbs.subarray(o, o + c), row);
      tail[r * T + t] = b.tail[t]!;
      o += c;
    }
  });
  return { ids, logProbs, tail };
}

/** The footer of a sparse file, in the byte layout above (footer JSON, length u32 LE, magic). */
export function footerBytes(footer: SparseFooter): Uint8Array {
  const f = new TextEncoder().encode(JSON.stringify(footer));
  const out = new Uint8Array(f.byteLength + 4 + SPARSE_MAGIC.byteLength);
  out.set(f, 0);
  new DataView(out.buffer).setUint32(f.byteLength, f.byteLength, true);
  out.set(SPARSE_MAGIC, f.byteLength + 4);
  return out;
}

/**
 * Checks a parsed footer's fields (types, ranges, records inside `[8, end)`); `fail` throws with
 * the file's name. Returns it typed.
 */
export function checkSparseFooter(footer: unknown, end: number, fail: (m: string) => never): SparseFooter {
  const f = footer as SparseFooter;
  if (f === null || typeof f !== 'object' || f.version !== 1 || f.format !== 'sparse-topk' || !Array.isArray(f.records)) fail('unknown footer version or format');
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
  const show = (v: unknown) => (typeof v === 'number' ? String(v) : typeof v);
  if (!count(f.vocabSize) || f.vocabSize > 2 ** 31 - 1) fail(`footer field vocabSize is ${show(f.vocabSize)}, not a vocabulary size`);
  if (!count(f.blockSize) || f.blockSize > 1 << 20) fail(`footer field blockSize is ${show(f.blockSize)}, not a block size`);
  if (!count(f.topK) || f.topK > Math.min(f.vocabSize, 65535)) fail(`footer field topK is ${show(f.topK)}, not in [1, min(vocabSize, 65535)]`);
  if (f.logProbStep !== LOGPROB_STEP) fail(`footer field logProbStep is ${show(f.logProbStep)}; this kdgpu reads ${LOGPROB_STEP}`);
  if (f.source !== 'teachers' && f.source !== 'vllm') fail(`footer field source is ${show(f.source)}, not "teachers" or "vllm"`);
  if (typeof f.tokensKey !== 'string' || typeof f.tokenizerKey !== 'string') fail('footer has no tokensKey/tokenizerKey');
  f.records.forEach((rec, i) => {
    const ok = Array.isArray(rec) && rec.length === 3 && rec.every((x) => Number.isSafeInteger(x) && x >= 0) && rec[2] <= 0xffffffff;
    if (!ok) fail(`footer record ${i} is not [offset, length, crc32]`);
    const [off, n] = rec;
    if (!(off >= SPARSE_MAGIC.byteLength && off + n <= end)) fail(`record ${i} at ${off} (+${n}) is outside the file`);
  });
  return f;
}
