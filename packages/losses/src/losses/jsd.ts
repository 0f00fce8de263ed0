import { type Tensor, tidy } from '@kdgpu/tensor';
import { defineLoss, type DefinedLoss } from '../define.ts';
import { logAddExp } from '../math.ts';
import { pair, type Pair } from '../pair.ts';
import type { DistillOptions } from '../types.ts';
import { checkUnit } from '../validate.ts';
import { forwardTerm, reverseTerm } from './kl.ts';

/** Options of `generalizedJSD`. */
export interface GeneralizedJSDOptions extends DistillOptions {
  /** β in [0, 1]: weight of the teacher in M = βp + (1 - β)q. Default 0.5 (TRL's GKD default). */
  beta?: number;
}

/**
 * Per-token generalized JSD (GKD, Agarwal et al. eq. 1): β·KL(p‖M) + (1 - β)·KL(q‖M) with
 * M = βp + (1 - β)q, log M = logaddexp(log p + log β, log q + log(1 - β)). At β = 0 and β = 1 the
 * formula is identically 0; like TRL, those ends are taken as the scaled limits KL(p‖q) and KL(q‖p).
 */
export function jsdTerm(d: Pair, beta: number): Tensor {
  if (beta === 0) return forwardTerm(d, 'kl');
  if (beta === 1) return reverseTerm(d);
  const [p, q, lp, lq] = [d.p(), d.q(), d.lp(), d.lq()];
  return tidy(() => {
    const lM = logAddExp(lp.add(Math.log(beta)), lq.add(Math.log1p(-beta)));
    const kp = tidy(() => p.mul(lp.sub(lM)).sum(-1));
    const kq = tidy(() => q.mul(lq.sub(lM)).sum(-1));
    return kp.mul(beta).add(kq.mul(1 - beta));
  });
}

/**
 * Generalized Jensen-Shannon divergence (GKD; TRL `generalized_jsd_loss`), β·KL(p‖M) +
 * (1 - β)·KL(q‖M), M = βp + (1 - β)q, with β = 0 → forward KL(p‖q) and β = 1 → reverse KL(q‖p).
 * DistiLLM's `js_distance(lam)` is β = 1 - lam. Entries where either logit is ±inf contribute 0
 * (DistiLLM's rule; TRL does not guard them).
 *
 * @param studentLogits [N, V] or [B, T, V]
 * @param teacherLogits same shape (or a list of them)
 * @param labels [N] or [B, T] i32, or null
 */
export const generalizedJSD: DefinedLoss<GeneralizedJSDOptions> = defineLoss<GeneralizedJSDOptions>({
  name: 'generalizedJSD',
  needsTeacher: true,
  usesTemperature: true,
  ownOptions: ['beta'],
  check: (o) => checkUnit('generalizedJSD', 'beta', o.beta ?? 0.5),
  perToken: (s, t, _l, o) => jsdTerm(pair(s, t!), o.beta ?? 0.5),
});

/**
 * Jensen-Shannon divergence, ½KL(p‖M) + ½KL(q‖M) with M = (p + q)/2: `generalizedJSD` at β = 0.5.
 *
 * @param studentLogits [N, V] or [B, T, V]
 * @param teacherLogits same shape (or a list of them)
 * @param labels [N] or [B, T] i32, or null
 */
export const jsDivergence: DefinedLoss<DistillOptions> = defineLoss<DistillOptions>({
  name: 'jsDivergence',
  needsTeacher: true,
  usesTemperature: true,
  ownOptions: [],
  perToken: (s, t) => jsdTerm(pair(s, t!), 0.5),
});
