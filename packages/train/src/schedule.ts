/**
 * Learning-rate and KD-ratio schedules as pure functions of the step.
 *
 * Step convention (Hugging Face `LambdaLR`): `step` is the number of optimizer steps already taken,
 * so the first update uses `schedule(0)`, which is 0 when there is a warmup. A learning-rate
 * schedule returns a multiplier of the optimizer's base lr (peak 1); a KD-ratio schedule returns
 * the ratio itself (set `peak`, or `from`/`to` for a ramp).
 *
 * Past `totalSteps` every schedule holds its final value (HF's cosine would start rising again).
 * @module
 */

/** A schedule: optimizer step (0-based count of steps taken) → value. */
export type Schedule = (step: number) => number;

/** Shapes of a decay phase: as in HF `get_wsd_schedule`'s `decay_type`. */
export type DecayShape = 'linear' | 'cosine' | '1-sqrt';

/** Constant value, optionally after a linear warmup from 0 (HF `get_constant_schedule_with_warmup`). */
export interface ConstantScheduleConfig {
  type: 'constant';
  /** The value after warmup. Default 1. */
  value?: number;
  /** Linear warmup steps from 0. Default 0. */
  warmupSteps?: number;
}

/** Linear warmup, then cosine decay (HF `get_cosine_schedule_with_warmup` / `..._with_min_lr`). */
export interface CosineScheduleConfig {
  type: 'cosine';
  warmupSteps?: number;
  /** Total optimizer steps; may instead be supplied to {@link makeSchedule} by the trainer. */
  totalSteps?: number;
  /** Floor as a fraction of `peak` (HF `min_lr_rate`). Default 0. */
  minRatio?: number;
  /** Cosine cycles over the decay (HF `num_cycles`). Default 0.5: one half-wave, peak → floor. */
  numCycles?: number;
  /** Value at the end of warmup. Default 1. */
  peak?: number;
}

/** Linear warmup, then linear decay (HF `get_linear_schedule_with_warmup`). */
export interface LinearScheduleConfig {
  type: 'linear';
  warmupSteps?: number;
  totalSteps?: number;
  /** Floor as a fraction of `peak`; default 0 as in HF. */
  minRatio?: number;
  peak?: number;
}

/**
 * Warmup-stable-decay (HF `get_wsd_schedule` with `num_training_steps`): linear warmup, a plateau at
 * `peak`, then a decay to `minRatio·peak` over the last `decaySteps`. Warmup and decay lengths are
 * given in steps or as fractions of `totalSteps` (rounded to the nearest step).
 */
export interface WsdScheduleConfig {
  type: 'wsd';
  totalSteps?: number;
  warmupSteps?: number;
  warmupFraction?: number;
  decaySteps?: number;
  /** Default 0.1 when neither `decaySteps` nor `decayFraction` is set. */
  decayFraction?: number;
  /** Default 'cosine' as in HF. */
  decayShape?: DecayShape;
  minRatio?: number;
  peak?: number;
}

/**
 * Linear ramp from `from` to `to` between `startStep` (default 0) and `endStep` (default
 * `totalSteps`), clamped outside: a KD ratio that increases (0 → 0.9) or decreases (0.9 → 0).
 */
export interface RampScheduleConfig {
  type: 'ramp';
  from: number;
  to: number;
  startStep?: number;
  endStep?: number;
  totalSteps?: number;
}

/** A JSON-able schedule description, discriminated by `type`. */
export type ScheduleConfig =
  | ConstantScheduleConfig
  | CosineScheduleConfig
  | LinearScheduleConfig
  | WsdScheduleConfig
  | RampScheduleConfig;

/** The schedule type names. */
export const SCHEDULE_TYPES = ['constant', 'cosine', 'linear', 'wsd', 'ramp'] as const;

