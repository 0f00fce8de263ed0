import { cat, empty, KdgpuError, keep, noGrad, type Tensor, tensor, tidy, where, writeSlice } from '@kdgpu/tensor';
import type { CausalLM } from './model.ts';
import { checkDeviceSampling, type DeviceSamplingOptions, sampleOnDevice } from './sample-device.ts';

/**
 * Batched sampling of continuations on the GPU, for on-policy distillation: every prompt of a
 * batch decodes together with the KV cache, each step samples on the GPU (`sampleOnDevice`) and
 * feeds the chosen ids straight into the next forward, and the whole [B, T0 + N] result is read
 * back once when the batch is done (`generateBatch`) or not at all (`decodeOnDevice`). `generate`
 * (generate.ts) is the interactive path: it reads each step's logits back and samples on the CPU.
 */

/** Settings of {@link decodeOnDevice} / {@link generateBatch}. */
export interface BatchDecodeOptions extends DeviceSamplingOptions {
  /** Tokens appended to every row (rows never stop early; see `eosTokenId`). */
  maxNewTokens: number;
  /** Seed of the sampling noise (default 0); step s uses seed·2^20 + s. */
  seed?: number;
  /**
   * When set, a row that samples this id keeps emitting it (the tail is padding the caller masks
   * with `continuationLengths`). Default null: no end-of-sequence handling.
   */
  eosTokenId?: number | null;
  /**
   * Teacher-mixed sampling (MiniLLM): draw from p̃ = α·p + (1 − α)·q, where q is `model`'s
   * distribution and p this model's (both at `temperature`), instead of from q. The two models must
   * share a vocabulary.
   */
  mix?: { model: CausalLM; alpha: number };
}

/** The result of {@link generateBatch}. */
export interface BatchGeneration {
  /** Prompt + continuation ids, [B, T0 + N] row-major. */
  ids: Int32Array;
  shape: [number, number];
  /** Milliseconds from the first recorded forward to the ids being on the CPU. */
  ms: number;
  /** New tokens per second over the whole batch (B·N / seconds). */
  tokensPerSecond: number;
}

function maxPositions(model: CausalLM): number {
  const c = model.config;
  return c.model_type === 'llama' ? c.max_position_embeddings : c.n_positions;
}

/** Logits [B, V] of the last position of `ids` [B, T], appending to `cache`. */
function lastLogits(model: CausalLM, ids: Tensor, cache: ReturnType<CausalLM['createKVCache']>): Tensor {
  const h = model.hiddenStates(ids, { kvCache: cache }); // [B, T, C]
  const T = ids.shape[1];
  const last = model.logits(h.slice(1, T - 1, T)); // [B, 1, V]
  return last.reshape([last.shape[0], last.shape[2]]); // [B, V]
}

/**
 * Records the decoding of `maxNewTokens` tokens after `prompts` (i32 [B, T0]) and returns the ids
 * i32 [B, T0 + N] as a GPU tensor (the caller owns it). Runs under no-grad; reads nothing back.
 */
