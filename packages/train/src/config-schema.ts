/**
 * The training config: its TypeScript type and its JSON Schema (draft-07), with defaults.
 * Validation, error formatting and `key=value` overrides are in `config.ts`.
 *
 * Conventions: `distill.kdRatio` weights the KD term, `loss = (1 − kdRatio)·CE + kdRatio·KD`
 * (torchtune and DistiLLM; Baby Llama's α weights CE, so its α = 0.5 is kdRatio 0.5, and
 * DistilLlama's α = 0.3 weights KD, so kdRatio 0.3). Step counts are optimizer steps.
 * @module
 */

import { CLEANER_NAMES } from './clean.ts';
import type { ScheduleConfig } from './schedule.ts';

/**
 * How the KD term is reduced over one optimizer window (all its micro-batches together), so that
 * splitting a window into micro-batches never changes the gradient:
 * - `mean`: sum over the window's valid positions (label ≠ -100) / their number, the same footing
 *   as the cross-entropy term (the default);
 * - `sum`: the sum over the window's valid positions;
 * - `batchmean`: that sum / the window's rows, as `KLDivLoss(reduction="batchmean")` on [B, T, V]
 *   (Baby Llama, DistilLlama): about T times `mean` for rows of T positions, so with kdRatio 0.5
 *   the KD term weighs about T times as much as CE and the objective is nearly pure distillation.
 */
export type KdReduction = 'mean' | 'sum' | 'batchmean';

/** The KD reductions a config may name. */
export const KD_REDUCTIONS: readonly KdReduction[] = ['mean', 'sum', 'batchmean'];

