import { KdgpuError, memoryStats, nn, tensor, tidy } from '@kdgpu/tensor';
import { checkVocabulary } from './vocab.ts';
import type { CausalLM } from '@kdgpu/models';
import { type Batch, batchesPerEpoch, batchStream, evalBatches, type LoaderState, type TokenArray } from './blocks.ts';
import type { TrainingConfig } from './config.ts';
import { evaluateLM, type EvalResult } from './evaluate.ts';
import type { MetricsWriter } from './metrics.ts';
import type { ProgressReporter } from './progress.ts';
import { makeSchedule, type Schedule } from './schedule.ts';
import type { OnPolicyMethod } from './on-policy/method.ts';
import { type Accumulators, disposeAccumulators, type DistillPart, newAccumulators, readSums, type RunningSums, trainStep, zeroSums } from './step.ts';

/**
 * The training loop, for plain language-model training (teachers) and distillation (a frozen
 * teacher or ensemble): data order, schedules, gradient accumulation, evaluation, best-checkpoint
 * tracking, non-finite step accounting, and resume. It reads nothing back inside a step: the loss
 * is read at log points, and the non-finite counter there too (so a run of bad steps is noticed at
 * the next log point). Data and the tokenizer come in as values; files are the caller's business
 * (the `checkpoint` callback; see run-node.ts).
 */

/** Everything a resumed run needs beyond the weights (which are loaded into the model). */
export interface TrainerState {
  /** Optimizer steps taken. */
  step: number;
  /** Data position after the last step. */
  loader: LoaderState;
  /** Tokens trained on. */
  tokens: number;
  /** Best validation loss so far (null before the first evaluation). */
  bestEval: number | null;
  /** The running sums at the time of the checkpoint (see step.ts). */
  sums: RunningSums;
  /** Step of the last log line (the sums cover the steps since). */
  lastLogStep: number;
}

