import { keep, randn, full, splitSizes, type Tensor, tensor } from '@kdgpu/tensor';
import type { ModelConfig } from './config.ts';
import type { KVCache } from './kv-cache.ts';

/** Options of `forward` / `hiddenStates`. */
export interface ForwardOptions {
  /**
   * Position of the first token of `ids` (rotary angle / learned position row). Defaults to
   * `kvCache.length` with a cache, else 0.
   */
  positionOffset?: number;
  /** Attend to the cached positions too, and append this call's keys/values to the cache. */
  kvCache?: KVCache;
  /**
   * Training mode: apply the config's dropout rates with masks keyed by this seed (a
   * non-negative integer below 2^40). Omitted (the default): no dropout, as `model.eval()`.
   */
  dropoutSeed?: number;
}

/** What every causal language model here provides (the architecture files implement it). */
export interface CausalLM {
  /** The Hugging Face-style config the model was built from. */
  readonly config: ModelConfig;
  /**
   * The trainable tensors by Hugging Face name (`model.layers.0.self_attn.q_proj.weight`, ...),
   * in checkpoint layout. Tied weights appear once (under the embedding's name). Hand these to
   * an optimizer; `assign()` replaces values in place.
   */
  parameters(): Map<string, Tensor>;
  /** ids: i32 [B, T] -> logits [B, T, V]. */
  forward(ids: Tensor, opts?: ForwardOptions): Tensor;
  /** ids: i32 [B, T] -> final hidden states [B, T, C] (after the final norm, before the LM head). */
  hiddenStates(ids: Tensor, opts?: ForwardOptions): Tensor;
  /** The LM head: hidden [B, T, C] -> logits [B, T, V]. */
  logits(hidden: Tensor): Tensor;
  /**
   * The LM head's weight [V, C] (logits = hidden @ weightᵀ): the token embedding when tied. The
   * parameter itself, not a copy, for a fused head + loss (`fusedHeadLoss` in @kdgpu/losses).
   */
  headWeight(): Tensor;
  /**
   * Logits in `numChunks` pieces along the sequence, [B, T_i, V] each, split as torch.tensor_split
   * (the first T mod numChunks pieces get one extra position), so a loss can process one piece at
   * a time (torchtune's chunked output).
   */
  chunkedLogits(hidden: Tensor, numChunks: number): Tensor[];
  /** An empty cache sized for this model. */
  createKVCache(): KVCache;
  /** Total number of parameter elements (tied weights counted once). */
  numParameters(): number;
  /** Frees every parameter. */
  dispose(): void;
}

/** Options for building a model. */
export interface BuildOptions {
  /** Seed of the initialization (default 0): the same seed gives the same weights on every run. */
  seed?: number;
  /**
   * `'hf'` (default): transformers' `_init_weights`. `'zeros'`: every tensor zero (cheap, for
   * models whose weights are loaded right after).
   */
  init?: 'hf' | 'zeros';
}

/** How one parameter is initialized. */
export type ParamInit = { kind: 'normal'; std: number; zeroRow?: number | null } | { kind: 'ones' } | { kind: 'zeros' };

/** FNV-1a of a string: a stable per-name seed, independent of creation order. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Creates a parameter leaf (requiresGrad, owned by the model: outside every tidy scope). */
export function makeParam(name: string, shape: number[], init: ParamInit, opts: BuildOptions): Tensor {
  let t: Tensor;
  if (opts.init === 'zeros' || init.kind === 'zeros') t = full(shape, 0);
  else if (init.kind === 'ones') t = full(shape, 1);
  else {
    // Seeds below 2^21 keep seed * 2^32 + hash exact in a double.
    const seed = ((opts.seed ?? 0) % 2 ** 21) * 2 ** 32 + hash32(name);
    t = randn(shape, { seed, std: init.std });
    if (init.zeroRow != null) {
      // nn.Embedding(padding_idx): that row starts at zero.
      const mask = new Float32Array(shape[0]).fill(1);
      mask[init.zeroRow] = 0;
      const m = tensor(mask, { shape: [shape[0], 1] });
      const z = t.mul(m);
      t.dispose();
      m.dispose();
      t = z;
    }
  }
  keep(t);
  t.requiresGrad = true;
  return t;
}

/** Applies `head` to the `numChunks` pieces of hidden [B, T, C] along T of torch.tensor_split (some empty when numChunks > T). */
export function chunked(hidden: Tensor, numChunks: number, head: (h: Tensor) => Tensor): Tensor[] {
  if (!Number.isInteger(numChunks) || numChunks < 1) throw new Error(`chunkedLogits: numChunks must be a positive integer, got ${numChunks}`);
  let start = 0;
  return splitSizes(hidden.shape[1], numChunks).map((n) => {
    const out = head(hidden.slice(1, start, start + n));
    start += n;
    return out;
  });
}

/** Checks ids for forward: i32 [B, T] with T >= 1. */
export function checkIds(ids: Tensor, who: string): [number, number] {
  if (ids.dtype !== 'i32' || ids.rank !== 2 || ids.shape[1] < 1) {
    throw new Error(`${who}.forward: ids must be i32 [B, T] with T >= 1, got ${ids.dtype} [${ids.shape.join(', ')}] (make them with tensor(ids, { dtype: 'i32' }))`);
  }
  return [ids.shape[0], ids.shape[1]];
}

/** A per-site dropout seed from the forward's seed. */
export function siteSeed(seed: number, site: number): number {
  return seed * 4096 + site;
}
