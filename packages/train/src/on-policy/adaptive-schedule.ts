import { KdgpuError } from '@kdgpu/tensor';

/**
 * DistiLLM's adaptive student-generated-output (SGO) schedule (`finetune.py`): a threshold
 * θ ∈ [0, 1] that rises by `increment` (0.1, capped at 1) whenever a validation loss is at least
 * `lossEps` above the reference loss (the first one seen, then the one of the last rise). Each optimizer step draws r ~ U[0, 1) and
 *   - generates fresh student outputs when r < θ·(1 − step/total) (the decreasing replay ratio),
 *     or when r < θ and the replay buffer is not yet full;
 *   - else replays a buffered batch when r < θ;
 *   - else trains on the data batch.
 */

/** What a step trains on. */
export type SgoChoice = 'generate' | 'replay' | 'data';

/** Settings of {@link AdaptiveSgoSchedule} (DistiLLM's defaults). */
export interface AdaptiveSgoOptions {
  /** θ at the start. Default 0 (DistiLLM's `init_threshold`). */
  initThreshold?: number;
  /** A validation loss at least this much above the previous one raises θ. Default 0.1. */
  lossEps?: number;
  /** How much θ rises. Default 0.1. */
  increment?: number;
}

export class AdaptiveSgoSchedule {
  /** The current θ. */
  threshold: number;
  private prev: number | null = null;
  readonly lossEps: number;
  readonly increment: number;

  constructor(o: AdaptiveSgoOptions = {}) {
    this.threshold = o.initThreshold ?? 0;
    this.lossEps = o.lossEps ?? 0.1;
    this.increment = o.increment ?? 0.1;
    if (!(this.threshold >= 0 && this.threshold <= 1)) throw new KdgpuError(`distill.onPolicy.initThreshold must be in [0, 1], got ${this.threshold}`);
    if (!(this.lossEps >= 0)) throw new KdgpuError(`distill.onPolicy.lossEps must be >= 0, got ${this.lossEps}`);
    if (!(this.increment >= 0 && this.increment <= 1)) throw new KdgpuError(`adaptive schedule: increment must be in [0, 1], got ${this.increment}`);
  }

  /** The choice for a step, given the draw r ∈ [0, 1), the step (0-based) and the planned total. */
  choose(r: number, step: number, totalSteps: number, bufferFull: boolean): SgoChoice {
    const sampThreshold = this.threshold * (1 - step / Math.max(1, totalSteps));
    if (r < sampThreshold || (r < this.threshold && !bufferFull)) return 'generate';
    if (r < this.threshold) return 'replay';
    return 'data';
  }

  /** Feeds a validation loss; returns whether θ rose. */
  observe(valLoss: number): boolean {
    // As DistiLLM's `finetune.py`: the reference loss is the first one seen, and moves only when θ
    // rises, so a slow drift upwards adds up until it crosses lossEps.
    if (this.prev === null) {
      this.prev = valLoss;
      return false;
    }
    const rose = valLoss >= this.prev + this.lossEps;
    if (rose) {
      this.threshold = Math.min(1, this.threshold + this.increment);
      this.prev = valLoss;
    }
    return rose;
  }
}
