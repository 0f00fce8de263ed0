/**
 * Writing (resumable, crash-safe) and streaming sparse teacher-logits files (format in
 * sparse-logits.ts).
 *
 * Writing goes to `<path>.partial` (magic, then records appended) with a journal
 * `<path>.partial.json` (the settings and the records known to be on disk), rewritten atomically
 * after an fsync of the data at most every few seconds. A killed run leaves only those two; the
 * resumed run checks the journal's settings against its own, cuts the partial file back to what
 * the journal vouches for and goes on from the next block. The finished file gets its footer, an
 * fsync, and is renamed to `path`: `path` is never a prefix.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { KdgpuError } from '@kdgpu/tensor';
import { writeJsonAtomic } from './atomic-node.ts';
import { crc32 } from './checksum.ts';
import { checkSparseFooter, decodeSparseBlock, encodeSparseBlock, footerBytes, LOGPROB_STEP, SPARSE_MAGIC, type SparseBlock, type SparseFooter } from './sparse-logits.ts';

/** What a sparse file is made from; a resumed write must have the same. */
export interface SparseSettings {
  vocabSize: number;
  blockSize: number;
  topK: number;
  source: SparseFooter['source'];
  tokensKey: string;
  tokenizerKey: string;
  /** Blocks the finished file holds. */
  blocks: number;
  /** Anything else that changes the numbers (the teachers and their ensemble), as a string. */
  producer: string;
}

/** Options of {@link writeSparseLogits}. */
export interface SparseWriteOptions {
  /** Continue `<path>.partial` (its journal's settings must equal these). */
  resume?: boolean;
  /** Seconds between journal updates (default 5; 0: after every batch). */
  journalEvery?: number;
  /** Called after each batch with (blocks done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Called once before the first block is produced, with the block it starts at (> 0 when resuming). */
  onStart?: (start: number, total: number) => void;
}

interface Journal {
  kind: 'kdgpu sparse logits partial';
  settings: SparseSettings;
  /** Bytes of the partial file the records cover. */
  bytes: number;
  records: Array<[number, number, number]>;
}

/** The partial file and the journal of a write of `path`. */
export function partialPaths(path: string): { data: string; journal: string } {
  return { data: `${path}.partial`, journal: `${path}.partial.json` };
}

function readJournal(path: string, journalPath: string): Journal {
  let j: Journal;
  try {
    j = JSON.parse(readFileSync(journalPath, 'utf8'));
  } catch (e) {
    throw new KdgpuError(`sparse logits ${path}: the journal ${journalPath} of the unfinished write cannot be read (${(e as Error).message}); start again with --overwrite`);
  }
  if (j?.kind !== 'kdgpu sparse logits partial' || !Array.isArray(j.records) || !Number.isSafeInteger(j.bytes)) {
    throw new KdgpuError(`sparse logits ${path}: ${journalPath} is not a journal of kdgpu sparse logits; remove it or start again with --overwrite`);
  }
  return j;
}

/**
 * Writes a sparse logits file for `settings.blocks` blocks: `produce(start)` yields the blocks
 * from block `start` on, in order, a batch (array) at a time. With `resume`, continues an
 * unfinished write of the same settings (an error names the setting that differs).
 */
export async function writeSparseLogits(path: string, settings: SparseSettings, produce: (start: number) => AsyncIterable<SparseBlock[]>, o: SparseWriteOptions = {}): Promise<SparseFooter> {
  const { data, journal } = partialPaths(path);
  const T = settings.blockSize;
  let records: Array<[number, number, number]> = [];
  let offset = 0;
  const fh = await (async () => {
    if (o.resume) {
      if (!existsSync(journal) || !existsSync(data)) throw new KdgpuError(`sparse logits ${path}: nothing to resume (no ${journal}); run without --resume`);
      const j = readJournal(path, journal);
      for (const k of Object.keys(settings) as (keyof SparseSettings)[]) {
        if (JSON.stringify(j.settings?.[k]) !== JSON.stringify(settings[k])) {
          throw new KdgpuError(`sparse logits ${path}: the unfinished write was started with ${k} = ${JSON.stringify(j.settings?.[k])}, this run has ${JSON.stringify(settings[k])}; resume with the same config, or start again with --overwrite`);
        }
      }
      const h = await open(data, 'r+');
      const size = (await h.stat()).size;
      if (size < j.bytes) {
        await h.close();
        throw new KdgpuError(`sparse logits ${path}: ${data} has ${size} bytes, its journal vouches for ${j.bytes} (the file was cut); start again with --overwrite`);
      }
      // Bytes past the journal belong to a batch whose journal entry was never written: drop them.
      await h.truncate(j.bytes);
      records = j.records;
      offset = j.bytes;
      return h;
    }
    if (existsSync(journal) || existsSync(data)) throw new KdgpuError(`sparse logits ${path}: an unfinished write exists (${data}); pass --resume to continue it or --overwrite to start again`);
    const h = await open(data, 'w');
    await h.write(SPARSE_MAGIC);
    offset = SPARSE_MAGIC.byteLength;
    return h;
  })();
  const write = async (b: Uint8Array) => {
    let done = 0;
    while (done < b.byteLength) done += (await fh.write(b, done, b.byteLength - done, offset + done)).bytesWritten;
    offset += b.byteLength;
  };
  const every = (o.journalEvery ?? 5) * 1000;
  let last = Date.now();
  const commit = async () => {
    await fh.sync();
    const j: Journal = { kind: 'kdgpu sparse logits partial', settings, bytes: offset, records };
    await writeJsonAtomic(journal, j, { space: 0 });
    last = Date.now();
  };
  try {
    if (!o.resume) await commit();
    o.onStart?.(records.length, settings.blocks);
    for await (const batch of produce(records.length)) {
      for (const b of batch) {
        const rec = encodeSparseBlock(b, T, settings.vocabSize);
        const at = offset;
        await write(rec);
        records.push([at, rec.byteLength, crc32(rec)]);
      }
      if (Date.now() - last >= every) await commit();
      o.onProgress?.(records.length, settings.blocks);
    }
    if (records.length !== settings.blocks) throw new KdgpuError(`sparse logits ${path}: the source gave ${records.length} blocks, ${settings.blocks} were expected`);
    const footer: SparseFooter = {
      version: 1, format: 'sparse-topk', vocabSize: settings.vocabSize, blockSize: T, topK: settings.topK, logProbStep: LOGPROB_STEP,
      source: settings.source, tokensKey: settings.tokensKey, tokenizerKey: settings.tokenizerKey, records,
    };
    await write(footerBytes(footer));
    await fh.sync();
    await fh.close();
    await rename(data, path);
    await rm(journal, { force: true });
    return footer;
  } catch (e) {
    // Keep what the journal vouches for: a rerun with --resume continues from there.
    await commit().catch(() => {});
    await fh.close().catch(() => {});
    throw e;
  }
}