/** The training config after validation, with defaults filled in. */
export interface TrainConfig {
  run: {
    /** Run name, used for the output folder. Default "run". */
    name: string;
    /** Parent folder of run outputs. Default "runs". */
    outDir: string;
    /** Seed of data order, offsets, eval subset and init. Default 42. */
    seed: number;
  };
  data: {
    /** Training corpus: a directory (files ending in one of `extensions`) ... */
    dir?: string;
    /** ... or a list of files (exactly one of `dir`/`files`). */
    files?: string[];
    /** Validation corpus, as a directory or files (optional; at most one). */
    evalDir?: string;
    evalFiles?: string[];
    /** File name endings picked up from a directory. Default [".train", ".dev"] (babylm_dataset.py). */
    extensions: string[];
    /** Tokens per block (T). Default 128. */
    blockSize: number;
    /** Blocks per micro-batch (B). Default 32. */
    batchSize: number;
    /** Blocks per validation batch. Default: batchSize. */
    evalBatchSize?: number;
    /** Validation subset size in blocks. Default 8192 (Baby Llama). */
    maxEvalBlocks: number;
    /** Seed of the validation subset. Default 2023 (Baby Llama). */
    evalSeed: number;
    /** Baby Llama's random_chunk. Default true. */
    randomOffset: boolean;
    /** Shuffle blocks each epoch. Default true. */
    shuffle: boolean;
    /** Cleaner per source (file stem → cleaner name from CLEANERS); unlisted sources are unchanged. Default {}. */
    clean: Record<string, string>;
    /** Reproduce mrclean.py's deletion of paragraph breaks. Default false. */
    dropParagraphBreaks: boolean;
    /** Token cache folder. Default: `<outDir>/<name>/cache` chosen by the trainer. */
    cacheDir?: string;
  };
  tokenizer: {
    /** A tokenizer.json to load ... */
    path?: string;
    /** ... or train one (exactly one of `path`/`train`). */
    train?: { vocabSize: number; minFrequency: number; specialTokens: string[] };
  };
  model: {
    type: 'llama' | 'gpt2';
    /** A preset builder name from @kdgpu/models (e.g. "babyLlama58M"). */
    preset?: string;
    /** Config fields, overriding the preset's. */
    config?: Record<string, unknown>;
  };
  /** Teacher checkpoints; `weight` scales each in the ensemble (default 1). Default []. */
  /**
   * Teacher checkpoints; `weight` scales each in the ensemble (default 1); `tokenizer` is the
   * teacher's tokenizer.json (default: one beside the model directory or in its parent), used to
   * check vocabularies and, for cross-tokenizer losses, to tokenize the text for the teacher.
   */
  teachers: { path: string; weight: number; tokenizer?: string }[];
  /** Distillation; absent = plain language-model training. */
  distill?: {
    /** A loss name from @kdgpu/losses' registry. Default "forwardKL". */
    loss: string;
    /**
     * Options passed to the loss factory. Default {}. `reduction` is how the KD term reduces over
     * an optimizer window: `mean` (default: sum over the window's valid tokens / their number, on
     * the same footing as CE), `sum`, or `batchmean` (/ rows, as Baby Llama's
     * `KLDivLoss(reduction="batchmean")`, about blockSize times `mean`).
     */
    lossOptions: { reduction?: KdReduction } & Record<string, unknown>;
    /** Weight of the KD term: a number in [0, 1] or a schedule. Default 0.5. */
    kdRatio: number | ScheduleConfig;
    /** Softmax temperature τ. Default 1. */
    temperature: number;
    /** How teachers combine: mean of logits (Baby Llama) or of probabilities. Default "logits". */
    ensemble: 'logits' | 'probs';
    /** Sequence chunks for the loss (memory). Default 1. */
    chunks: number;
  };
  optimizer: {
    type: 'adamw';
    /** Peak learning rate. Default 3e-4. */
    lr: number;
    /** Default [0.9, 0.999]. */
    betas: [number, number];
    /** Default 1e-8. */
    eps: number;
    /** Decoupled weight decay. Default 0 (HF TrainingArguments). */
    weightDecay: number;
    /** Max global grad norm; 0 disables clipping. Default 1 (HF max_grad_norm). */
    clipGradNorm: number;
    /** Micro-batches per optimizer step. Default 1. */
    gradAccumulation: number;
  };
  /** Learning-rate multiplier schedule; `totalSteps` is filled by the trainer when absent. Default { type: "cosine" }. */
  schedule: ScheduleConfig;
  train: {
    /** Epochs over the training blocks (default 1 when maxSteps is absent) ... */
    epochs?: number;
    /** ... and/or a cap on optimizer steps; with both, training stops at whichever comes first. */
    maxSteps?: number;
    /** Evaluate every N optimizer steps; 0 = at the end of each epoch. Default 0. */
    evalEvery: number;
    /** Log every N optimizer steps. Default 10. */
    logEvery: number;
    /** Checkpoint every N optimizer steps; 0 = at the end of each epoch. Default 0. */
    checkpointEvery: number;
    /** Abort after this many consecutive steps with a non-finite loss (they are skipped). Default 10. */
    maxNonFiniteSteps: number;
  };
  /** Precomputed teacher logits (top-k/top-p truncated) instead of running teachers. */
  offlineLogits?: { path: string; topK: number; topP: number };
}

type Json = Record<string, unknown>;

const int = (minimum: number, extra: Json = {}): Json => ({ type: 'integer', minimum, ...extra });
const str = (extra: Json = {}): Json => ({ type: 'string', minLength: 1, ...extra });
const strings = (extra: Json = {}): Json => ({ type: 'array', items: { type: 'string', minLength: 1 }, ...extra });
const obj = (properties: Record<string, Json>, extra: Json = {}): Json => ({ type: 'object', properties, additionalProperties: false, ...extra });

/** The JSON Schema of a schedule description (fields per type are checked by makeSchedule). */
function scheduleSchema(withDefaults: boolean): Json {
  return obj({
    type: { enum: ['constant', 'cosine', 'linear', 'wsd', 'ramp'], ...(withDefaults ? { default: 'cosine' } : {}) },
    totalSteps: int(1),
    warmupSteps: int(0),
    warmupFraction: { type: 'number', minimum: 0, maximum: 1 },
    decaySteps: int(0),
    decayFraction: { type: 'number', minimum: 0, maximum: 1 },
    decayShape: { enum: ['linear', 'cosine', '1-sqrt'] },
    minRatio: { type: 'number', minimum: 0, maximum: 1 },
    numCycles: { type: 'number', minimum: 0 },
    peak: { type: 'number' },
    value: { type: 'number' },
    from: { type: 'number' },
    to: { type: 'number' },
    startStep: int(0),
    endStep: int(0),
  }, withDefaults ? { default: {} } : { required: ['type'] });
}

