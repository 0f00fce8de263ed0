/**
 * Log-likelihood of a continuation given a context, scored the way lm-evaluation-harness does
 * (`HFLM._encode_pair` and `_loglikelihood_tokens` at 4e7e0d4): the pair is tokenized together and
 * split at the context's token count, trailing whitespace of the context moves to the
 * continuation, an empty context is conditioned on a prefix token (BOS, else EOS), and the
 * sequence is left-truncated to the model's window. Batched on the GPU, one readback per batch.
 * Browser-safe.
 * @module
 */
import { noGrad, tensor, tidy } from '@kdgpu/tensor';
import type { CausalLM, ModelConfig } from '@kdgpu/models';

/**
 * The tokenizer the evaluators need: `@kdgpu/tokenizer`'s `Tokenizer` fits, and so does any object
 * with these two methods. `encode` is always called with `{ addSpecialTokens: false }` (the harness'
 * `tok_encode` adds no BOS for causal models).
 */
export interface EvalTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): { readonly ids: ArrayLike<number> };
  decode(ids: readonly number[]): string;
}

/** One scoring request: log P(continuation | context). */
export interface LoglikRequest {
  context: string;
  continuation: string;
}

/**
 * Anything that turns requests into summed continuation log-probabilities (nats), in request
 * order. {@link modelScorer} makes one from a model; tests pass a stub.
 */
export type ContinuationScorer = (requests: readonly LoglikRequest[]) => Promise<number[]>;

