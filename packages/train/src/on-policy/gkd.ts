import type { CausalLM } from '@kdgpu/models';
import { KdgpuError } from '@kdgpu/tensor';
import { accumulateGradients } from '../step.ts';
import { generateWindow, newGenerationStats, type SamplingSettings } from './generate-window.ts';
import { newStats, type OnPolicyMethod, stepDraw } from './method.ts';

/**
 * GKD (Agarwal et al. 2024, "On-policy distillation of language models"; TRL's GKDTrainer): with
 * probability λ (`lmbda`, TRL's default 0.5) an optimizer window is replaced by the student's own
 * continuations of the window's prompts, and the configured divergence (the generalized JSD with
 * β is GKD's; any loss of the zoo works) is taken on the continuation tokens only; otherwise the
 * window is the data's, trained exactly as the off-policy step. λ = 0 is off-policy distillation,
 * step for step (a test checks the weights are identical).
 */

/** Settings of {@link gkd}. */
export interface GkdOptions extends SamplingSettings {
  /** Probability that a window is the student's samples. */
  lmbda: number;
  /** Seed of the per-step draws and of sampling. */
  seed: number;
}

/** The GKD method for `student` (the model being trained). */
export function gkd(student: CausalLM, o: GkdOptions): OnPolicyMethod {
  if (!(o.lmbda >= 0 && o.lmbda <= 1)) throw new KdgpuError(`distill.onPolicy.lmbda must be in [0, 1], got ${o.lmbda}`);
  const stats = newStats(newGenerationStats());
  return {
    name: 'gkd',
    stats,
    async prepare(micro, step) {
      if (!(stepDraw(o.seed, step, 0x676b64) < o.lmbda)) {
        stats.dataSteps++;
        return null;
      }
      const samples = await generateWindow(student, micro, o, o.seed * 65536 + step, stats.generation);
      stats.generatedSteps++;
      return (s) => accumulateGradients({ ...s, micro: samples });
    },
  };
}