/** Whether `path` is a sparse logits file (its last 8 bytes are the sparse magic). */
export function isSparseLogitsFile(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < 8) return false;
    const m = new Uint8Array(8);
    readSync(fd, m, 0, 8, size - 8);
    return m.every((x, i) => x === SPARSE_MAGIC[i]);
  } finally {
    closeSync(fd);
  }
}

/**
 * A sparse logits file opened for streaming: the footer is read and checked on open; blocks are
 * read and decoded one record at a time, on demand (nothing else is loaded).
 */
export class SparseLogitsFile {
  readonly footer: SparseFooter;
  private fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      const size = fstatSync(this.fd).size;
      const fail = (m: string): never => {
        throw new KdgpuError(`sparse logits ${path}: ${m}; recompute it with \`kdgpu logits --top-k K\``);
      };
      if (size < 20) fail(`${size} bytes is too short`);
      const tail = new Uint8Array(12);
      readSync(this.fd, tail, 0, 12, size - 12);
      if (!tail.subarray(4).every((x, i) => x === SPARSE_MAGIC[i])) fail('bad trailing magic (truncated, or not a sparse logits file)');
      const len = new DataView(tail.buffer).getUint32(0, true);
      if (len > size - 20) fail(`footer length ${len} is past the file`);
      const fb = new Uint8Array(len);
      readSync(this.fd, fb, 0, len, size - 12 - len);
      let parsed: unknown;
      try {
        parsed = JSON.parse(new TextDecoder().decode(fb));
      } catch {
        fail('footer is not valid JSON');
      }
      this.footer = checkSparseFooter(parsed, size - 12 - len, fail);
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  /** Blocks in the file. */
  get length(): number {
    return this.footer.records.length;
  }

  /** Block `i`, read and decoded (CRC, bounds and ids checked). */
  block(i: number): SparseBlock {
    const f = this.footer;
    const rec = f.records[i];
    if (!rec) throw new KdgpuError(`sparse logits ${this.path}: no record for block ${i} (the file has ${f.records.length})`);
    const bytes = new Uint8Array(rec[1]);
    readSync(this.fd, bytes, 0, rec[1], rec[0]);
    return decodeSparseBlock(bytes, rec[2], f.blockSize, f.vocabSize, f.topK, `${this.path} block ${i}`);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** What a sparse file must match to be used: errors name the file, the field and the fix. */
export interface SparseExpectation {
  vocabSize?: number;
  blockSize?: number;
  tokensKey?: string;
  tokenizerKey?: string;
  /** The config field that names the file, for messages. Default `offlineLogits.path`. */
  field?: string;
}

/** Refuses a sparse file made for another vocabulary, block size, tokenizer or data. */
export function checkSparseLogits(file: SparseLogitsFile, e: SparseExpectation): void {
  const f = file.footer;
  const field = e.field ?? 'offlineLogits.path';
  const redo = 'compute it again with `kdgpu logits CONFIG --top-k K --overwrite`';
  if (e.vocabSize !== undefined && f.vocabSize !== e.vocabSize) throw new KdgpuError(`${field}: ${file.path} covers a vocabulary of ${f.vocabSize} (footer vocabSize), the student has ${e.vocabSize}; ${redo}`);
  if (e.blockSize !== undefined && f.blockSize !== e.blockSize) throw new KdgpuError(`${field}: ${file.path} holds blocks of ${f.blockSize} tokens (footer blockSize) but data.blockSize is ${e.blockSize}; set data.blockSize to ${f.blockSize} or ${redo}`);
  if (e.tokenizerKey !== undefined && f.tokenizerKey !== e.tokenizerKey) throw new KdgpuError(`${field}: ${file.path} was made with another tokenizer (footer tokenizerKey ${f.tokenizerKey}, this config's tokenizer ${e.tokenizerKey}); use the tokenizer it was made with (tokenizer.path), or ${redo}`);
  if (e.tokensKey !== undefined && f.tokensKey !== e.tokensKey) throw new KdgpuError(`${field}: ${file.path} was computed on other data (footer tokensKey ${f.tokensKey}, this config's token stream ${e.tokensKey}: other files or cleaning); ${redo}`);
}