/** HF warmup: `step / max(1, warmup)` while `step < warmup`. */
function warmupFactor(step: number, warmupSteps: number): number {
  return step / Math.max(1, warmupSteps);
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

/** `constant` schedule; see {@link ConstantScheduleConfig}. */
export function constantSchedule(opts: { value?: number; warmupSteps?: number } = {}): Schedule {
  const value = opts.value ?? 1;
  const warmup = opts.warmupSteps ?? 0;
  return (step) => (step < warmup ? value * warmupFactor(step, warmup) : value);
}

/**
 * Cosine schedule; `f(s) = s/W` for `s < W`, else with `p = (s−W)/max(1, N−W)` clamped to 1,
 * `m + (1−m)·max(0, ½(1 + cos(π·2c·p)))`, times `peak`.
 */
export function cosineSchedule(opts: {
  warmupSteps?: number; totalSteps: number; minRatio?: number; numCycles?: number; peak?: number;
}): Schedule {
  const { totalSteps } = opts;
  const warmup = opts.warmupSteps ?? 0;
  const min = opts.minRatio ?? 0;
  const cycles = opts.numCycles ?? 0.5;
  const peak = opts.peak ?? 1;
  return (step) => {
    if (step < warmup) return peak * warmupFactor(step, warmup);
    const progress = Math.min(1, (step - warmup) / Math.max(1, totalSteps - warmup));
    const factor = Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
    return peak * Math.max(0, factor * (1 - min) + min);
  };
}

/** Linear schedule; `f(s) = s/W` for `s < W`, else `max(0, (N−s)/max(1, N−W))` (floored at `minRatio`), times `peak`. */
export function linearSchedule(opts: { warmupSteps?: number; totalSteps: number; minRatio?: number; peak?: number }): Schedule {
  const { totalSteps } = opts;
  const warmup = opts.warmupSteps ?? 0;
  const min = opts.minRatio ?? 0;
  const peak = opts.peak ?? 1;
  return (step) => {
    if (step < warmup) return peak * warmupFactor(step, warmup);
    const factor = Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmup));
    return peak * (factor * (1 - min) + min);
  };
}

/**
 * WSD schedule with warmup `W`, decay `D`, plateau `N−W−D` steps (HF `_get_wsd_scheduler_lambda`
 * with linear warmup): warmup `m + (1−m)·s/W`, plateau 1, decay `m + (1−m)·shape(p)` with
 * `p = (s−W−S)/max(1, D)`, then `m`; times `peak`.
 */
export function wsdSchedule(opts: {
  warmupSteps: number; decaySteps: number; totalSteps: number; decayShape?: DecayShape; minRatio?: number; peak?: number;
}): Schedule {
  const { warmupSteps: warmup, decaySteps: decay, totalSteps } = opts;
  const stable = totalSteps - warmup - decay;
  const shape = opts.decayShape ?? 'cosine';
  const min = opts.minRatio ?? 0;
  const peak = opts.peak ?? 1;
  const decayValue = (p: number): number => {
    switch (shape) {
      case 'linear': return 1 - p;
      case 'cosine': return 0.5 * (1 + Math.cos(Math.PI * p));
      case '1-sqrt': return 1 - Math.sqrt(p);
      default: return shape satisfies never;
    }
  };
  return (step) => {
    if (step < warmup) return peak * Math.max(0, warmupFactor(step, warmup) * (1 - min) + min);
    if (step < warmup + stable) return peak;
    if (step < warmup + stable + decay) {
      const p = (step - warmup - stable) / Math.max(1, decay);
      return peak * Math.max(0, decayValue(p) * (1 - min) + min);
    }
    return peak * min;
  };
}

/** Ramp schedule; see {@link RampScheduleConfig}. */
export function rampSchedule(opts: { from: number; to: number; startStep?: number; endStep: number }): Schedule {
  const { from, to, endStep } = opts;
  const start = opts.startStep ?? 0;
  return (step) => from + (to - from) * clamp01((step - start) / Math.max(1, endStep - start));
}

function fail(path: string, message: string): never {
  throw new Error(`${path}: ${message}`);
}

function checkNumber(path: string, v: unknown, lo: number, hi: number, integer = false): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, `must be a finite number, got ${JSON.stringify(v)}`);
  if (integer && !Number.isInteger(v)) fail(path, `must be an integer, got ${v}`);
  if (v < lo || v > hi) fail(path, `must be in [${lo}, ${hi}], got ${v}`);
  return v;
}

/**
 * Builds a schedule from its JSON description, validating it. `defaults.totalSteps` supplies the
 * run length when the description omits it (the trainer knows it from epochs × steps per epoch).
 * `path` prefixes error messages (`schedule.warmupSteps: must be ...`). Throws on a bad description.
 */
