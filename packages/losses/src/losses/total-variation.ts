import { tidy, where } from '@kdgpu/tensor';
import { defineLoss, type DefinedLoss } from '../define.ts';
import { pair } from '../pair.ts';
import type { DistillOptions } from '../types.ts';

/**
 * Total variation distance, ½ Σ_v |p(v) - q(v)| per token (DistiLLM `tv_distance`). Entries where
 * either logit is ±inf contribute 0, as in DistiLLM. The gradient of |x| at x = 0 is 0 (PyTorch's).
 *
 * @param studentLogits [N, V] or [B, T, V]
 * @param teacherLogits same shape (or a list of them)
 * @param labels [N] or [B, T] i32, or null
 */
export const totalVariation: DefinedLoss<DistillOptions> = defineLoss<DistillOptions>({
  name: 'totalVariation',
  needsTeacher: true,
  usesTemperature: true,
  ownOptions: [],
  perToken: (s, t) => {
    const d = pair(s, t!);
    const [fin, p, q] = [d.fin(), d.p(), d.q()];
    return tidy(() => where(fin, p.sub(q).abs(), 0).sum(-1).mul(0.5));
  },
});
