/**
 * Writing and streaming offline teacher logits files (format in offline-logits.ts).
 */
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { noGrad, tensor, tidy, KdgpuError } from '@kdgpu/tensor';
import { SparseTeacher, teacherLogits as processTeachers } from '@kdgpu/losses';
import type { CausalLM } from '@kdgpu/models';
import { type Batch, countBlocks, type TokenArray } from './blocks.ts';
import { crc32, hash64 } from './checksum.ts';
import { decodeBlock, denseLogits, encodeBlock, MAGIC, type OfflineFooter } from './offline-logits.ts';
import { padSparse, topKRows, type SparseFooter } from './sparse-logits.ts';
import { checkSparseLogits, isSparseLogitsFile, SparseLogitsFile, type SparseSettings, writeSparseLogits } from './sparse-logits-node.ts';
import { tokenizerKey } from './objective.ts';
import type { Tokenizer } from '@kdgpu/tokenizer';

export interface OfflineLogitsOptions {
  blockSize: number;
  /** Blocks per teacher forward. */
  batchSize: number;
  topK: number;
  topP: number;
  ensemble?: 'logits' | 'probs';
  teacherWeights?: number[];
  /** Called after each batch with (blocks done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** A key for a token stream, so a logits file is never used with other data. */
export function tokensKey(tokens: TokenArray): string {
  return hash64(new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength));
}

/**
 * The teachers' processed logits [B, T, V] (ensembled, truncated as `o` says, τ = 1), read back, for
 * the blocks of `tokens` from block `first` on, `o.batchSize` blocks at a time.
 */
async function* teacherRows(teachers: CausalLM[], tokens: TokenArray, o: OfflineLogitsOptions, first: number): AsyncGenerator<{ start: number; B: number; rows: Float32Array }> {
  const T = o.blockSize;
  const n = countBlocks(tokens.length, T);
  for (let start = first; start < n; start += o.batchSize) {
    const B = Math.min(o.batchSize, n - start);
    const ids = new Int32Array(B * T);
    for (let r = 0; r < B; r++) ids.set(tokens.subarray((start + r) * T, (start + r + 1) * T), r * T);
    const z = noGrad(() =>
      tidy(() => {
        const x = tensor(ids, { shape: [B, T], dtype: 'i32' });
        const outs = teachers.map((m) => m.forward(x));
        return processTeachers(outs, { topK: o.topK, topP: o.topP, ensemble: o.ensemble, teacherWeights: o.teacherWeights, temperature: 1 });
      }),
    );
    const rows = (await z.data()) as Float32Array;
    z.dispose();
    yield { start, B, rows };
  }
}

/**
 * Runs the teachers over every block of `tokens` in order (blocks at multiples of blockSize, no
 * random offset) and writes their truncated logits to `path` (atomically: temp file, fsync, rename).
 */
