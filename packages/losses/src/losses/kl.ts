import { KdgpuError, type Tensor, tidy } from '@kdgpu/tensor';
import { defineLoss, type DefinedLoss } from '../define.ts';
import { pair, type Pair } from '../pair.ts';
import type { DistillOptions } from '../types.ts';
import { checkUnit } from '../validate.ts';

/**
 * Which quantity "forward KL" means:
 * - `'kl'`: KL(p‖q) = Σ p (log p - log q), which is 0 when q = p.
 * - `'crossEntropy'`: -Σ p log q = KL(p‖q) + H(p), what torchtune's `ForwardKLLoss` and DistiLLM's
 *   `forward_kl` compute. Same gradient with respect to the student; the value is larger by the
 *   teacher entropy H(p).
 */
export type ForwardForm = 'kl' | 'crossEntropy';

/** Options of `forwardKL`. */
export interface ForwardKLOptions extends DistillOptions {
  /** Default `'kl'`. */
  form?: ForwardForm;
}

/** Options of `symmetricKL`. */
export interface SymmetricKLOptions extends ForwardKLOptions {
  /**
   * r: weight of the forward term, L = r·FKL + (1 - r)·RKL, in [0, 1]. Default 0.5. torchtune's
   * `sym_kd_ratio` is r; DistiLLM's `symmetric_kl(lam)` weights the *reverse* term, so r = 1 - lam.
   */
  ratio?: number;
}

/** Throws unless `form` is a `ForwardForm` (or absent). */
export function checkForm(name: string, form: unknown): void {
  if (form !== undefined && form !== 'kl' && form !== 'crossEntropy') {
    throw new KdgpuError(`${name}: form must be 'kl' or 'crossEntropy', got ${JSON.stringify(form)}`);
  }
}

/** Per-token forward KL (see `ForwardForm`), summed over the vocabulary: [..., V] -> [...]. */
export function forwardTerm(d: Pair, form: ForwardForm): Tensor {
  // The pair's tensors are made (and owned) out here; the inner tidy frees the term's temporaries.
  const [p, lp, lq] = [d.p(), d.lp(), d.lq()];
  return tidy(() => (form === 'kl' ? p.mul(lp.sub(lq)).sum(-1) : p.mul(lq).sum(-1).neg()));
}

/** Per-token reverse KL(q‖p) = Σ q (log q - log p). */
export function reverseTerm(d: Pair): Tensor {
  const [q, lq, lp] = [d.q(), d.lq(), d.lp()];
  return tidy(() => q.mul(lq.sub(lp)).sum(-1));
}

/**
 * Forward KL, KL(p‖q) per token (p = teacher, q = student, both at temperature τ), or the
 * cross-entropy form -Σ p log q of torchtune/DistiLLM with `form: 'crossEntropy'`.
 * Vocabulary entries where either logit is ±inf contribute 0.
 *
 * @param studentLogits [N, V] or [B, T, V]
 * @param teacherLogits same shape (or a list of them, an ensemble)
 * @param labels [N] or [B, T] i32, `ignoreIndex` = not counted; null = all count
 * @returns scalar (or per-token with `reduction: 'none'`)
 */
export const forwardKL: DefinedLoss<ForwardKLOptions> = defineLoss<ForwardKLOptions>({
  name: 'forwardKL',
  needsTeacher: true,
  teacherSupportOnly: true,
  usesTemperature: true,
  ownOptions: ['form'],
  check: (o) => checkForm('forwardKL', o.form),
  perToken: (s, t, _l, o) => forwardTerm(pair(s, t!), o.form ?? 'kl'),
});

/**
 * Reverse KL, KL(q‖p) = Σ q (log q - log p) per token (torchtune `ReverseKLLoss`, DistiLLM
 * `reverse_kl`, MiniLLM's single-step term). Entries where either logit is ±inf contribute 0.
 *
 * @param studentLogits [N, V] or [B, T, V]
 * @param teacherLogits same shape (or a list of them)
 * @param labels [N] or [B, T] i32, or null
 */
export const reverseKL: DefinedLoss<DistillOptions> = defineLoss<DistillOptions>({
  name: 'reverseKL',
  needsTeacher: true,
  usesTemperature: true,
  ownOptions: [],
  perToken: (s, t) => reverseTerm(pair(s, t!)),
});

/**
 * Symmetric KL, r·FKL + (1 - r)·RKL per token (torchtune `SymmetricKLLoss`); r outside [0, 1] is
 * an error. `form` chooses the forward term as in `forwardKL` (torchtune's is `'crossEntropy'`).
 *
 * @param studentLogits [N, V] or [B, T, V]
 * @param teacherLogits same shape (or a list of them)
 * @param labels [N] or [B, T] i32, or null
 */
export const symmetricKL: DefinedLoss<SymmetricKLOptions> = defineLoss<SymmetricKLOptions>({
  name: 'symmetricKL',
  needsTeacher: true,
  usesTemperature: true,
  ownOptions: ['ratio', 'form'],
  check: (o) => {
    checkUnit('symmetricKL', 'ratio', o.ratio ?? 0.5);
    checkForm('symmetricKL', o.form);
  },
  perToken: (s, t, _l, o) => {
    const d = pair(s, t!);
    const r = o.ratio ?? 0.5;
    if (r === 1) return forwardTerm(d, o.form ?? 'kl');
    if (r === 0) return reverseTerm(d);
    const f = forwardTerm(d, o.form ?? 'kl');
    const b = reverseTerm(d);
    return tidy(() => f.mul(r).add(b.mul(1 - r)));
  },
});
