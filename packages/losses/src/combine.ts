import { KdgpuError, type Tensor } from '@kdgpu/tensor';

/** Options of `combineLosses`. */
export interface CombineOptions {
  /** Weight of the KD term, in [0, 1]: (1 - kdRatio)·CE + kdRatio·KD. */
  kdRatio: number;
}

/**
 * (1 - kdRatio)·ce + kdRatio·kd, the combination of torchtune's KD recipe, DistiLLM's finetune.py and
 * the pre-training distillation paper (its α is kdRatio). Baby Llama's α weights CE, so
 * kdRatio = 1 - α there; DistilLlama's α weights KD, so kdRatio = α. kdRatio 0 returns CE alone
 * and 1 KD alone (no 0·NaN from the unused term).
 *
 * @param parts.ce scalar hard-label loss (e.g. `crossEntropy`)
 * @param parts.kd scalar distillation loss (any loss of this package)
 * @returns scalar
 */
export function combineLosses(parts: { ce: Tensor; kd: Tensor }, opts: CombineOptions): Tensor {
  const r = opts.kdRatio;
  if (!(r >= 0 && r <= 1)) throw new KdgpuError(`combineLosses: kdRatio must be in [0, 1], got ${r}`);
  if (parts.ce.size !== 1 || parts.kd.size !== 1) {
    throw new KdgpuError(`combineLosses: ce and kd must be scalars, got shapes [${parts.ce.shape}] and [${parts.kd.shape}] (use a reduction other than 'none')`);
  }
  if (r === 0) return parts.ce.mul(1);
  if (r === 1) return parts.kd.mul(1);
  return parts.ce.mul(1 - r).add(parts.kd.mul(r));
}

/**
 * A schedule for kdRatio over training steps (0-based):
 * - `constant`: `value` throughout.
 * - `linear`: from `from` at step 0 to `to` at step `steps`, then held (the paper's "linear
 *   increase" and "linear decrease" schedules).
 * - `wsd`: warmup-stable-decay, as the pre-training distillation paper's WSD-α: linear from `start`
 *   (default 0) to `max` over `warmupSteps`, held at `max`, then linear to `end` (default 0) over
 *   the last `decaySteps` of `totalSteps`. The paper ramps to α_max = 0.9 and decays while the
 *   learning rate does; its exact warmup/decay fractions are not public (one summary says 10% / 1%).
 */
export type RatioSchedule =
  | { kind: 'constant'; value: number }
  | { kind: 'linear'; from: number; to: number; steps: number }
  | { kind: 'wsd'; max: number; warmupSteps: number; decaySteps: number; totalSteps: number; start?: number; end?: number };

/** The value of schedule `s` at training step `step` (0-based), in [0, 1]. */
export function scheduleRatio(s: RatioSchedule, step: number): number {
  if (!(step >= 0)) throw new KdgpuError(`scheduleRatio: step must be >= 0, got ${step}`);
  const lerp = (a: number, b: number, f: number) => a + (b - a) * Math.min(1, Math.max(0, f));
  let v: number;
  switch (s.kind) {
    case 'constant':
      v = s.value;
      break;
    case 'linear':
      v = s.steps <= 0 ? s.to : lerp(s.from, s.to, step / s.steps);
      break;
    case 'wsd': {
      if (s.warmupSteps + s.decaySteps > s.totalSteps) {
        throw new KdgpuError(`scheduleRatio: wsd warmupSteps (${s.warmupSteps}) + decaySteps (${s.decaySteps}) exceed totalSteps (${s.totalSteps})`);
      }
      const decayStart = s.totalSteps - s.decaySteps;
      if (step < s.warmupSteps) v = lerp(s.start ?? 0, s.max, step / s.warmupSteps);
      else if (step < decayStart) v = s.max;
      else v = lerp(s.max, s.end ?? 0, s.decaySteps === 0 ? 1 : (step - decayStart) / s.decaySteps);
      break;
    }
    default:
      return s satisfies never;
  }
  if (!(v >= 0 && v <= 1)) throw new KdgpuError(`scheduleRatio: ${s.kind} schedule gives ${v} at step ${step}; kdRatio must stay in [0, 1]`);
  return v;
}