export function decodeOnDevice(model: CausalLM, prompts: Tensor, opts: BatchDecodeOptions): Tensor {
  const { temperature, topP } = checkDeviceSampling(opts, 'decodeOnDevice');
  if (prompts.dtype !== 'i32' || prompts.rank !== 2 || prompts.shape[1] < 1) {
    throw new KdgpuError(`decodeOnDevice: prompts must be i32 [B, T0] with T0 >= 1, got ${prompts.dtype} [${prompts.shape.join(', ')}]`);
  }
  const N = opts.maxNewTokens;
  if (!Number.isInteger(N) || N < 0) throw new KdgpuError(`decodeOnDevice: maxNewTokens must be a non-negative integer, got ${N}`);
  const [B, T0] = prompts.shape as [number, number];
  for (const m of [model, ...(opts.mix ? [opts.mix.model] : [])]) {
    if (T0 + N > maxPositions(m)) throw new KdgpuError(`decodeOnDevice: ${T0} prompt + ${N} new tokens exceed the model's ${maxPositions(m)} positions; shorten the prompt or maxNewTokens`);
  }
  const mix = opts.mix;
  if (mix) {
    if (!(mix.alpha >= 0 && mix.alpha <= 1)) throw new KdgpuError(`decodeOnDevice: mix.alpha must be in [0, 1], got ${mix.alpha}`);
    if (mix.model.config.vocab_size !== model.config.vocab_size) {
      throw new KdgpuError(`decodeOnDevice: the mixed-in model has ${mix.model.config.vocab_size} vocabulary rows, the sampled model ${model.config.vocab_size}; they must be equal`);
    }
  }
  const seed = (opts.seed ?? 0) * 2 ** 20;
  const eos = opts.eosTokenId ?? null;
  // log α and log(1 − α), [1, 2, 1], broadcast over [B, 2, V].
  const logMix = mix ? keep(tensor([Math.log(1 - mix.alpha), Math.log(mix.alpha)], { shape: [1, 2, 1] })) : null;
  const out = keep(empty([B, T0 + N], 'i32'));
  const cache = model.createKVCache();
  const mixCache = mix ? mix.model.createKVCache() : null;
  try {
    noGrad(() => {
      writeSlice(out, 1, 0, prompts);
      let feed = prompts; // i32 [B, T], what the next forward reads
      let done: Tensor | null = null; // f32 [B, 1]: 1 once a row emitted eos
      for (let step = 0; step < N; step++) {
        const r = tidy(() => {
          let logits = lastLogits(model, feed, cache); // [B, V]
          let t = temperature;
          if (mix && logMix && mixCache) {
            const V = logits.shape[1];
            const tau = temperature === 0 ? 1 : temperature;
            const q = logits.div(tau).logSoftmax(-1).reshape([B, 1, V]);
            const p = lastLogits(mix.model, feed, mixCache).div(tau).logSoftmax(-1).reshape([B, 1, V]);
            logits = cat([q, p], 1).add(logMix).logsumexp(1); // [B, V] log p̃
            t = temperature === 0 ? 0 : 1; // already tempered
          }
          let tok = sampleOnDevice(logits, { temperature: t, topP }, seed + step); // i32 [B, 1]
          let nextDone: Tensor | null = null;
          if (eos !== null) {
            const f = tok.cast('f32');
            const sampled = done ? where(done, eos, f) : f; // [B, 1]
            nextDone = sampled.eq(eos);
            tok = sampled.cast('i32');
          }
          return { tok, nextDone };
        });
        writeSlice(out, 1, T0 + step, r.tok);
        if (feed !== prompts) feed.dispose();
        feed = r.tok;
        if (r.nextDone) {
          done?.dispose();
          done = r.nextDone;
        }
      }
      if (feed !== prompts) feed.dispose();
      done?.dispose();
    });
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    cache.dispose();
    mixCache?.dispose();
    logMix?.dispose();
  }
  return out;
}

/**
 * Samples `maxNewTokens` tokens after each of the B prompts (`prompts` [B, T0] row-major) in one
 * batch on the GPU and reads the result back once. See {@link decodeOnDevice}.
 */
export async function generateBatch(model: CausalLM, prompts: Int32Array, shape: [number, number], opts: BatchDecodeOptions): Promise<BatchGeneration> {
  const [B, T0] = shape;
  if (prompts.length !== B * T0) throw new KdgpuError(`generateBatch: ${prompts.length} prompt ids for shape [${B}, ${T0}]`);
  const t0 = performance.now();
  const input = tensor(prompts, { shape: [B, T0], dtype: 'i32' });
  let out: Tensor;
  try {
    out = decodeOnDevice(model, input, opts);
  } finally {
    input.dispose();
  }
  const data = await out.data();
  out.dispose();
  const ms = performance.now() - t0;
  const ids = data instanceof Int32Array ? data : Int32Array.from(data);
  return { ids, shape: [B, T0 + opts.maxNewTokens], ms, tokensPerSecond: ms > 0 ? (B * opts.maxNewTokens * 1000) / ms : 0 };
}

/**
 * Valid continuation lengths of the rows of `ids` [B, T] whose continuation starts at `promptLength`:
 * up to and including the first `eos` (all of it when there is none or `eos` is null).
 */
export function continuationLengths(ids: Int32Array, shape: [number, number], promptLength: number, eos: number | null): number[] {
  const [B, T] = shape;
  return Array.from({ length: B }, (_, b) => {
    if (eos === null) return T - promptLength;
    for (let t = promptLength; t < T; t++) if (ids[b * T + t] === eos) return t - promptLength + 1;
    return T - promptLength;
  });
}
