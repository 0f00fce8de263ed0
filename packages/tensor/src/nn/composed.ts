import type { Tensor } from '../tensor.ts';
import { where } from '../ops/elementwise.ts';
import { arange } from '../creation.ts';
import { cat } from '../ops/movement.ts';
import { dropout as dropoutOp } from './dropout.ts';

/**
 * The transformer ops written with primitives only. They are the reference every fused kernel in
 * this folder is tested against (forward and gradients), and the fallback a user can read.
 */

export function geluTanhComposed(x: Tensor): Tensor {
  const c = Math.sqrt(2 / Math.PI);
  return x.mul(0.5).mul(x.add(x.mul(x).mul(x).mul(0.044715)).mul(c).tanh().add(1));
}

export function siluComposed(x: Tensor): Tensor {
  return x.mul(x.sigmoid());
}

export function swigluComposed(a: Tensor, b: Tensor): Tensor {
  return siluComposed(a).mul(b);
}

/** LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * w + b (biased variance, as PyTorch). */
export function layerNormComposed(x: Tensor, w: Tensor, b: Tensor | null, eps: number): Tensor {
  const mu = x.mean(-1, true);
  const xc = x.sub(mu);
  const y = xc.mul(xc.mul(xc).mean(-1, true).add(eps).rsqrt()).mul(w);
  return b ? y.add(b) : y;
}

/** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * w (LLaMA). */
export function rmsNormComposed(x: Tensor, w: Tensor, eps: number): Tensor {
  return x.mul(x.mul(x).mean(-1, true).add(eps).rsqrt()).mul(w);
}

/**
 * Rotary embedding, rotate-half convention (Hugging Face LlamaModel): x [..., T, D] with
 * cos/sin tables [maxPos, D/2]; positions offset..offset+T-1.
 */
export function rotaryComposed(x: Tensor, cos: Tensor, sin: Tensor, offset: number): Tensor {
  const T = x.shape[x.rank - 2];
  const D = x.shape[x.rank - 1];
  const c = cos.slice(0, offset, offset + T);
  const s = sin.slice(0, offset, offset + T);
  const c2 = c.reshape([T, D / 2]);
  const s2 = s.reshape([T, D / 2]);
  const x1 = x.slice(-1, 0, D / 2);
  const x2 = x.slice(-1, D / 2, D);
  return cat([x1.mul(c2).sub(x2.mul(s2)), x2.mul(c2).add(x1.mul(s2))], x.rank - 1);
}

/**
 * Causal self-attention softmax(Q K^T * scale + mask) V, composed: the reference the fused
 * kernels are tested against, and what `causalAttention` runs when it must drop out attention
 * probabilities (with `dropout`, applied to the probabilities as torch's attn_dropout).
 *
 * q [B, H, T, D] (the T newest positions), k and v [B, Hkv, S, D] with S >= T (cached positions
 * first) and H a multiple of Hkv: query head h reads key/value head floor(h / (H / Hkv)), as
 * transformers' repeat_kv. Query t attends to keys 0..t + S - T. The query heads of a group are
 * folded into the rows of one product with their key/value head, so keys and values are never
 * copied per head. Returns [B, H, T, D].
 */
export function attentionComposed(q: Tensor, k: Tensor, v: Tensor, scale: number, dropout?: { p: number; seed: number }): Tensor {
  const [B, H, T, D] = q.shape;
  const [, Hkv, S] = k.shape;
  const rep = H / Hkv;
  const qg = q.mul(scale).reshape([B, Hkv, rep * T, D]); // [B, Hkv, rep*T, D]
  let s = qg.matmul(k.transpose(-2, -1)).reshape([B, Hkv, rep, T, S]); // [B, Hkv, rep, T, S]
  // A single new query may attend to every key: no mask needed.
  if (T > 1) {
    const i = arange(T).reshape([T, 1]).add(S - T); // [T, 1]: the last key each query sees
    const j = arange(S).reshape([1, S]); // [1, S]
    s = where(j.gt(i), -Infinity, s);
  }
  let p = s.softmax(-1);
  if (dropout) p = dropoutOp(p, dropout.p, dropout.seed);
  return p.reshape([B, Hkv, rep * T, S]).matmul(v).reshape([B, H, T, D]); // [B, H, T, D]
}

/** Mean cross-entropy of logits [N, V] against labels [N] (i32), skipping `ignoreIndex`. */
export function crossEntropyComposed(logits: Tensor, labels: Tensor, ignoreIndex = -100): Tensor {
  const valid = labels.ne(ignoreIndex);
  const safe = where(valid, labels, 0).cast('i32').reshape([-1, 1]);
  const nll = logits.logSoftmax(-1).gather(1, safe).reshape([-1]).neg().mul(valid);
  return nll.sum().div(valid.sum().maximum(1));
}
