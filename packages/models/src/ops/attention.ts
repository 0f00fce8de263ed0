import { nn, tensor, type Tensor } from '@kdgpu/tensor';

/** Options of `causalAttention`. */
export interface AttentionOptions {
  /** Multiplies the scores; usually 1 / sqrt(D). */
  scale: number;
  /** Dropout on the attention probabilities (training only). */
  dropout?: { p: number; seed: number };
}

/** Additive causal mask [T, S] for T queries after `S - T` cached positions: 0 where key j <= S - T + i, else -inf. */
export function causalMask(T: number, S: number): Tensor {
  const m = new Float32Array(T * S);
  const past = S - T;
  for (let i = 0; i < T; i++) for (let j = past + i + 1; j < S; j++) m[i * S + j] = -Infinity;
  return tensor(m, { shape: [T, S] });
}

/**
 * Causal scaled dot-product attention with grouped-query heads.
 *
 * q: [B, H, T, D] (the T newest positions), k, v: [B, Hkv, S, D] with S >= T (cached positions
 * first), H a multiple of Hkv; query head h reads key/value head floor(h / (H / Hkv)), as
 * transformers' repeat_kv. Returns [B, H, T, D].
 *
 * Grouping is done by folding the query heads of a group into the row dimension, so keys and
 * values are never copied per head. Composed from primitives; a fused kernel may replace it.
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
  // The fused kernel has no attention dropout; training with attn_pdrop takes the composed path.
  if (!opts.dropout) return nn.causalAttention(q, k, v, opts.scale);
  const [B, H, T, D] = q.shape;
  const [, Hkv, S] = k.shape;
  const rep = H / Hkv;
  const qg = q.mul(opts.scale).reshape([B, Hkv, rep * T, D]); // [B, Hkv, rep*T, D]
  let att = qg.matmul(k.transpose()).reshape([B, Hkv, rep, T, S]); // [B, Hkv, rep, T, S]
  // A single new query may attend to every cached key: no mask needed.
  if (T > 1) att = att.add(causalMask(T, S));
  att = att.softmax(-1);
  att = nn.dropout(att, opts.dropout.p, opts.dropout.seed);
  const y = att.reshape([B, Hkv, rep * T, S]).matmul(v); // [B, Hkv, rep*T, D]
  return y.reshape([B, H, T, D]);
}
