/**
 * vLLM `prompt_logprobs` JSONL files to sparse logits files, and the request file that produces
 * them (parsing in vllm-logits.ts).
 */
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { KdgpuError } from '@kdgpu/tensor';
import { countBlocks, type TokenArray } from './blocks.ts';
import type { SparseBlock, SparseFooter } from './sparse-logits.ts';
import { type SparseSettings, writeSparseLogits } from './sparse-logits-node.ts';
import { parseVllmLine, type TokenText, vllmBlock, vllmRequestLine } from './vllm-logits.ts';

/** The prompt of block `b`: its T tokens and the one after it, when the stream has one. */
function prompt(tokens: TokenArray, T: number, b: number): TokenArray {
  return tokens.subarray(b * T, Math.min(tokens.length, (b + 1) * T + 1));
}

/**
 * Writes one request per training block of `tokens` (blocks of T at multiples of T, as offline
 * logits use them) to `path`, in `vllm run-batch` layout (`custom_id` "block-<b>", `body` the
 * `/v1/completions` request). Atomic: a temp file renamed at the end. Returns the block count.
 */
export async function writeVllmRequests(path: string, tokens: TokenArray, T: number, model: string, topK: number): Promise<number> {
  const n = countBlocks(tokens.length, T);
  if (n === 0) throw new KdgpuError(`vllm requests: ${tokens.length} tokens make no block of ${T}`);
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    const enc = new TextEncoder();
    let buf: string[] = [];
    const flush = async () => {
      await fh.write(enc.encode(buf.join('')));
      buf = [];
    };
    for (let b = 0; b < n; b++) {
      buf.push(`${vllmRequestLine(model, b, prompt(tokens, T, b), topK)}\n`);
      if (buf.length >= 256) await flush();
    }
    await flush();
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
    return n;
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Options of {@link convertVllmLogits}. */
export interface VllmConvertOptions {
  blockSize: number;
  topK: number;
  vocabSize: number;
  tokenizer: TokenText;
  tokensKey: string;
  tokenizerKey: string;
  /** The model name the server reported (for the file's settings). */
  resume?: boolean;
  journalEvery?: number;
  onProgress?: (done: number, total: number) => void;
  onStart?: (start: number, total: number) => void;
}

/**
 * Converts `jsonl` (one vLLM response per non-empty line, in the order of the requests that
 * {@link writeVllmRequests} wrote) into the sparse logits file `out` for the blocks of `tokens`,
 * streaming (one line at a time) and resumable like any sparse write. Every line is checked
 * against kdgpu's block and tokenizer (see `vllmBlock`).
 */
export async function convertVllmLogits(jsonl: string, tokens: TokenArray, out: string, o: VllmConvertOptions): Promise<SparseFooter> {
  const T = o.blockSize;
  const n = countBlocks(tokens.length, T);
  if (n === 0) throw new KdgpuError(`vllm logits: ${tokens.length} tokens make no block of ${T}`);
  const settings: SparseSettings = {
    vocabSize: o.vocabSize, blockSize: T, topK: Math.min(o.topK, o.vocabSize), source: 'vllm', tokensKey: o.tokensKey, tokenizerKey: o.tokenizerKey, blocks: n, producer: `vllm ${jsonl}`,
  };
  const produce = (start: number) =>
    (async function* () {
      const lines = createInterface({ input: createReadStream(jsonl), crlfDelay: Infinity });
      let b = 0;
      let lineNo = 0;
      let batch: SparseBlock[] = [];
      try {
        for await (const line of lines) {
          lineNo++;
          if (line.trim() === '') continue;
          if (b >= n) throw new KdgpuError(`vllm logits: ${jsonl} line ${lineNo}: more responses than the ${n} blocks of the training data; make the requests from this config with \`kdgpu logits CONFIG --vllm-requests FILE\``);
          if (b >= start) {
            const where = `${jsonl} line ${lineNo}`;
            let block: SparseBlock;
            try {
              const r = parseVllmLine(line, where);
              if (r.customId !== null && r.customId !== `block-${b}`) {
                throw new Error(`vllm logits: ${where}: custom_id is ${JSON.stringify(r.customId.slice(0, 60))}, the line for block ${b} was expected: put the lines in request order (e.g. \`jq -s -c 'sort_by(.custom_id | ltrimstr("block-") | tonumber)[]'\`)`);
              }
              const p = prompt(tokens, T, b);
              block = vllmBlock(r, p.subarray(0, T), p.length > T ? p[T] : undefined, { topK: settings.topK, vocabSize: o.vocabSize, tokenizer: o.tokenizer, where, block: b });
            } catch (e) {
              throw new KdgpuError((e as Error).message);
            }
            batch.push(block);
            if (batch.length >= 16) {
              yield batch;
              batch = [];
            }
          }
          b++;
        }
        if (batch.length > 0) yield batch;
        if (b < n) throw new KdgpuError(`vllm logits: ${jsonl} has ${b} responses, the training data has ${n} blocks of ${T}: send every request of the requests file (rerun the missing ones)`);
      } finally {
        lines.close();
      }
    })();
  return writeSparseLogits(out, settings, produce, { resume: o.resume, journalEvery: o.journalEvery, onProgress: o.onProgress, onStart: o.onStart });
}
