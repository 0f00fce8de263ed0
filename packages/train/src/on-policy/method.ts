import type { Batch } from '../blocks.ts';
import { mixSeed, mulberry32 } from '../random.ts';
import type { WindowInputs, WindowLosses } from '../step.ts';
import type { GenerationStats } from './generate-window.ts';

/**
 * What an on-policy method gives the trainer: before each optimizer step it sees the data window
 * and says what the step records instead (or null: the ordinary off-policy step on the data).
 * Generation is asynchronous (one readback per batch of samples), so it happens here, before the
 * step is recorded; the returned function records forward and backward synchronously, like
 * `accumulateGradients`, whose inputs it receives.
 */

/** Records one window's gradients and returns its detached losses (see `accumulateGradients`). */
export type WindowFn = (s: WindowInputs) => WindowLosses;

/** Counters of what a method did, for reports. */
export interface OnPolicyStats {
  /** Steps trained on fresh student samples. */
  generatedSteps: number;
  /** Steps trained on replayed samples. */
  replaySteps: number;
  /** Steps trained on the data window as is. */
  dataSteps: number;
  /** Generation work (calls, tokens, milliseconds). */
  generation: GenerationStats;
}

/** An on-policy distillation method (gkd.ts, distillm.ts, minillm.ts). */
export interface OnPolicyMethod {
  readonly name: 'gkd' | 'distillm' | 'minillm';
  /**
   * Called before step `step` (0-based) of `totalSteps` with the data window. Returns the window
   * function the step records, or null for the off-policy step on `micro`.
   */
  prepare(micro: readonly Batch[], step: number, totalSteps: number): Promise<WindowFn | null>;
  /** Called with each validation loss (DistiLLM's schedule reads it). */
  observeEval?(loss: number): void;
  readonly stats: OnPolicyStats;
}

/** The uniform draw of step `step` for a method's decision, from (seed, step) alone, so a resumed run draws the same. */
export function stepDraw(seed: number, step: number, salt: number): number {
  return mulberry32(mixSeed(seed, step, salt))() / 2 ** 32; // mulberry32 gives uint32s
}

/** A zeroed {@link OnPolicyStats}. */
export function newStats(generation: GenerationStats): OnPolicyStats {
  return { generatedSteps: 0, replaySteps: 0, dataSteps: 0, generation };
}
