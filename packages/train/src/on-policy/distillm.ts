import type { CausalLM } from '@kdgpu/models';
import { mixSeed, mulberry32 } from '../random.ts';
import { accumulateGradients } from '../step.ts';
import { AdaptiveSgoSchedule, type AdaptiveSgoOptions } from './adaptive-schedule.ts';
import { generateWindow, newGenerationStats, type SamplingSettings } from './generate-window.ts';
import { newStats, type OnPolicyMethod, stepDraw } from './method.ts';
import { ReplayBuffer } from './replay-buffer.ts';

/**
 * DistiLLM (Ko et al. 2024): skew KL (configure `distill.loss` as skewForwardKL or skewReverseKL)
 * on an adaptive mix of data and student-generated outputs. Each step draws r and asks the
 * adaptive schedule (adaptive-schedule.ts): fresh student samples (pushed into the replay buffer),
 * a batch replayed from the buffer, or the data window. The schedule's threshold rises when the
 * validation loss gets worse, so the student sees more of its own outputs exactly when training on
 * the data stops paying. Generated and replayed windows count continuation tokens only.
 */

/** Settings of {@link distillm}. */
export interface DistillmOptions extends SamplingSettings, AdaptiveSgoOptions {
  /** Replay buffer capacity in rows (DistiLLM: 1000). */
  capacity: number;
  /** Seed of the draws, sampling and replay. */
  seed: number;
}

/** The DistiLLM method for `student`. */
export function distillm(student: CausalLM, o: DistillmOptions): OnPolicyMethod & { readonly schedule: AdaptiveSgoSchedule; readonly buffer: ReplayBuffer } {
  const schedule = new AdaptiveSgoSchedule(o);
  const buffer = new ReplayBuffer(o.capacity);
  const stats = newStats(newGenerationStats());
  return {
    name: 'distillm',
    stats,
    schedule,
    buffer,
    async prepare(micro, step, totalSteps) {
      const choice = schedule.choose(stepDraw(o.seed, step, 0x64736c), step, totalSteps, buffer.full);
      switch (choice) {
        case 'data':
          stats.dataSteps++;
          return null;
        case 'generate': {
          const samples = await generateWindow(student, micro, o, o.seed * 65536 + step, stats.generation);
          for (const b of samples) buffer.push(b);
          stats.generatedSteps++;
          return (s) => accumulateGradients({ ...s, micro: samples });
        }
        case 'replay': {
          const rng = mulberry32(mixSeed(o.seed, step, 0x72706c));
          const replayed = micro.map((b) => buffer.sample(b.shape[0], rng, b));
          stats.replaySteps++;
          return (s) => accumulateGradients({ ...s, micro: replayed });
        }
        default:
          return choice satisfies never;
      }
    },
    observeEval(loss) {
      schedule.observe(loss);
    },
  };
}