export function makeSchedule(config: ScheduleConfig, defaults: { totalSteps?: number } = {}, path = 'schedule'): Schedule {
  const int = (name: string, v: unknown, lo = 0, hi = Number.MAX_SAFE_INTEGER) => checkNumber(`${path}.${name}`, v, lo, hi, true);
  const num = (name: string, v: unknown, lo = -Infinity, hi = Infinity) => checkNumber(`${path}.${name}`, v, lo, hi);
  const total = (): number => {
    const own = 'totalSteps' in config ? config.totalSteps : undefined;
    const n = int('totalSteps', own ?? defaults.totalSteps, 1);
    return n ?? fail(`${path}.totalSteps`, `is required for a "${config.type}" schedule (or pass defaults.totalSteps)`);
  };
  const type = (config as { type?: unknown }).type;
  switch (config.type) {
    case 'constant':
      return constantSchedule({ value: num('value', config.value), warmupSteps: int('warmupSteps', config.warmupSteps) });
    case 'cosine': {
      const totalSteps = total();
      return cosineSchedule({
        totalSteps,
        warmupSteps: int('warmupSteps', config.warmupSteps, 0, totalSteps),
        minRatio: num('minRatio', config.minRatio, 0, 1),
        numCycles: num('numCycles', config.numCycles, 0),
        peak: num('peak', config.peak),
      });
    }
    case 'linear': {
      const totalSteps = total();
      return linearSchedule({
        totalSteps,
        warmupSteps: int('warmupSteps', config.warmupSteps, 0, totalSteps),
        minRatio: num('minRatio', config.minRatio, 0, 1),
        peak: num('peak', config.peak),
      });
    }
    case 'wsd': {
      const totalSteps = total();
      if (config.warmupSteps !== undefined && config.warmupFraction !== undefined) fail(path, 'set warmupSteps or warmupFraction, not both');
      if (config.decaySteps !== undefined && config.decayFraction !== undefined) fail(path, 'set decaySteps or decayFraction, not both');
      const warmupFraction = num('warmupFraction', config.warmupFraction, 0, 1);
      const decayFraction = num('decayFraction', config.decayFraction, 0, 1);
      const warmupSteps = int('warmupSteps', config.warmupSteps, 0, totalSteps) ?? Math.round((warmupFraction ?? 0) * totalSteps);
      const decaySteps = int('decaySteps', config.decaySteps, 0, totalSteps) ?? Math.round((decayFraction ?? 0.1) * totalSteps);
      if (warmupSteps + decaySteps > totalSteps) {
        fail(path, `warmup (${warmupSteps}) + decay (${decaySteps}) steps exceed totalSteps (${totalSteps})`);
      }
      const shape = config.decayShape ?? 'cosine';
      if (!['linear', 'cosine', '1-sqrt'].includes(shape)) fail(`${path}.decayShape`, `must be one of linear, cosine, 1-sqrt, got ${JSON.stringify(shape)}`);
      return wsdSchedule({
        totalSteps, warmupSteps, decaySteps, decayShape: shape,
        minRatio: num('minRatio', config.minRatio, 0, 1), peak: num('peak', config.peak),
      });
    }
    case 'ramp': {
      const from = num('from', config.from) ?? fail(`${path}.from`, 'is required for a "ramp" schedule');
      const to = num('to', config.to) ?? fail(`${path}.to`, 'is required for a "ramp" schedule');
      const startStep = int('startStep', config.startStep) ?? 0;
      const endStep = int('endStep', config.endStep) ?? total();
      if (endStep < startStep) fail(path, `endStep (${endStep}) is before startStep (${startStep})`);
      return rampSchedule({ from, to, startStep, endStep });
    }
    default:
      config satisfies never;
      return fail(`${path}.type`, `must be one of ${SCHEDULE_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
  }
}

/**
 * A KD ratio given either as a fixed number or as a schedule description (config `distill.kdRatio`).
 */
export function scheduleFromValue(value: number | ScheduleConfig, defaults: { totalSteps?: number } = {}, path = 'kdRatio'): Schedule {
  if (typeof value === 'number') {
    checkNumber(path, value, -Infinity, Infinity);
    return () => value;
  }
  return makeSchedule(value, defaults, path);
}
