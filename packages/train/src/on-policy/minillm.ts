import type { CausalLM } from '@kdgpu/models';
import { KdgpuError, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import type { Batch } from '../blocks.ts';
import { accumulateGradients, batchLabels, countValid, runTeachers } from '../step.ts';
import { generateWindow, newGenerationStats, type SamplingSettings } from './generate-window.ts';
import { newStats, type OnPolicyMethod } from './method.ts';
import { minillmLoss, type MiniLLMLossOptions } from './minillm-loss.ts';

/**
 * MiniLLM (Gu et al. 2024): the sequence-level reverse KL KL(q_θ ‖ p) minimised by policy gradient
 * on the student's samples, with the single-step decomposition, teacher-mixed sampling and length
 * normalisation (minillm-loss.ts has the estimator and its approximations). Every step:
 *  1. the window's prompts are continued by sampling from p̃ = α·p + (1 − α)·q (α = `mixAlpha`,
 *     MiniLLM's 0.2), in one batched generation;
 *  2. the student and the teacher score the samples; the surrogate is summed over the window's
 *     continuation tokens and divided by their number, and backpropagated;
 *  3. with `ptLoss`, MiniLLM's pre-training term is added: the ordinary off-policy step on the
 *     data window ((1 − kdRatio)·CE + kdRatio·KD with the configured loss; MiniLLM's lm_coef = 1).
 * Approximations beyond those of the estimator: one gradient step per rollout (MiniLLM runs 4 PPO
 * epochs over 256-sample rollouts; with one step the PPO ratio is 1 and its clip never acts), no
 * advantage whitening, no reward scaling or clipping. The logged KD value is the token-level reverse
 * KL on the samples (per token), not the surrogate.
 */

/** Settings of {@link minillm}. */
export interface MiniLLMOptions extends SamplingSettings, MiniLLMLossOptions {
  /** α of teacher-mixed sampling (MiniLLM: 0.2). */
  mixAlpha: number;
  /** Add the off-policy step on the data window (MiniLLM's pt_loss). */
  ptLoss: boolean;
  /** Seed of sampling. */
  seed: number;
}

/** The MiniLLM method for `student`, with `teacher` the model mixed into sampling and scoring. */
export function minillm(student: CausalLM, teacher: CausalLM, o: MiniLLMOptions): OnPolicyMethod {
  if (teacher.config.vocab_size !== student.config.vocab_size) {
    throw new KdgpuError(`distill.method "minillm": the teacher has ${teacher.config.vocab_size} vocabulary rows, the student ${student.config.vocab_size}; teacher-mixed sampling needs the same vocabulary`);
  }
  const stats = newStats(newGenerationStats());
  return {
    name: 'minillm',
    stats,
    async prepare(micro, step) {
      const samples = await generateWindow(student, micro, o, o.seed * 65536 + step, stats.generation, o.mixAlpha > 0 ? { model: teacher, alpha: o.mixAlpha } : undefined);
      stats.generatedSteps++;
      return (s) => {
        const pt = o.ptLoss ? accumulateGradients(s) : null;
        const rl = policyGradientWindow(student, teacher, samples, o);
        return tidy(() => ({
          total: pt ? pt.total.add(rl.surrogate) : rl.surrogate,
          ce: pt ? pt.ce : rl.surrogate.mul(0),
          kd: rl.reverseKL,
        }));
      };
    },
  };
}

/**
 * Forward and backward of the MiniLLM surrogate over sample batches, normalised by the number of
 * continuation tokens of the window. Returns the detached surrogate and the per-token reverse KL.
 */
export function policyGradientWindow(student: CausalLM, teacher: CausalLM, samples: readonly Batch[], o: MiniLLMLossOptions): { surrogate: Tensor; reverseKL: Tensor } {
  const labels = samples.map((b) => batchLabels(b));
  const n = Math.max(1, samples.reduce((a, b, i) => a + countValid(labels[i]!, b.shape[0], b.shape[1]), 0));
  return tidy(() => {
    let sur: Tensor | null = null;
    let rkl: Tensor | null = null;
    samples.forEach((batch, i) => {
      const [B, T] = batch.shape;
      const part = tidy(() => {
        const ids = tensor(batch.ids, { shape: [B, T], dtype: 'i32' });
        const logits = student.forward(ids); // [B, T, V]
        const t = runTeachers({ kind: 'models', models: [teacher] }, ids, batch) as Tensor; // [B, T, V]
        const terms = minillmLoss(logits, t, labels[i]!, o);
        const loss = terms.surrogate.sum().div(n);
        loss.backward();
        return { s: loss.detach(), k: terms.reverseKL.sum().div(n) };
      });
      sur = sur ? (sur as Tensor).add(part.s) : part.s;
      rkl = rkl ? (rkl as Tensor).add(part.k) : part.k;
    });
    return { surrogate: sur!, reverseKL: rkl! };
  });
}
