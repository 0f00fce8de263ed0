/**
 * The training config: its TypeScript type and its JSON Schema (draft-07), with defaults.
 * Validation, error formatting and `key=value` overrides are in `config.ts`.
 *
 * Conventions: `distill.kdRatio` weights the KD term, `loss = (1 − kdRatio)·CE + kdRatio·KD`
 * (torchtune and DistiLLM; Baby Llama's α weights CE, so its α = 0.5 is kdRatio 0.5, and
 * DistilLlama's α = 0.3 weights KD, so kdRatio 0.3). Step counts are optimizer steps.
 * @module
 */

import { lossInfo, lossNames } from '@kdgpu/losses';
import { presetNames } from '@kdgpu/models';
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
  /** Path or URL of the JSON Schema, for editors (`packages/train/config.schema.json`). */
  $schema?: string;
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
    /** Where the divergence is measured: the data (default "offPolicy") or student samples (on-policy/). */
    method: DistillMethod;
    /** Settings of the on-policy methods (each read only by the methods named). */
    onPolicy: OnPolicyConfig;
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
    /** Keep only the newest N step checkpoints (the latest and the best are always kept); 0 keeps all. Default 0. */
    keepCheckpoints: number;
  };
  /**
   * Precomputed teacher logits instead of running teachers: top-p/top-k truncated logits, or with
   * `sparse` the top-k ids and log-probabilities plus the tail mass (distillation reads whichever
   * kind the file holds).
   */
  offlineLogits?: { path: string; topK: number; topP: number; sparse: boolean };
}

/**
 * What `train()` reads of a config: the loop's settings, without file paths, tokenizer or model
 * (those come in as values). A whole {@link TrainConfig} is one; `trainingConfig()` validates one.
 */
export interface TrainingConfig {
  run: Pick<TrainConfig['run'], 'seed'>;
  data: Pick<TrainConfig['data'], 'blockSize' | 'batchSize' | 'evalBatchSize' | 'maxEvalBlocks' | 'evalSeed' | 'randomOffset' | 'shuffle'>;
  optimizer: TrainConfig['optimizer'];
  schedule: ScheduleConfig;
  train: TrainConfig['train'];
  distill?: TrainConfig['distill'];
}

/** `distill.method`: off-policy (the data) or an on-policy method (packages/train/src/on-policy/). */
export type DistillMethod = 'offPolicy' | 'gkd' | 'distillm' | 'minillm';

/** `distill.onPolicy` (defaults from TRL's GKDConfig, DistiLLM's and MiniLLM's scripts). */
export interface OnPolicyConfig {
  /** Tokens of each block kept as the prompt; the rest of the block is sampled. Default 16. */
  promptLength: number;
  /** Sampling temperature. Default 1. */
  temperature: number;
  /** Nucleus sampling mass. Default 1. */
  topP: number;
  /** gkd: probability that a step trains on student samples. Default 0.5. */
  lmbda: number;
  /** distillm: initial threshold of the adaptive schedule. Default 0. */
  initThreshold: number;
  /** distillm: validation-loss rise that raises the threshold. Default 0.1. */
  lossEps: number;
  /** distillm: replay buffer capacity in rows. Default 1000. */
  capacity: number;
  /** minillm: teacher mix α of sampling. Default 0.2. */
  mixAlpha: number;
  /** minillm: discount of future costs. Default 0.95. */
  gamma: number;
  /** minillm: normalise future costs by their length. Default true. */
  lengthNorm: boolean;
  /** minillm: add the off-policy step on the data (pt_loss). Default true. */
  ptLoss: boolean;
}

/** A validated `distill` section. */
export type DistillConfig = NonNullable<TrainConfig['distill']>;

type Json = Record<string, unknown>;

const int = (minimum: number, extra: Json = {}): Json => ({ type: 'integer', minimum, ...extra });
const str = (extra: Json = {}): Json => ({ type: 'string', minLength: 1, ...extra });
const strings = (extra: Json = {}): Json => ({ type: 'array', items: { type: 'string', minLength: 1 }, ...extra });
const obj = (properties: Record<string, Json>, extra: Json = {}): Json => ({ type: 'object', properties, additionalProperties: false, ...extra });
/** A schema node with its description (shown by editors, and as comments by `kdgpu init`). */
const doc = (description: string, node: Json): Json => ({ description, ...node });

