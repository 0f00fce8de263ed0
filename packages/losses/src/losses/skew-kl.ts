import { tidy } from '@kdgpu/tensor';
import { defineLoss, type DefinedLoss } from '../define.ts';
import { logAddExp, logWeight } from '../math.ts';
import { pair } from '../pair.ts';
import type { DistillOptions } from '../types.ts';
import { checkUnit } from '../validate.ts';
import { checkForm, type ForwardForm } from './kl.ts';

/** Options of `skewForwardKL` and `skewReverseKL`. */
export interface SkewKLOptions extends DistillOptions {
  /** α in [0, 1], the skew. Default 0.1 (DistiLLM's `--skew-alpha`). */
  alpha?: number;
}

/** Options of `skewForwardKL`. */
export interface SkewForwardKLOptions extends SkewKLOptions {
  /** `'kl'`: KL(p‖M) (default, 0 when q = p); `'crossEntropy'`: -Σ p log M = KL(p‖M) + H(p), DistiLLM's code. */
  form?: ForwardForm;
}

/**
 * Skew forward KL (DistiLLM `skewed_forward_kl`): KL(p‖M) with M = αp + (1 - α)q, formed in
 * probability space and computed in log space, log M = logaddexp(log α + log p, log(1-α) + log q),
 * so no log(0). The student q inside M is not detached: gradients flow through the mixture, as in
 * DistiLLM. α = 0 is forward KL; α = 1 is 0. Entries where either logit is ±inf contribute 0.
 *
 * @param studentLogits [N, V] or [B, T, V]
 * @param teacherLogits same shape (or a list of them)
 * @param labels [N] or [B, T] i32, or null
 */
export const skewForwardKL: DefinedLoss<SkewForwardKLOptions> = defineLoss<SkewForwardKLOptions>({
  name: 'skewForwardKL',
  needsTeacher: true,
  teacherSupportOnly: true,
  usesTemperature: true,
  ownOptions: ['alpha', 'form'],
  check: (o) => {
    checkUnit('skewForwardKL', 'alpha', o.alpha ?? 0.1);
    checkForm('skewForwardKL', o.form);
  },
  perToken: (s, t, _l, o) => {
    const d = pair(s, t!);
    const a = o.alpha ?? 0.1;
    const [p, lp, lq] = [d.p(), d.lp(), d.lq()];
    const lM = tidy(() => logAddExp(lp.add(logWeight(a)), lq.add(logWeight(1 - a))));
    return tidy(() => ((o.form ?? 'kl') === 'kl' ? p.mul(lp.sub(lM)).sum(-1) : p.mul(lM).sum(-1).neg()));
  },
});

/**
 * Skew reverse KL (DistiLLM `skewed_reverse_kl`): KL(q‖M) with M = (1 - α)p + αq, computed in log
 * space like `skewForwardKL`, gradients flowing through q inside M. α = 0 is reverse KL; α = 1 is 0.
 *
 * @param studentLogits [N, V] or [B, T, V]
 * @param teacherLogits same shape (or a list of them)
 * @param labels [N] or [B, T] i32, or null
 */
export const skewReverseKL: DefinedLoss<SkewKLOptions> = defineLoss<SkewKLOptions>({
  name: 'skewReverseKL',
  needsTeacher: true,
  usesTemperature: true,
  ownOptions: ['alpha'],
  check: (o) => checkUnit('skewReverseKL', 'alpha', o.alpha ?? 0.1),
  perToken: (s, t, _l, o) => {
    const d = pair(s, t!);
    const a = o.alpha ?? 0.1;
    const [q, lp, lq] = [d.q(), d.lp(), d.lq()];
    const lM = tidy(() => logAddExp(lp.add(logWeight(1 - a)), lq.add(logWeight(a))));
    return tidy(() => q.mul(lq.sub(lM)).sum(-1));
  },
});