export async function writeOfflineLogits(teachers: CausalLM[], tokens: TokenArray, path: string, o: OfflineLogitsOptions): Promise<OfflineFooter> {
  const T = o.blockSize;
  const V = teachers[0].config.vocab_size;
  const n = countBlocks(tokens.length, T);
  if (n === 0) throw new KdgpuError(`offline logits: ${tokens.length} tokens make no block of ${T}`);
  const tmp = `${path}.tmp-${Date.now()}`;
  const fh = await open(tmp, 'w');
  const footer: OfflineFooter = { version: 1, vocabSize: V, blockSize: T, topK: o.topK, topP: o.topP, tokensKey: tokensKey(tokens), records: [] };
  let offset = 0;
  const write = async (b: Uint8Array) => {
    let done = 0;
    while (done < b.byteLength) done += (await fh.write(b, done, b.byteLength - done)).bytesWritten;
    offset += b.byteLength;
  };
  try {
    await write(MAGIC);
    for await (const { start, B, rows } of teacherRows(teachers, tokens, o, 0)) {
      for (let r = 0; r < B; r++) {
        const rec = encodeBlock(rows.subarray(r * T * V, (r + 1) * T * V), T, V);
        footer.records.push([offset, rec.byteLength, crc32(rec)]);
        await write(rec);
      }
      o.onProgress?.(start + B, n);
    }
    const f = new TextEncoder().encode(JSON.stringify(footer));
    await write(f);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, f.byteLength, true);
    await write(len);
    await write(MAGIC);
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
    return footer;
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Options of {@link writeSparseOfflineLogits}. */
export interface SparseOfflineOptions {
  blockSize: number;
  batchSize: number;
  /** Entries kept per position. */
  topK: number;
  ensemble?: 'logits' | 'probs';
  teacherWeights?: number[];
  /** Identifies the tokenizer (`tokenizerKey`), stored to tell "other tokenizer" from "other data". */
  tokenizerKey: string;
  /** Identifies the teachers (their folders), so a resumed write uses the same ones. */
  producer: string;
  /** Continue an unfinished write (see sparse-logits-node.ts). */
  resume?: boolean;
  journalEvery?: number;
  onProgress?: (done: number, total: number) => void;
  onStart?: (start: number, total: number) => void;
}

/**
 * Runs the teachers (ensembled, τ = 1, no truncation) over every block of `tokens` in order and
 * writes each position's top-K ids, log-probabilities and tail to the sparse file `path`
 * (sparse-logits.ts): crash-safe and resumable.
 */
export async function writeSparseOfflineLogits(teachers: CausalLM[], tokens: TokenArray, path: string, o: SparseOfflineOptions): Promise<SparseFooter> {
  const T = o.blockSize;
  const V = teachers[0].config.vocab_size;
  const n = countBlocks(tokens.length, T);
  if (n === 0) throw new KdgpuError(`offline logits: ${tokens.length} tokens make no block of ${T}`);
  const settings: SparseSettings = {
    vocabSize: V, blockSize: T, topK: Math.min(o.topK, V), source: 'teachers', tokensKey: tokensKey(tokens), tokenizerKey: o.tokenizerKey, blocks: n,
    producer: JSON.stringify([o.producer, o.ensemble ?? 'logits', o.teacherWeights ?? null]),
  };
  const dense: OfflineLogitsOptions = { blockSize: T, batchSize: o.batchSize, topK: 0, topP: 1, ensemble: o.ensemble, teacherWeights: o.teacherWeights };
  const produce = (start: number) =>
    (async function* () {
      for await (const { B, rows } of teacherRows(teachers, tokens, dense, start)) {
        yield Array.from({ length: B }, (_, r) => topKRows(rows.subarray(r * T * V, (r + 1) * T * V), T, V, o.topK));
      }
    })();
  return writeSparseLogits(path, settings, produce, { resume: o.resume, journalEvery: o.journalEvery, onProgress: o.onProgress, onStart: o.onStart });
}

/** Reads a logits file's footer (validating magic, sizes and offsets). */
export function readOfflineFooter(path: string): { fd: number; footer: OfflineFooter } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const fail = (m: string): never => {
      throw new KdgpuError(`offline logits ${path}: ${m}; recompute it with \`kdgpu logits\``);
    };
    if (size < 20) fail(`${size} bytes is too short`);
    const tail = new Uint8Array(12);
    readSync(fd, tail, 0, 12, size - 12);
    if (new TextDecoder().decode(tail.subarray(4)) !== 'KDGPUTL1') fail('bad trailing magic (truncated or not a logits file)');
    const len = new DataView(tail.buffer).getUint32(0, true);
    if (len > size - 20) fail(`footer length ${len} is past the file`);
    const fb = new Uint8Array(len);
    readSync(fd, fb, 0, len, size - 12 - len);
    let footer: OfflineFooter;
    try {
      footer = JSON.parse(new TextDecoder().decode(fb));
    } catch {
      return fail('footer is not valid JSON');
    }
    if (footer === null || typeof footer !== 'object' || footer.version !== 1 || !Array.isArray(footer.records)) fail('unknown footer version');
    const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
    const show = (v: unknown) => (typeof v === 'number' ? String(v) : typeof v);
    if (!count(footer.vocabSize) || !count(footer.blockSize)) fail(`footer has a bad vocabSize/blockSize (${show(footer.vocabSize)}, ${show(footer.blockSize)})`);
    if (typeof footer.tokensKey !== 'string') fail('footer has no tokensKey');
    const end = size - 12 - len;
    footer.records.forEach((rec, i) => {
      const ok = Array.isArray(rec) && rec.length === 3 && rec.every((x) => Number.isSafeInteger(x) && x >= 0) && rec[2] <= 0xffffffff;
      if (!ok) fail(`record ${i} is not [offset, length, crc32]`);
      const [off, n] = rec;
      if (!(off >= 8 && off + n <= end)) fail(`record ${i} at ${off} (+${n}) is outside the file`);
    });
    return { fd, footer };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * Refuses stored logits computed on another token stream than `tokens` (other data, tokenizer or
 * cleaning); a sparse file also names another tokenizer as such (when `tok` is given).
 */
export function checkOfflineLogitsData(path: string, tokens: TokenArray, tok?: Tokenizer): void {
  if (isSparseLogitsFile(path)) {
    const f = new SparseLogitsFile(path);
    try {
      if (tok) checkSparseLogits(f, { tokenizerKey: tokenizerKey(tok) });
      checkSparseLogits(f, { tokensKey: tokensKey(tokens) });
    } finally {
      f.close();
    }
    return;
  }
  const { fd, footer } = readOfflineFooter(path);
  closeSync(fd);
  if (footer.tokensKey !== tokensKey(tokens)) {
    throw new KdgpuError(`offlineLogits.path: ${path} was computed on other data (the token stream differs: other files, tokenizer or cleaning); compute it again with \`kdgpu logits\` for this config`);
  }
}

/**
 * A teacher source for the trainer: dense [B, T, V] teacher logits for a batch, read and
 * decompressed from `path` (blocks must be at multiples of blockSize: `data.randomOffset` false).
 */
export async function offlineTeacher(path: string, vocabSize: number, tokens?: TokenArray): Promise<(batch: Batch) => ReturnType<typeof denseLogits>> {
  const { fd, footer } = readOfflineFooter(path);
  if (footer.vocabSize !== vocabSize) throw new KdgpuError(`offline logits ${path}: vocabulary ${footer.vocabSize}, the student has ${vocabSize}`);
  if (tokens && footer.tokensKey !== tokensKey(tokens)) throw new KdgpuError(`offline logits ${path} were computed on other data (token stream differs); recompute them`);
  const T = footer.blockSize;
  return (batch: Batch) => {
    if (batch.shape[1] !== T) throw new KdgpuError(`offline logits ${path}: blocks of ${T} tokens, the batch has ${batch.shape[1]}`);
    const blocks = Array.from(batch.blocks, (blk, r) => {
      if (batch.starts[r] !== blk * T) throw new KdgpuError('offline logits need fixed block starts: set data.randomOffset to false');
      const rec = footer.records[blk];
      if (!rec) throw new KdgpuError(`offline logits ${path}: no record for block ${blk} (file has ${footer.records.length})`);
      const bytes = new Uint8Array(rec[1]);
      readSync(fd, bytes, 0, rec[1], rec[0]);
      return decodeBlock(bytes, rec[2], T, `${path} block ${blk}`, vocabSize);
    });
    return denseLogits(blocks, T, vocabSize);
  };
}

/**
 * A sparse teacher source for the trainer: each batch's blocks read from the sparse file `path`
 * (only those records, decoded and checked), padded to K slots, uploaded as a `SparseTeacher`
 * ([B, T, K] ids and log-probabilities, [B, T] log tail). Blocks must sit at multiples of the
 * block size (`data.randomOffset` false). `close()` releases the file.
 */
export function sparseOfflineTeacher(path: string, vocabSize: number): { teacher: (batch: Batch) => SparseTeacher; close: () => void } {
  const file = new SparseLogitsFile(path);
  try {
    checkSparseLogits(file, { vocabSize });
  } catch (e) {
    file.close();
    throw e;
  }
  const { blockSize: T, topK: K } = file.footer;
  const teacher = (batch: Batch) => {
    const [B, Tb] = batch.shape;
    if (Tb !== T) throw new KdgpuError(`offline logits ${path}: blocks of ${T} tokens, the batch has ${Tb}`);
    const blocks = Array.from(batch.blocks, (blk, r) => {
      if (batch.starts[r] !== blk * T) throw new KdgpuError('offline logits need fixed block starts: set data.randomOffset to false');
      return file.block(blk);
    });
    const p = padSparse(blocks, T, K);
    return new SparseTeacher(tensor(p.ids, { shape: [B, T, K], dtype: 'i32' }), tensor(p.logProbs, { shape: [B, T, K] }), tensor(p.tail, { shape: [B, T] }), vocabSize);
  };
  return { teacher, close: () => file.close() };
}
