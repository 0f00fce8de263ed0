import { KdgpuError, noGrad, tidy, where } from '@kdgpu/tensor';
import { defineLoss, type DefinedLoss } from '../define.ts';
import type { CommonOptions } from '../types.ts';
import { checkUnit } from '../validate.ts';

/** Options of `crossEntropy`. */
export interface CrossEntropyOptions extends CommonOptions {
  /** ε: the target is (1 - ε)·onehot + ε/V, as `F.cross_entropy(label_smoothing=ε)`. Default 0. */
  labelSmoothing?: number;
}

/**
 * Cross-entropy with hard labels, ℓ_t = -log q(y_t) (PyTorch's `F.cross_entropy`), or with label
 * smoothing ε: ℓ_t = -(1-ε)·log q(y_t) - (ε/V)·Σ_v log q(v). No temperature, no teacher (pass null;
 * a teacher is accepted and ignored, so every loss has the same signature).
 *
 * Like PyTorch, nothing is zeroed at infinite logits: a label whose logit is -inf gives +inf, and
 * so does label smoothing over a vocabulary with a -inf entry.
 *
 * @param studentLogits [N, V] or [B, T, V]
 * @param labels [N] or [B, T] i32 token ids in [0, V), or `ignoreIndex`
 * @returns scalar (or [N] / [B, T] with `reduction: 'none'`)
 */
export const crossEntropy: DefinedLoss<CrossEntropyOptions> = defineLoss<CrossEntropyOptions>({
  name: 'crossEntropy',
  needsTeacher: false,
  usesTemperature: false,
  ownOptions: ['labelSmoothing'],
  check: (o) => checkUnit('crossEntropy', 'labelSmoothing', o.labelSmoothing ?? 0),
  perToken: (s, _t, labels, o) => {
    if (labels === null) throw new KdgpuError('crossEntropy: needs labels ([N] or [B, T] i32), got null');
    const ignore = o.ignoreIndex ?? -100;
    const lq = s.logSoftmax(-1);
    // Ignored positions read index 0 (out-of-range indices would gather NaN); they are masked later.
    const idx = tidy(() => noGrad(() => where(labels.eq(ignore), 0, labels)).reshape([...labels.shape, 1]));
    const nll = tidy(() => lq.gather(-1, idx).reshape(labels.shape).neg());
    const eps = o.labelSmoothing ?? 0;
    if (eps === 0) return nll;
    return tidy(() => nll.mul(1 - eps).sub(lq.mean(-1).mul(eps)));
  },
});
