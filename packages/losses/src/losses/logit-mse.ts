import { noGrad, tidy, where } from '@kdgpu/tensor';
import { defineLoss, type DefinedLoss } from '../define.ts';
import type { CommonOptions, DistillOptions } from '../types.ts';

/** Options of `logitMSE`: no temperature (it compares raw logits). */
export type LogitMSEOptions = CommonOptions & Pick<DistillOptions, 'topK' | 'topP' | 'ensemble' | 'teacherWeights'>;

/**
 * Mean squared error between student and teacher logits, ℓ_t = (1/V) Σ_v (z_S - z_T)², the MSE
 * option of the pre-training distillation paper (Peng et al. 2024); with every position valid and
 * `reduction: 'mean'` it equals `F.mse_loss(z_S, z_T)`. Raw logits: no temperature, no softmax.
 * Entries where either logit is ±inf (including teacher tokens removed by topK/topP) contribute 0.
 *
 * @param studentLogits [N, V] or [B, T, V]
 * @param teacherLogits same shape (or a list of them)
 * @param labels [N] or [B, T] i32, or null
 */
export const logitMSE: DefinedLoss<LogitMSEOptions> = defineLoss<LogitMSEOptions>({
  name: 'logitMSE',
  needsTeacher: true,
  usesTemperature: false,
  ownOptions: [],
  // Raw logits: a sparse teacher holds log-probabilities of k tokens only.
  sparse: false,
  perToken: (s, t) => {
    const fin = tidy(() => noGrad(() => s.add(t!).abs().lt(Infinity)));
    const diff = tidy(() => where(fin, s.sub(t!), 0));
    return tidy(() => diff.mul(diff).mean(-1));
  },
});