/** The JSON Schema of a schedule description (fields per type are checked by makeSchedule). */
function scheduleSchema(withDefaults: boolean): Json {
  return obj({
    type: doc('Shape: constant, cosine (warmup then cosine decay), linear, wsd (warmup-stable-decay), ramp.', { enum: ['constant', 'cosine', 'linear', 'wsd', 'ramp'], ...(withDefaults ? { default: 'cosine' } : {}) }),
    totalSteps: doc('Length in optimizer steps; default: the run\'s planned steps.', int(1)),
    warmupSteps: doc('Linear warmup steps from 0.', int(0)),
    warmupFraction: doc('Warmup as a fraction of totalSteps (instead of warmupSteps).', { type: 'number', minimum: 0, maximum: 1 }),
    decaySteps: doc('wsd: steps of the final decay.', int(0)),
    decayFraction: doc('wsd: the final decay as a fraction of totalSteps.', { type: 'number', minimum: 0, maximum: 1 }),
    decayShape: doc('wsd: shape of the final decay.', { enum: ['linear', 'cosine', '1-sqrt'] }),
    minRatio: doc('Floor of the multiplier at the end of the decay.', { type: 'number', minimum: 0, maximum: 1 }),
    numCycles: doc('cosine: number of half-cycles (HF num_cycles).', { type: 'number', minimum: 0 }),
    peak: doc('Multiplier after warmup (default 1).', { type: 'number' }),
    value: doc('constant: the multiplier.', { type: 'number' }),
    from: doc('ramp: start value.', { type: 'number' }),
    to: doc('ramp: end value.', { type: 'number' }),
    startStep: doc('ramp: step where the ramp starts.', int(0)),
    endStep: doc('ramp: step where the ramp ends.', int(0)),
  }, withDefaults ? { default: {} } : { required: ['type'] });
}

/**
 * The JSON Schema (draft-07) of {@link TrainConfig}, with `default`s for Ajv's `useDefaults` and a
 * `description` per field. Shipped as `packages/train/config.schema.json` (kept equal by a test),
 * so a config's `"$schema"` can point at it for completion and checking in an editor.
 */
