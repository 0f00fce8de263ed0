import { noGrad, type Tensor, tidy, where } from '@kdgpu/tensor';

/**
 * Student and teacher distributions over the last axis, computed on demand and shared by the
 * terms of one loss. Logits arrive already divided by their temperatures.
 *
 * Infinite logits (padded vocabulary entries at -inf, truncated teacher tokens): the sources
 * (torchtune, DistiLLM) zero every vocabulary term where `isinf(student) | isinf(teacher)`. Zeroing
 * the *product* is not enough for gradients: d(q·log p)/dq = log p = -inf, times the zero that
 * masked_fill sends back, is NaN (the sources' reverse KL, JSD and skew losses have NaN student
 * gradients wherever only the teacher is -inf). So here the log-probabilities themselves are
 * replaced by 0 at those entries before any product; every term below is then finite and is
 * exactly 0 there (q·(lq - lp) = q·0), which matches the sources' values and gives finite
 * gradients. `q` and `p` are the true distributions except at those entries, where q = 1 and
 * p = 0 (no term depends on them there).
 */
export interface Pair {
  /** Student logits / τ, [..., V] (records gradients). */
  readonly s: Tensor;
  /** Processed teacher logits / τ, [..., V] (a constant). */
  readonly t: Tensor;
  /** 1 where both logits are finite, else 0. */
  fin(): Tensor;
  /** log q, 0 where either logit is infinite. */
  lq(): Tensor;
  /** log p, 0 where either logit is infinite. */
  lp(): Tensor;
  /** q = softmax(s) (1 where either logit is infinite; see above). */
  q(): Tensor;
  /** p = softmax(t), 0 where either logit is infinite. */
  p(): Tensor;
}

/** Computes `f` once, on first use. */
function lazy(f: () => Tensor): () => Tensor {
  let v: Tensor | undefined;
  return () => (v ??= f());
}

/**
 * Builds the on-demand distributions of one student/teacher pair (inside the caller's `tidy`, which
 * owns them). Each is computed in its own `tidy` so that its temporaries are freed at once; what it
 * depends on is fetched *before* that `tidy`, so the dependency belongs to the caller's scope too.
 */
export function pair(s: Tensor, t: Tensor): Pair {
  // s + t is ±inf or NaN exactly when either side is infinite (barring overflow past 3.4e38).
  const fin = lazy(() => tidy(() => noGrad(() => s.add(t).abs().lt(Infinity))));
  const lq = lazy(() => {
    const f = fin();
    return tidy(() => where(f, s.logSoftmax(-1), 0));
  });
  const lp = lazy(() => {
    const f = fin();
    return tidy(() => noGrad(() => where(f, t.logSoftmax(-1), 0)));
  });
  return {
    s,
    t,
    fin,
    lq,
    lp,
    // exp(lq) is the true q except where lq was zeroed, and there every term is 0 whatever q is
    // (q·(lq - lp) = q·0, and totalVariation masks its |p - q|).
    q: lazy(() => lq().exp()),
    // 0 where either logit is infinite: every term using p there is 0 anyway, and a teacher row that
    // is all -inf (padding at an ignored position) would otherwise give p = NaN, and NaN gradients.
    p: lazy(() => {
      const [f, l] = [fin(), lp()];
      return tidy(() => noGrad(() => where(f, l.exp(), 0)));
    }),
  };
}