/** Options of {@link scoreContinuations}. */
export interface ScoreOptions {
  /** Sequences per forward pass (default 8). */
  batchSize?: number;
  /**
   * Token that an empty context is conditioned on (the harness' `prefix_token_id`). Default: the
   * config's `bos_token_id`, else its (first) `eos_token_id`.
   */
  bosId?: number;
  /** Longest input in tokens (default: the model's max positions); longer ones lose their start. */
  maxLength?: number;
  /** Called after each batch with the number of distinct sequences scored so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** Token ids of a context and its continuation, split as the harness splits them. */
export interface EncodedPair {
  context: number[];
  continuation: number[];
}

/** The longest sequence the model accepts (`max_position_embeddings` / `n_positions`). */
export function maxPositions(config: ModelConfig): number {
  switch (config.model_type) {
    case 'llama':
      return config.max_position_embeddings;
    case 'gpt2':
      return config.n_positions;
    default:
      return config satisfies never;
  }
}

/**
 * The harness' `prefix_token_id`: `bosId` when given, else the config's BOS, else its EOS. Throws
 * when there is none (pass `bosId`).
 */
export function prefixTokenId(config: ModelConfig, bosId?: number): number {
  const eos = Array.isArray(config.eos_token_id) ? config.eos_token_id[0] : config.eos_token_id;
  const id = bosId ?? config.bos_token_id ?? eos;
  if (id === null || id === undefined) {
    throw new Error('scoreContinuations: an empty context needs a prefix token, but the config has neither bos_token_id nor eos_token_id; pass opts.bosId');
  }
  if (!Number.isInteger(id) || id < 0 || id >= config.vocab_size) {
    // e.g. GPT-2's default 50256 with a small trained vocabulary: every score would be NaN.
    throw new Error(`scoreContinuations: prefix token ${id} is outside the vocabulary (${config.vocab_size}); set bos_token_id in the model config or pass opts.bosId`);
  }
  return id;
}

/** The characters Python's `str.isspace()` accepts, which `str.rstrip()` removes. */
const TRAILING_SPACE = /[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/u;

function ids(tok: EvalTokenizer, text: string): number[] {
  return Array.from(tok.encode(text, { addSpecialTokens: false }).ids);
}

/**
 * Tokenizes a request as lm-evaluation-harness does. Trailing whitespace of `context` is moved to
 * the front of `continuation`; then `context + continuation` is encoded whole and split at the
 * token count of the encoded context (so a merge across the boundary goes to the continuation).
 * An empty context becomes `[prefixId]` with the continuation encoded alone. A context of only
 * whitespace (which the harness would encode as no tokens, leaving the first continuation token
 * unscored) is treated like an empty one, after its whitespace moves.
 */
export function encodePair(tok: EvalTokenizer, context: string, continuation: string, prefixId?: number): EncodedPair {
  const trimmed = context.replace(TRAILING_SPACE, '');
  const cont = context.slice(trimmed.length) + continuation;
  if (trimmed === '') {
    if (prefixId === undefined) throw new Error('encodePair: the context is empty, so a prefix token id (BOS or EOS) is needed');
    return { context: [prefixId], continuation: ids(tok, cont) };
  }
  const whole = ids(tok, trimmed + cont);
  const ctx = ids(tok, trimmed);
  return { context: ctx, continuation: whole.slice(ctx.length) };
}

/** A request ready for the model: input ids, next-token targets, and how many trailing targets count. */
interface Prepared {
  input: number[];
  targets: number[];
  contLen: number;
}

function prepare(pair: EncodedPair, maxLength: number, req: LoglikRequest): Prepared {
  // (context + continuation)[-(max+1):] then [:-1] as inputs and [1:] as targets: every
  // continuation token is predicted from everything before it that fits in the window.
  const window = [...pair.context, ...pair.continuation].slice(-(maxLength + 1));
  const contLen = pair.continuation.length;
  const input = window.slice(0, -1);
  if (contLen > input.length) {
    const what = JSON.stringify(req.continuation.length > 40 ? `${req.continuation.slice(0, 40)}...` : req.continuation);
    throw new Error(
      contLen > maxLength
        ? `scoreContinuations: the continuation ${what} is ${contLen} tokens, more than the model's window of ${maxLength}; shorten it`
        : `scoreContinuations: the context ${JSON.stringify(req.context.slice(0, 40))} encodes to no tokens, so the continuation ${what} has nothing to condition on; give a context that tokenizes, or an empty one`,
    );
  }
  return { input, targets: window.slice(1), contLen };
}

/**
 * Summed log-probabilities (nats, natural log) of each request's continuation tokens given its
 * context, in request order: `sum_t log softmax(logits[t-1])[tok_t]` over the continuation tokens
 * (lm-evaluation-harness `loglikelihood`). Tokenization is {@link encodePair}'s; a continuation
 * with no tokens scores 0.
 *
 * Sequences are sorted by length (longest first), batched `batchSize` at a time and right-padded;
 * log-softmax and the gather of the target tokens run on the GPU over only the positions from the
 * batch's earliest continuation token on, and the [B, T'] gathered log-probs are read back once per
 * batch and summed in float64 at the real positions. Runs under `noGrad`.
 */
export async function scoreContinuations(model: CausalLM, tok: EvalTokenizer, requests: readonly LoglikRequest[], opts: ScoreOptions = {}): Promise<number[]> {
  const batchSize = opts.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`scoreContinuations: batchSize must be a positive integer, got ${batchSize}`);
  const maxLength = opts.maxLength ?? maxPositions(model.config);
  if (!Number.isInteger(maxLength) || maxLength < 1 || maxLength > maxPositions(model.config)) {
    throw new Error(`scoreContinuations: maxLength must be an integer in [1, ${maxPositions(model.config)}] (the model's max positions), got ${maxLength}`);
  }
  const needsPrefix = requests.some((r) => r.context.replace(TRAILING_SPACE, '') === '');
  const prefixId = needsPrefix ? prefixTokenId(model.config, opts.bosId) : undefined;

  // Identical requests are scored once.
  const keyOf = (r: LoglikRequest) => JSON.stringify([r.context, r.continuation]);
  const unique = new Map<string, { prep: Prepared; score: number }>();
  for (const r of requests) {
    const k = keyOf(r);
    if (!unique.has(k)) unique.set(k, { prep: prepare(encodePair(tok, r.context, r.continuation, prefixId), maxLength, r), score: 0 });
  }
  const todo = [...unique.values()].filter((u) => u.prep.contLen > 0);
  todo.sort((a, b) => b.prep.input.length - a.prep.input.length);

  const pad = model.config.pad_token_id ?? 0;
  for (let start = 0; start < todo.length; start += batchSize) {
    const batch = todo.slice(start, start + batchSize);
    const B = batch.length;
    const T = batch[0]!.prep.input.length; // longest first
    // Only positions from the earliest continuation token on need the LM head.
    const from = Math.min(...batch.map((u) => u.prep.input.length - u.prep.contLen));
    const Tc = T - from;
    const input = new Int32Array(B * T).fill(pad);
    const targets = new Int32Array(B * Tc); // 0 at pads and context positions: a valid row, never read
    batch.forEach(({ prep }, b) => {
      input.set(prep.input, b * T);
      for (let t = from; t < prep.targets.length; t++) targets[b * Tc + (t - from)] = prep.targets[t]!;
    });
    const picked = noGrad(() =>
      tidy(() => {
        const x = tensor(input, { shape: [B, T], dtype: 'i32' });
        const y = tensor(targets, { shape: [B, Tc, 1], dtype: 'i32' });
        const hidden = model.hiddenStates(x); // [B, T, C]
        const logits = model.logits(hidden.slice(1, from, T)); // [B, Tc, V]
        return logits.logSoftmax(-1).gather(2, y); // [B, Tc, 1]
      }),
    );
    let lp: Float32Array | Int32Array;
    try {
      lp = await picked.data();
    } finally {
      picked.dispose();
    }
    batch.forEach((u, b) => {
      const L = u.prep.input.length;
      let s = 0;
      for (let t = L - u.prep.contLen; t < L; t++) s += lp[b * Tc + (t - from)]!;
      u.score = s;
    });
    opts.onProgress?.(Math.min(start + B, todo.length), todo.length);
  }
  return requests.map((r) => unique.get(keyOf(r))!.score);
}

/** {@link scoreContinuations} bound to a model and tokenizer, as the evaluators take it. */
export function modelScorer(model: CausalLM, tok: EvalTokenizer, opts: ScoreOptions = {}): ContinuationScorer {
  return (requests) => scoreContinuations(model, tok, requests, opts);
}