/** The optimizer's state in CPU memory, for checkpoints. */
export interface OptimizerSnapshot {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

export type CheckpointReason = 'periodic' | 'epoch' | 'best' | 'final' | 'interrupt';

/** The token streams a run trains and validates on. */
export interface TrainData {
  /** The training stream (all files tokenized and concatenated). */
  train: TokenArray;
  /** The validation stream, if any. */
  eval?: TokenArray | null;
}

export interface TrainerOptions {
  model: CausalLM;
  data: TrainData;
  /**
   * The tokenizer the data was encoded with (anything with a `vocabSize`): its vocabulary is
   * checked against the model's before the first step (see `checkVocabulary`). Without it, the
   * data's largest id is still checked against the model's vocabulary.
   */
  tokenizer?: { vocabSize: number } | null;
  /** The loop's settings (a validated config; see `trainingConfig`). */
  config: TrainingConfig;
  /** The distillation objective (see `buildObjective`); absent for plain LM training. */
  distill?: DistillPart | null;
  /** On-policy distillation (GKD, DistiLLM, MiniLLM; see `onPolicyMethod`): decides what each step trains on. */
  onPolicy?: OnPolicyMethod | null;
  metrics?: MetricsWriter;
  progress?: ProgressReporter;
  /** Writes a checkpoint (the live model and optimizer, plus `state`). */
  checkpoint?: (reason: CheckpointReason, state: TrainerState, optimizer: nn.AdamW) => Promise<void>;
  /** Continue from a checkpoint: its state and optimizer snapshot (weights already in `model`). */
  resume?: { state: TrainerState; optimizer: OptimizerSnapshot };
  /** Checked after every step; true stops the run cleanly with an 'interrupt' checkpoint. */
  shouldStop?: () => boolean;
  /** Called before every step with the step about to be taken (1-based). */
  beforeStep?: (step: number) => void | Promise<void>;
  /** Called after every step (tests use it to kill or inspect a run). */
  onStep?: (step: number) => void | Promise<void>;
}

export interface TrainSummary {
  steps: number;
  tokens: number;
  bestEval: number | null;
  lastEval: EvalResult | null;
  skippedSteps: number;
  seconds: number;
  interrupted: boolean;
  /** Mean training loss of every log interval, in order (what the log lines printed). */
  logged: Array<{ step: number; loss: number; ce: number; kd: number }>;
}

/** Optimizer steps the config asks for, given the stream length. */
export function plannedSteps(config: Pick<TrainingConfig, 'data' | 'train' | 'optimizer'>, nTokens: number): number {
  const perEpoch = batchesPerEpoch(nTokens, { blockSize: config.data.blockSize, batchSize: config.data.batchSize, randomOffset: config.data.randomOffset });
  const byEpochs = Math.ceil(((config.train.epochs ?? 1) * perEpoch) / config.optimizer.gradAccumulation);
  if (config.train.maxSteps !== undefined && config.train.epochs === undefined) return config.train.maxSteps;
  return Math.max(1, config.train.maxSteps !== undefined ? Math.min(config.train.maxSteps, byEpochs) : byEpochs);
}

/** A loss that is not finite: the run ends, naming the step. */
export class NonFiniteLossError extends KdgpuError {
  override name = 'NonFiniteLossError';
  constructor(message: string, readonly step: number) {
    super(message);
  }
}

/** The largest id of a token stream (-1 when empty). */
function maxId(tokens: TokenArray): number {
  let m = -1;
  for (let i = 0; i < tokens.length; i++) if (tokens[i]! > m) m = tokens[i]!;
  return m;
}

/** Refuses, before any step, data the model cannot embed: a tokenizer larger than the model's vocabulary, or ids past it. */
function checkData(o: TrainerOptions): void {
  const V = o.model.config.vocab_size;
  if (o.tokenizer) checkVocabulary({ model: { vocabSize: V, name: 'the model' }, tokenizer: { vocabSize: o.tokenizer.vocabSize, name: 'the tokenizer' } });
  for (const [which, tokens] of [['training', o.data.train], ['validation', o.data.eval ?? null]] as const) {
    if (!tokens) continue;
    const m = maxId(tokens);
    if (m >= V) throw new KdgpuError(`train: the ${which} data holds token id ${m}, outside the model's vocabulary of ${V}: encode the data with the model's tokenizer, or give the model a vocabulary of at least ${m + 1}`);
  }
}

/** Runs training to the configured end (or until `shouldStop`). */
export async function train(o: TrainerOptions): Promise<TrainSummary> {
  const c = o.config;
  checkData(o);
  const started = performance.now();
  const totalSteps = plannedSteps(c, o.data.train.length);
  const lrSchedule: Schedule = makeSchedule(c.schedule, { totalSteps }, 'schedule');
  const kdSchedule: Schedule = typeof c.distill?.kdRatio === 'object' ? makeSchedule(c.distill.kdRatio, { totalSteps }, 'distill.kdRatio') : () => (c.distill?.kdRatio as number | undefined) ?? 0;
  const params = [...o.model.parameters().values()];
  const opt = new nn.AdamW(params, { lr: c.optimizer.lr, beta1: c.optimizer.betas[0], beta2: c.optimizer.betas[1], eps: c.optimizer.eps, weightDecay: c.optimizer.weightDecay });
  const state: TrainerState = o.resume
    ? structuredClone(o.resume.state)
    : { step: 0, loader: { epoch: 0, position: 0 }, tokens: 0, bestEval: null, sums: zeroSums(), lastLogStep: 0 };
  if (o.resume) restoreOptimizer(opt, o.resume.optimizer);
  const acc: Accumulators = newAccumulators(state.sums);
  const summary: TrainSummary = { steps: 0, tokens: 0, bestEval: state.bestEval, lastEval: null, skippedSteps: 0, seconds: 0, interrupted: false, logged: [] };
  const blockOpts = { blockSize: c.data.blockSize, batchSize: c.data.batchSize, seed: c.run.seed, randomOffset: c.data.randomOffset, shuffle: c.data.shuffle };
  const stream = batchStream(o.data.train, blockOpts, state.loader);
  // Time spent evaluating and checkpointing, which tokens/s and the ETA leave out.
  let idleMs = 0;
  let lastTime = performance.now();
  let lastIdle = 0;
  let lastTokens = state.tokens;
  const idle = async <T>(fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      idleMs += performance.now() - t0;
    }
  };