export const trainConfigSchema: Json = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://kdgpu.dev/schemas/train-config.json',
  title: 'kdgpu training config',
  ...obj({
    $schema: doc('Path or URL of this schema (packages/train/config.schema.json), for editors.', { type: 'string' }),
    run: doc('Where the run goes and its seed.', obj({
      // A folder name, not a path: a config must not place its run outside run.outDir.
      name: doc('Run name: the folder <outDir>/<name> holds everything the run writes.', str({ default: 'run', pattern: '^(?!\\.{1,2}$)[^/\\\\]+$' })),
      outDir: doc('Parent folder of runs.', str({ default: 'runs' })),
      seed: doc('Seed of data order, random offsets, the validation subset and initialisation.', int(0, { default: 42 })),
    }, { default: {} })),
    data: doc('The training text, and how it is cut into blocks.', obj({
      dir: doc('A folder of training files ending in one of extensions (.gz allowed); exactly one of dir and files.', str()),
      files: doc('Training files: plain text, .gz, or .jsonl with a "text" field.', strings({ minItems: 1 })),
      evalDir: doc('A folder of validation files (default: the .dev files of dir).', str()),
      evalFiles: doc('Validation files.', strings({ minItems: 1 })),
      extensions: doc('File name endings picked up from dir (babylm_dataset.py).', strings({ default: ['.train', '.dev'] })),
      blockSize: doc('Tokens per block (T); at most the model\'s context length.', int(1, { default: 128 })),
      batchSize: doc('Blocks per micro-batch (B).', int(1, { default: 32 })),
      evalBatchSize: doc('Blocks per validation batch (default: batchSize).', int(1)),
      maxEvalBlocks: doc('Validation subset size in blocks (Baby Llama: 8192).', int(1, { default: 8192 })),
      evalSeed: doc('Seed of the validation subset.', int(0, { default: 2023 })),
      randomOffset: doc('Shift each block by a seeded random offset (Baby Llama\'s random_chunk); false for offline logits.', { type: 'boolean', default: true }),
      shuffle: doc('Visit the blocks in a new seeded order each epoch.', { type: 'boolean', default: true }),
      clean: doc('Cleaner per source (file stem -> cleaner name); unlisted sources are unchanged.', { type: 'object', additionalProperties: { enum: [...CLEANER_NAMES] }, default: {} }),
      dropParagraphBreaks: doc('Reproduce mrclean.py\'s deletion of paragraph breaks.', { type: 'boolean', default: false }),
      cacheDir: doc('Token cache folder (default: <run>/cache/tokens).', str()),
    })),
    tokenizer: doc('The tokenizer: load one (path) or train one on the training files (train).', obj({
      path: doc('A Hugging Face tokenizer.json (a kdgpu run writes <run>/tokenizer.json).', str()),
      train: doc('Train a byte-level BPE on the training files (Baby Llama\'s tokenizer).', obj({
        vocabSize: doc('Vocabulary size, special tokens included.', int(1, { default: 16000 })),
        minFrequency: doc('Merge only pairs seen at least this often.', int(1, { default: 2 })),
        specialTokens: doc('Special tokens, given the first ids.', { type: 'array', items: { type: 'string', minLength: 1 }, default: ['<pad>', '<s>', '</s>'] }),
      })),
    })),
    model: doc('The model trained (the student when distilling); its vocabulary is the tokenizer\'s.', obj({
      type: doc('Architecture.', { enum: ['llama', 'gpt2'] }),
      preset: doc(`A preset of @kdgpu/models: ${presetNames().join(', ')}.`, str()),
      config: doc('Hugging Face config.json fields, over the preset\'s (e.g. hidden_size, num_hidden_layers, max_position_embeddings).', { type: 'object' }),
    }, { required: ['type'] })),
    teachers: doc('Teacher models (saved folders) for distillation or offline logits.', {
      type: 'array',
      items: obj({
        path: doc('A saved model folder (a run\'s final/, or a Hugging Face model).', str()),
        weight: doc('Weight in the ensemble (normalised over the teachers).', { type: 'number', exclusiveMinimum: 0, default: 1 }),
        tokenizer: doc('The teacher\'s tokenizer.json (default: one in or beside the model folder).', str()),
      }, { required: ['path'] }),
      default: [],
    }),
    distill: doc('Distillation; absent = plain language-model training. Loss = (1 - kdRatio)·CE + kdRatio·KD.', obj({
      loss: doc(`A loss of @kdgpu/losses: ${lossNames().filter((n) => lossInfo(n).needsTeacher).map((n) => (lossInfo(n).crossVocabulary ? `${n} (across tokenizers)` : n)).join(', ')}.`, str({ default: 'forwardKL' })),
      lossOptions: doc('Options of the loss (checked by the losses registry), e.g. {"alpha": 0.1}; "reduction" is how KD reduces over an optimizer window: mean (default, per valid token like CE), sum, or batchmean (per row, as Baby Llama; about blockSize times mean).', { type: 'object', properties: { reduction: { enum: [...KD_REDUCTIONS] } }, default: {} }),
      kdRatio: doc('Weight of the KD term in [0, 1], or a schedule of it.', { anyOf: [{ type: 'number', minimum: 0, maximum: 1 }, scheduleSchema(false)], default: 0.5 }),
      temperature: doc('Softmax temperature of both sides (the loss is scaled by T² as Hinton et al.).', { type: 'number', exclusiveMinimum: 0, default: 1 }),
      ensemble: doc('How several teachers combine: mean of logits (Baby Llama) or of probabilities.', { enum: ['logits', 'probs'], default: 'logits' }),
      chunks: doc('Split the loss over the sequence into this many chunks (less memory).', int(1, { default: 1 })),
      method: doc('Where the divergence is measured: offPolicy (the data), gkd (a fraction lmbda of steps on student samples), distillm (adaptive student samples with a replay buffer; use a skew KL loss), minillm (policy-gradient sequence reverse KL on teacher-mixed samples).', { enum: ['offPolicy', 'gkd', 'distillm', 'minillm'], default: 'offPolicy' }),
      onPolicy: doc('Settings of the on-policy methods.', obj({
        promptLength: doc('Tokens of each block kept as the prompt; the rest of the block is sampled from the student.', int(1, { default: 16 })),
        temperature: doc('Sampling temperature (0 = greedy).', { type: 'number', minimum: 0, default: 1 }),
        topP: doc('Nucleus sampling mass (1 = all tokens).', { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 1 }),
        lmbda: doc('gkd: probability that a step trains on student samples (TRL default 0.5).', { type: 'number', minimum: 0, maximum: 1, default: 0.5 }),
        initThreshold: doc('distillm: initial probability threshold of student-generated outputs.', { type: 'number', minimum: 0, maximum: 1, default: 0 }),
        lossEps: doc('distillm: a validation-loss rise of at least this raises the threshold by 0.1.', { type: 'number', minimum: 0, default: 0.1 }),
        capacity: doc('distillm: replay buffer capacity (rows).', int(1, { default: 1000 })),
        mixAlpha: doc('minillm: sample from alpha·teacher + (1 - alpha)·student.', { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.2 }),
        gamma: doc('minillm: discount of future costs.', { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.95 }),
        lengthNorm: doc('minillm: divide future costs by the number of future tokens.', { type: 'boolean', default: true }),
        ptLoss: doc('minillm: add the off-policy step on the data window (MiniLLM pt_loss).', { type: 'boolean', default: true }),
      }, { default: {} })),
    })),
    optimizer: doc('AdamW (torch.optim.AdamW semantics).', obj({
      type: doc('The optimizer.', { enum: ['adamw'], default: 'adamw' }),
      lr: doc('Peak learning rate.', { type: 'number', exclusiveMinimum: 0, default: 3e-4 }),
      betas: doc('Adam betas.', { type: 'array', items: { type: 'number', minimum: 0, exclusiveMaximum: 1 }, minItems: 2, maxItems: 2, default: [0.9, 0.999] }),
      eps: doc('Adam epsilon.', { type: 'number', exclusiveMinimum: 0, default: 1e-8 }),
      weightDecay: doc('Decoupled weight decay.', { type: 'number', minimum: 0, default: 0 }),
      clipGradNorm: doc('Max global gradient norm; 0 disables clipping.', { type: 'number', minimum: 0, default: 1 }),
      gradAccumulation: doc('Micro-batches per optimizer step (token-weighted: the same step as one larger batch).', int(1, { default: 1 })),
    }, { default: {} })),
    schedule: doc('Learning-rate multiplier over the optimizer steps.', scheduleSchema(true)),
    train: doc('How long, and how often to log, evaluate and checkpoint.', obj({
      epochs: doc('Epochs over the training blocks (default 1 when maxSteps is absent).', { type: 'number', exclusiveMinimum: 0 }),
      maxSteps: doc('Cap on optimizer steps; with epochs too, whichever comes first.', int(1)),
      evalEvery: doc('Evaluate every N steps; 0 = at the end of each epoch (and always at the end).', int(0, { default: 0 })),
      logEvery: doc('Log (metrics.jsonl and the console) every N steps.', int(1, { default: 10 })),
      checkpointEvery: doc('Checkpoint every N steps; 0 = at the end of each epoch.', int(0, { default: 0 })),
      maxNonFiniteSteps: doc('Stop after this many steps in a row with a non-finite loss (they are skipped).', int(0, { default: 10 })),
      keepCheckpoints: doc('Keep only the newest N step checkpoints (latest and best always kept); 0 keeps all.', int(0, { default: 0 })),
    }, { default: {} })),
    offlineLogits: doc('Stored teacher logits (kdgpu logits writes them; distill reads them instead of running the teachers).', obj({
      path: doc('The logits file.', str()),
      topK: doc('Keep the teachers\' K most likely tokens per position.', int(1, { default: 50 })),
      topP: doc('Keep the smallest set of tokens holding this probability mass (before topK); not used by sparse files.', { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.95 }),
      sparse: doc('kdgpu logits writes a sparse file: per position the top-K token ids, their log-probabilities (τ = 1, within 2^-12 nats) and the tail mass, for the sparse losses (distill.lossOptions.missingMass); `kdgpu logits --top-k K` sets it. Distillation reads either kind, as the file says.', { type: 'boolean', default: false }),
    }, { required: ['path'] })),
  }, { required: ['data', 'tokenizer', 'model'] }),
};
