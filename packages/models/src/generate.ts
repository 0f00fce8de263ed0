import { noGrad, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import type { CausalLM } from './model.ts';
import { sampleToken, type SamplingOptions, seededRandom } from './sampling.ts';

/**
 * Autoregressive generation. With the KV cache (the default) the prompt is run once (prefill)
 * and each step feeds only the newest token; without it every step recomputes the whole prefix
 * (for comparison and benchmarks). Only the last position's logits are computed and read back.
 */

/** Any tokenizer: `encode(text).ids` and `decode(ids)` (e.g. @kdgpu/tokenizer's, or transformers.js'). */
export interface TextCodec {
  encode(text: string): { ids: readonly number[] };
  decode(ids: readonly number[]): string;
}

/** One generated token, as passed to `onToken`. */
export interface TokenEvent {
  /** Batch row. */
  row: number;
  /** 0 for the first generated token. */
  step: number;
  id: number;
  /** With a tokenizer: the text this token adds (may be '' while a multi-byte character is incomplete). */
  text?: string;
}

/** Generation settings. */
export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate per row, at most (fewer when every row hits an end-of-sequence token). */
  maxNewTokens: number;
  /** Seed of the sampling RNG (default 0); the same seed gives the same tokens. */
  seed?: number;
  /** Token id(s) that end a row. Default: the config's eos_token_id; null: never stop early. */
  eosTokenId?: number | number[] | null;
  /** Reuse keys/values of earlier positions (default true). */
  useCache?: boolean;
  /** Called for every generated token, as soon as it is chosen (awaited). */
  onToken?: (e: TokenEvent) => void | Promise<void>;
  /** The prompt text, when a tokenizer is passed instead of ids. */
  prompt?: string;
}

/** The result of `generate`. */
export interface GenerateResult {
  /** New tokens per row (up to and including an end-of-sequence token). */
  tokens: number[][];
  /** Prompt + new tokens per row. */
  sequences: number[][];
  /** With a tokenizer: the decoded new tokens of each row. */
  text?: string[];
  /** Wall-clock timings: prefill (first token) and the steps after it. */
  timing: { prefillMs: number; decodeMs: number; decodeTokensPerSecond: number };
}

function isCodec(x: unknown): x is TextCodec {
  return typeof x === 'object' && x !== null && typeof (x as TextCodec).encode === 'function' && typeof (x as TextCodec).decode === 'function';
}

/** Last-position logits [B, V] of `ids` [B, T]; appends to `cache` when given. */
function lastLogits(model: CausalLM, ids: Tensor, cache: ReturnType<CausalLM['createKVCache']> | undefined): Tensor {
  return tidy(() => {
    const h = model.hiddenStates(ids, { kvCache: cache }); // [B, T, C]
    const T = ids.shape[1];
    const last = model.logits(h.slice(1, T - 1, T)); // [B, 1, V]
    return last.reshape([last.shape[0], last.shape[2]]); // [B, V]
  });
}

/**
 * Generates up to `maxNewTokens` tokens after a prompt: token ids (`number[]` for one row, or
 * equal-length `number[][]` for a batch), or a tokenizer with `opts.prompt`. Greedy when
 * `temperature` is 0 (the default); otherwise temperature / topK / topP sampling with `seed`.
 * Runs under `noGrad`.
 */
export async function generate(model: CausalLM, input: readonly number[] | readonly (readonly number[])[] | TextCodec, opts: GenerateOptions): Promise<GenerateResult> {
  let rows: number[][];
  const codec = isCodec(input) ? input : null;
  if (codec) {
    if (opts.prompt === undefined) throw new Error('generate: pass opts.prompt (the text) together with a tokenizer');
    rows = [[...codec.encode(opts.prompt).ids]];
  } else if (Array.isArray(input) && input.length > 0 && Array.isArray(input[0])) {
    rows = (input as number[][]).map((r) => [...r]);
  } else {
    rows = [[...(input as number[])]];
  }
  const T0 = rows[0].length;
  if (T0 === 0) throw new Error('generate: the prompt is empty; give at least one token (e.g. the BOS id)');
  if (rows.some((r) => r.length !== T0)) throw new Error(`generate: batch rows must have equal lengths (got ${rows.map((r) => r.length).join(', ')}); pad or generate row by row`);
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${opts.maxNewTokens}`);
  const B = rows.length;
  const eosOpt = opts.eosTokenId === undefined ? model.config.eos_token_id : opts.eosTokenId;
  const eos = new Set(eosOpt === null ? [] : Array.isArray(eosOpt) ? eosOpt : [eosOpt]);
  const greedy = (opts.temperature ?? 0) === 0;
  const random = seededRandom(opts.seed ?? 0);
  const useCache = opts.useCache ?? true;
  const cache = useCache ? model.createKVCache() : undefined;
  const tokens: number[][] = rows.map(() => []);
  const done = new Array<boolean>(B).fill(false);
  const texts = rows.map(() => '');
  let prefillMs = 0;
  const t0 = performance.now();
  try {
    let feed = rows.map((r) => r.slice()); // what the next forward sees
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const ids = tensor(Int32Array.from(feed.flat()), { shape: [B, feed[0].length] });
      const logits = noGrad(() => lastLogits(model, ids, cache)); // [B, V]
      ids.dispose();
      let next: number[];
      if (greedy) {
        const am = logits.argmax(-1);
        next = Array.from(await am.data());
        am.dispose();
      } else {
        const flat = await logits.data();
        const V = logits.shape[1];
        next = Array.from({ length: B }, (_, b) => sampleToken(flat.subarray(b * V, (b + 1) * V), opts, random));
      }
      logits.dispose();
      if (step === 0) prefillMs = performance.now() - t0;
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        tokens[b].push(next[b]);
        let text: string | undefined;
        if (codec) {
          const full = codec.decode(tokens[b]);
          text = full.startsWith(texts[b]) ? full.slice(texts[b].length) : full;
          texts[b] = full;
        }
        await opts.onToken?.({ row: b, step, id: next[b], text });
        if (eos.has(next[b])) done[b] = true;
      }
      if (done.every(Boolean)) break;
      // Finished rows keep feeding their last token; their output is no longer recorded.
      const last = next.map((id, b) => (done[b] ? tokens[b][tokens[b].length - 1] : id));
      feed = useCache ? last.map((id) => [id]) : feed.map((r, b) => [...r, last[b]]);
    }
  } finally {
    cache?.dispose();
  }
  const decodeMs = performance.now() - t0 - prefillMs;
  const later = tokens.reduce((a, t) => a + Math.max(0, t.length - 1), 0);
  return {
    tokens,
    sequences: rows.map((r, b) => [...r, ...tokens[b]]),
    ...(codec ? { text: tokens.map((t) => codec.decode(t)) } : {}),
    timing: { prefillMs, decodeMs, decodeTokensPerSecond: decodeMs > 0 ? (later / decodeMs) * 1000 : 0 },
  };
}