  const evaluate = async (): Promise<EvalResult | null> => {
    const evalTokens = o.data.eval;
    if (!evalTokens) return null;
    const r = await idle(() => evaluateLM(o.model, evalBatches(evalTokens, { blockSize: c.data.blockSize, batchSize: c.data.evalBatchSize ?? c.data.batchSize, maxEvalBlocks: c.data.maxEvalBlocks, seed: c.data.evalSeed })));
    summary.lastEval = r;
    o.metrics?.write({ step: state.step, split: 'eval', epoch: state.loader.epoch, loss: r.loss, losses: { ce: r.loss, perplexity: r.perplexity }, time: (performance.now() - started) / 1000 });
    if (!Number.isFinite(r.loss)) {
      throw new NonFiniteLossError(`training stopped at step ${state.step}: the validation loss is ${r.loss}; lower optimizer.lr, enable optimizer.clipGradNorm, or check the data and the vocabularies; earlier checkpoints are kept`, state.step);
    }
    o.onPolicy?.observeEval?.(r.loss);
    o.progress?.log(`step ${state.step}: validation loss ${r.loss.toFixed(4)}, perplexity ${r.perplexity.toFixed(2)}`);
    if (state.bestEval === null || r.loss < state.bestEval) {
      state.bestEval = r.loss;
      summary.bestEval = r.loss;
      await save('best');
    }
    return r;
  };

  const log = async (): Promise<void> => {
    const s = await readSums(acc);
    summary.skippedSteps = s.totalNonFinite;
    const limit = Math.max(1, c.train.maxNonFiniteSteps);
    if (s.consecutiveNonFinite >= limit) {
      const first = state.step - s.consecutiveNonFinite + 1;
      throw new NonFiniteLossError(
        `training stopped at step ${state.step}: steps ${first}-${state.step} (${s.consecutiveNonFinite} in a row) had a non-finite loss or gradient and were skipped ` +
          `(limit train.maxNonFiniteSteps = ${c.train.maxNonFiniteSteps}); lower optimizer.lr, enable optimizer.clipGradNorm, or check the data; resume from the last checkpoint`,
        state.step,
      );
    }
    const good = s.steps - s.skipped;
    const n = Math.max(1, good);
    const now = performance.now();
    const tps = ((state.tokens - lastTokens) / Math.max(1e-9, now - lastTime - (idleMs - lastIdle))) * 1000;
    lastTime = now;
    lastIdle = idleMs;
    lastTokens = state.tokens;
    // An interval whose every step was skipped has no loss to report (not 0).
    const mean = (x: number) => (good > 0 ? x / n : NaN);
    const rec = { step: state.step, loss: mean(s.loss), ce: mean(s.ce), kd: mean(s.kd) };
    summary.logged.push(rec);
    o.metrics?.write({
      step: state.step, split: 'train', epoch: state.loader.epoch, loss: rec.loss,
      losses: o.distill ? { ce: rec.ce, kd: rec.kd } : { ce: rec.ce },
      lr: opt.lr, kdRatio: kdSchedule(Math.max(0, state.step - 1)), gradNorm: mean(s.gradNorm), tokensPerSec: tps, tokens: state.tokens,
      gpuBytes: memoryStats().liveBytes, time: (now - started) / 1000,
    });
    o.progress?.update({ step: state.step, loss: rec.loss, ...(o.distill ? { ce: rec.ce, kd: rec.kd } : {}), tokensPerSec: tps, lr: opt.lr, idleSeconds: idleMs / 1000 });
    // Start a new interval: keep only the non-finite counters.
    const kept: RunningSums = { ...zeroSums(), consecutiveNonFinite: s.consecutiveNonFinite, totalNonFinite: s.totalNonFinite };
    disposeAccumulators(acc);
    Object.assign(acc, newAccumulators(kept));
    state.sums = kept;
    state.lastLogStep = state.step;
  };