/** The JSON Schema (draft-07) of {@link TrainConfig}, with `default`s for Ajv's `useDefaults`. */
export const trainConfigSchema: Json = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://kdgpu.dev/schemas/train-config.json',
  title: 'kdgpu training config',
  ...obj({
    $schema: { type: 'string' },
    run: obj({
      // A folder name, not a path: a config must not place its run outside run.outDir.
      name: str({ default: 'run', pattern: '^(?!\\.{1,2}$)[^/\\\\]+$' }),
      outDir: str({ default: 'runs' }),
      seed: int(0, { default: 42 }),
    }, { default: {} }),
    data: obj({
      dir: str(),
      files: strings({ minItems: 1 }),
      evalDir: str(),
      evalFiles: strings({ minItems: 1 }),
      extensions: strings({ default: ['.train', '.dev'] }),
      blockSize: int(1, { default: 128 }),
      batchSize: int(1, { default: 32 }),
      evalBatchSize: int(1),
      maxEvalBlocks: int(1, { default: 8192 }),
      evalSeed: int(0, { default: 2023 }),
      randomOffset: { type: 'boolean', default: true },
      shuffle: { type: 'boolean', default: true },
      clean: { type: 'object', additionalProperties: { enum: [...CLEANER_NAMES] }, default: {} },
      dropParagraphBreaks: { type: 'boolean', default: false },
      cacheDir: str(),
    }),
    tokenizer: obj({
      path: str(),
      train: obj({
        vocabSize: int(1, { default: 16000 }),
        minFrequency: int(1, { default: 2 }),
        specialTokens: { type: 'array', items: { type: 'string', minLength: 1 }, default: ['<pad>', '<s>', '</s>'] },
      }),
    }),
    model: obj({
      type: { enum: ['llama', 'gpt2'] },
      preset: str(),
      config: { type: 'object' },
    }, { required: ['type'] }),
    teachers: {
      type: 'array',
      items: obj({ path: str(), weight: { type: 'number', exclusiveMinimum: 0, default: 1 }, tokenizer: str() }, { required: ['path'] }),
      default: [],
    },
    distill: obj({
      loss: str({ default: 'forwardKL' }),
      lossOptions: { type: 'object', properties: { reduction: { enum: [...KD_REDUCTIONS] } }, default: {} },
      kdRatio: { anyOf: [{ type: 'number', minimum: 0, maximum: 1 }, scheduleSchema(false)], default: 0.5 },
      temperature: { type: 'number', exclusiveMinimum: 0, default: 1 },
      ensemble: { enum: ['logits', 'probs'], default: 'logits' },
      chunks: int(1, { default: 1 }),
    }),
    optimizer: obj({
      type: { enum: ['adamw'], default: 'adamw' },
      lr: { type: 'number', exclusiveMinimum: 0, default: 3e-4 },
      betas: { type: 'array', items: { type: 'number', minimum: 0, exclusiveMaximum: 1 }, minItems: 2, maxItems: 2, default: [0.9, 0.999] },
      eps: { type: 'number', exclusiveMinimum: 0, default: 1e-8 },
      weightDecay: { type: 'number', minimum: 0, default: 0 },
      clipGradNorm: { type: 'number', minimum: 0, default: 1 },
      gradAccumulation: int(1, { default: 1 }),
    }, { default: {} }),
    schedule: scheduleSchema(true),
    train: obj({
      epochs: { type: 'number', exclusiveMinimum: 0 },
      maxSteps: int(1),
      evalEvery: int(0, { default: 0 }),
      logEvery: int(1, { default: 10 }),
      checkpointEvery: int(0, { default: 0 }),
      maxNonFiniteSteps: int(0, { default: 10 }),
    }, { default: {} }),
    offlineLogits: obj({
      path: str(),
      topK: int(1, { default: 50 }),
      topP: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.95 },
    }, { required: ['path'] }),
  }, { required: ['data', 'tokenizer', 'model'] }),
};
