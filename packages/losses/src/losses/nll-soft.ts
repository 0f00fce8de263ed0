import { tidy } from '@kdgpu/tensor';
import { defineLoss, type DefinedLoss } from '../define.ts';
import { pair } from '../pair.ts';
import type { DistillOptions } from '../types.ts';

/**
 * Soft negative log-likelihood against a truncated teacher, ℓ_t = -Σ_v p̃(v) log q(v), where
 * p̃ = softmax(Truncate(z_T)/τ) keeps the teacher's top-p-then-top-k tokens (the pre-training
 * distillation paper's "NLL" loss with its top-0.95-100 default). Set `topP: 1, topK: 0` for no
 * truncation (then it equals `forwardKL` with `form: 'crossEntropy'`).
 *
 * @param studentLogits [N, V] or [B, T, V]
 * @param teacherLogits same shape (or a list of them)
 * @param labels [N] or [B, T] i32, or null
 */
export const nllSoft: DefinedLoss<DistillOptions> = defineLoss<DistillOptions>({
  name: 'nllSoft',
  needsTeacher: true,
  teacherSupportOnly: true,
  usesTemperature: true,
  ownOptions: [],
  defaults: { topP: 0.95, topK: 100 },
  perToken: (s, t) => {
    const d = pair(s, t!);
    const [p, lq] = [d.p(), d.lq()];
    return tidy(() => p.mul(lq).sum(-1).neg());
  },
});
