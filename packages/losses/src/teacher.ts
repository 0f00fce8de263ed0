import { noGrad, type Tensor, tidy, where } from '@kdgpu/tensor';
import { logAddExp } from './math.ts';
import type { DistillOptions } from './types.ts';

/**
 * Teacher-side processing, in this order (the pre-training distillation paper's
 * F(z) = softmax(Truncate(z) / τ)):
 * 1. ensemble: several teachers' logits averaged (Baby Llama), or their probabilities averaged,
 *    giving log p̄ as the logits;
 * 2. truncation: top-p, then top-k, chosen on softmax(z) at τ = 1; dropped tokens get logit -inf,
 *    so the softmax renormalises over the kept ones;
 * 3. temperature: z / τ_teacher.
 * The teacher is a constant: nothing here records gradients.
 */
export function teacherLogits(teachers: readonly Tensor[], o: DistillOptions): Tensor {
  return noGrad(() => {
    let z = ensemble(teachers, o);
    // top-k with k >= V keeps everything: skip the search.
    const topK = o.topK !== undefined && o.topK > 0 && o.topK < z.shape[z.rank - 1] ? o.topK : undefined;
    if ((o.topP !== undefined && o.topP < 1) || topK !== undefined) z = truncate(z, o.topP, topK);
    const tau = o.teacherTemperature ?? o.temperature ?? 1;
    return tau === 1 ? z : z.div(tau);
  });
}

function ensemble(teachers: readonly Tensor[], o: DistillOptions): Tensor {
  if (teachers.length === 1) return teachers[0];
  const raw = o.teacherWeights ?? teachers.map(() => 1);
  const total = raw.reduce((a, b) => a + b, 0);
  const w = raw.map((x) => x / total);
  // Zero-weight teachers are left out rather than multiplied by 0 (0·(-inf) is NaN).
  const used = teachers.map((t, i) => [t, w[i]] as const).filter(([, wi]) => wi > 0);
  if ((o.ensemble ?? 'logits') === 'logits') {
    return used.map(([t, wi]) => t.mul(wi)).reduce((a, b) => a.add(b));
  }
  // Probabilities: log Σ w_i softmax(z_i), accumulated in log space so that small probabilities of
  // one teacher do not underflow to log(0) when another teacher covers them. The teacher
  // temperature then applies to this averaged distribution (step 3).
  return used.map(([t, wi]) => t.logSoftmax(-1).add(Math.log(wi))).reduce((a, b) => logAddExp(a, b));
}

/** Bisection steps of the threshold search (see `searchThreshold`). */
const SEARCH_STEPS = 40;

/**
 * Sets to -inf every logit outside the top-p set and/or the top-k set of softmax(z) along the last
 * axis. Both sets are prefixes of the tokens sorted by probability, so "top-p, then at most k of
 * those" is their intersection, {z >= max(θ_p, θ_k)}. There is no sort on the GPU here: θ_p is the
 * largest θ whose set {z >= θ} still holds mass p, θ_k the largest that still holds k tokens, and
 * max(θ_p, θ_k) is the largest θ for which either holds, found by one bisection.
 */
export function truncate(z: Tensor, topP: number | undefined, topK: number | undefined): Tensor {
  return tidy(() => {
    const hi = z.max(-1, true);
    const lo = where(z.gt(-Infinity), z, Infinity).min(-1, true);
    const probs = topP !== undefined && topP < 1 ? z.softmax(-1) : null;
    const enough = (theta: Tensor): Tensor => {
      const kept = z.ge(theta);
      const byK = topK === undefined ? null : kept.sum(-1, true).ge(topK);
      const byP = probs === null ? null : kept.mul(probs).sum(-1, true).ge(topP!);
      return byK && byP ? byK.maximum(byP) : (byK ?? byP)!;
    };
    return where(z.ge(searchThreshold(lo, hi, enough)), z, -Infinity);
  });
}

/**
 * The largest θ in [lo, hi] (per row, shapes [..., 1]) with ok(θ), for ok monotone (true below
 * the answer, false above). After SEARCH_STEPS halvings [lo, hi] is (hi - lo) / 2^40 wide, so
 * {z >= θ} is exactly the wanted set unless two distinct logits lie closer than that across the
 * threshold (then both are kept or both dropped). Ties at the threshold are kept together
 * (torch.topk would keep an arbitrary one of them).
 */
function searchThreshold(lo0: Tensor, hi0: Tensor, ok: (theta: Tensor) => Tensor): Tensor {
  let lo = lo0;
  let hi = hi0;
  for (let i = 0; i < SEARCH_STEPS; i++) {
    const [nlo, nhi] = tidy(() => {
      const mid = lo.mul(0.5).add(hi.mul(0.5));
      const good = ok(mid);
      return [where(good, mid, lo), where(good, hi, mid)];
    });
    if (lo !== lo0) lo.dispose();
    if (hi !== hi0) hi.dispose();
    lo = nlo;
    hi = nhi;
  }
  // hi itself may be the answer (k = 1, or the top token alone holds mass p); bisection only
  // approaches it from below.
  return where(ok(hi), hi, lo);
}
