import { cat, KdgpuError, type Tensor, tensor, tidy } from '@kdgpu/tensor';

/**
 * MiniLLM's objective on student samples: the sequence-level reverse KL
 *   J(θ) = KL(q_θ(y|x) ‖ p(y|x)) = E_{y~q} Σ_t c_t,   c_t = log q(y_t|y<t) − log p(y_t|y<t),
 * whose gradient (the score-function identity; E[∇log q] = 0) is
 *   ∇J = E_{y~q} Σ_t ∇log q(y_t|·) · Σ_{k≥t} c_k.
 * Single-step decomposition (MiniLLM §2.2): the k = t part has the closed form ∇KL(q_t ‖ p_t) (the
 * token-level reverse KL over the whole vocabulary, given the prefix), so it is taken exactly and
 * only the future part Σ_{k>t} goes through the policy gradient, with lower variance:
 *   surrogate(y) = Σ_t [ KL(q_t ‖ p_t) + sg(w_t · F_t) · log q(y_t|·) ],   F_t = Σ_{k>t} γ^{k−t} c_k,
 * where sg stops the gradient. With γ = 1, no length normalisation and samples from q (w_t = 1),
 * E_{y~q} ∇surrogate = ∇J exactly (the test enumerates a toy vocabulary to check it).
 *
 * The knobs MiniLLM adds, each a deliberate bias for lower variance:
 * - `gamma` < 1 discounts the future cost;
 * - `lengthNorm` divides F_t by the number of future tokens it sums;
 * - teacher-mixed sampling draws y from p̃ = α·p + (1 − α)·q and weights the policy-gradient term by
 *   the per-token ratio w_t = q(y_t)/p̃(y_t) (not the sequence's product of ratios, which would be
 *   unbiased but of huge variance; the single-step term is not reweighted at all).
 */

/** Settings of {@link minillmLoss}. */
export interface MiniLLMLossOptions {
  /** Discount of future costs. Default 1. */
  gamma?: number;
  /** Divide the future cost at t by the number of valid tokens after t. Default false. */
  lengthNorm?: boolean;
  /** α of teacher-mixed sampling the samples came from (importance weights); 0: drawn from q. Default 0. */
  mixAlpha?: number;
}

/** Per-row terms of {@link minillmLoss}. */
export interface MiniLLMTerms {
  /** [B]: Σ over valid positions of the surrogate; its gradient is the estimator. */
  surrogate: Tensor;
  /** [B]: Σ over valid positions of the token-level reverse KL(q_t ‖ p_t), detached (for logs). */
  reverseKL: Tensor;
}

/**
 * The MiniLLM surrogate of sample rows. `student` and `teacher` are logits [B, T, V] at the
 * positions of `labels` [B, T] (next-token ids of the sample, -100 at prompt and padding
 * positions; continuationLabels makes them). The teacher side is treated as constant.
 */
export function minillmLoss(student: Tensor, teacher: Tensor, labels: Int32Array, opts: MiniLLMLossOptions = {}): MiniLLMTerms {
  const gamma = opts.gamma ?? 1;
  const alpha = opts.mixAlpha ?? 0;
  if (!(gamma > 0 && gamma <= 1)) throw new KdgpuError(`minillm: gamma must be in (0, 1], got ${gamma}`);
  if (!(alpha >= 0 && alpha < 1)) throw new KdgpuError(`minillm: mixAlpha must be in [0, 1), got ${alpha}`);
  if (student.rank !== 3 || teacher.rank !== 3 || student.shape.some((d, i) => d !== teacher.shape[i])) {
    throw new KdgpuError(`minillm: student and teacher logits must both be [B, T, V], got [${student.shape}] and [${teacher.shape}]`);
  }
  const [B, T] = student.shape as [number, number, number];
  if (labels.length !== B * T) throw new KdgpuError(`minillm: ${labels.length} labels for logits [${student.shape}]`);
  // CPU side: the mask, safe gather indices, the discount matrix and the length normaliser.
  const mask = new Float32Array(B * T);
  const safe = new Int32Array(B * T);
  const future = new Float32Array(B * T); // valid positions after t, per row
  for (let b = 0; b < B; b++) {
    let after = 0;
    for (let t = T - 1; t >= 0; t--) {
      const y = labels[b * T + t]!;
      future[b * T + t] = after;
      if (y !== -100) {
        mask[b * T + t] = 1;
        safe[b * T + t] = y;
        after++;
      }
    }
  }
  // disc[k, t] = γ^(k−t) for k > t, so (c @ disc)[b, t] = Σ_{k>t} γ^(k−t) c[b, k].
  const disc = new Float32Array(T * T);
  for (let k = 0; k < T; k++) for (let t = 0; t < k; t++) disc[k * T + t] = gamma ** (k - t);
  const norm = opts.lengthNorm ? future.map((n) => 1 / Math.max(1, n)) : null;
  return tidy(() => {
    const m = tensor(mask, { shape: [B, T] });
    const idx = tensor(safe, { shape: [B, T, 1], dtype: 'i32' });
    const lq = student.logSoftmax(-1); // [B, T, V]
    const lp = teacher.detach().logSoftmax(-1); // [B, T, V]
    const kl = lq.exp().mul(lq.sub(lp)).sum(-1).mul(m); // [B, T] token-level KL(q_t ‖ p_t)
    const lqy = lq.gather(2, idx).reshape([B, T]); // [B, T] log q(y_t)
    const lpy = lp.gather(2, idx).reshape([B, T]); // [B, T] log p(y_t)
    const lqd = lqy.detach();
    const cost = lqd.sub(lpy).mul(m); // [B, T] c_t
    let F = cost.matmul(tensor(disc, { shape: [T, T] })); // [B, T] Σ_{k>t} γ^(k−t) c_k
    if (norm) F = F.mul(tensor(norm, { shape: [B, T] }));
    if (alpha > 0) {
      // w_t = q(y_t) / (α p(y_t) + (1 − α) q(y_t)), in log space.
      const both = cat([lpy.add(Math.log(alpha)).reshape([B, T, 1]), lqd.add(Math.log(1 - alpha)).reshape([B, T, 1])], 2); // [B, T, 2]
      F = F.mul(lqd.sub(both.logsumexp(2)).exp());
    }
    const surrogate = kl.add(F.detach().mul(lqy).mul(m)).sum(-1); // [B]
    return { surrogate, reverseKL: kl.detach().sum(-1) };
  });
}