  const save = async (reason: CheckpointReason) => {
    if (!o.checkpoint) return;
    await idle(async () => {
      state.sums = await readSums(acc);
      await o.checkpoint!(reason, state, opt);
    });
  };

  try {
    while (state.step < totalSteps) {
      await o.beforeStep?.(state.step + 1);
      const micro: Batch[] = [];
      let epochEnded = false;
      for (let i = 0; i < c.optimizer.gradAccumulation; i++) {
        const b = stream.next().value as Batch;
        micro.push(b);
        if (b.next.epoch > state.loader.epoch) epochEnded = true;
        state.loader = b.next;
      }
      const kdRatio = o.distill ? kdSchedule(state.step) : 0;
      opt.lr = c.optimizer.lr * lrSchedule(state.step);
      const window = o.onPolicy ? await o.onPolicy.prepare(micro, state.step, totalSteps) : null;
      trainStep({
        ...(window ? { window } : {}),
        model: o.model, optimizer: opt, micro, kdRatio, distill: o.distill ?? null, clipGradNorm: c.optimizer.clipGradNorm,
        dropoutSeed: hashSeed(c.run.seed, state.step) * c.optimizer.gradAccumulation, acc,
      });
      state.step++;
      state.tokens += micro.reduce((a, b) => a + b.shape[0] * b.shape[1], 0);
      summary.steps++;
      const last = state.step >= totalSteps;
      if (state.step % c.train.logEvery === 0 || last) await log();
      if ((c.train.evalEvery > 0 && state.step % c.train.evalEvery === 0) || (c.train.evalEvery === 0 && epochEnded) || last) await evaluate();
      if (!last && ((c.train.checkpointEvery > 0 && state.step % c.train.checkpointEvery === 0) || (c.train.checkpointEvery === 0 && epochEnded))) {
        await save(epochEnded ? 'epoch' : 'periodic');
      }
      await o.onStep?.(state.step);
      if (!last && o.shouldStop?.()) {
        await save('interrupt');
        summary.interrupted = true;
        break;
      }
    }
    if (!summary.interrupted) await save('final');
  } finally {
    o.progress?.done();
    disposeAccumulators(acc);
    opt.dispose();
  }
  summary.tokens = state.tokens;
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

/** Copies a snapshot's moments into the optimizer. */
function restoreOptimizer(opt: nn.AdamW, snap: OptimizerSnapshot): void {
  if (snap.m.length !== opt.m.length) {
    throw new KdgpuError(`resume: the checkpoint's optimizer has ${snap.m.length} parameter states, the model has ${opt.m.length} parameters`);
  }
  opt.step = snap.step;
  opt.m.forEach((t, i) => t.assign(fromArray(snap.m[i], t.shape)));
  opt.v.forEach((t, i) => t.assign(fromArray(snap.v[i], t.shape)));
}

function fromArray(a: Float32Array, shape: readonly number[]) {
  return tidy(() => tensor(a, { shape }));
}

/** Reads the optimizer's moments to the CPU. */
export async function snapshotOptimizer(opt: nn.AdamW): Promise<OptimizerSnapshot> {
  const m: Float32Array[] = [];
  const v: Float32Array[] = [];
  for (let i = 0; i < opt.m.length; i++) {
    m.push((await opt.m[i].data()) as Float32Array);
    v.push((await opt.v[i].data()) as Float32Array);
  }
  return { step: opt.step, m, v };
}

/** A step-dependent dropout seed (below 2^40, as the models' dropout requires). */
function hashSeed(seed: number, step: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ step, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
