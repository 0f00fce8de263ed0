/**
 * @kdgpu/train: the browser-safe core of training: the trainer and its step, the distillation
 * objective, data blocking and text inputs, cleaning, schedules, config validation, vocabulary
 * checks, metrics, progress, loss plots, evaluation, and the token-cache and offline-logits file
 * formats. File-system and process adapters are in `@kdgpu/train/node` (`./node.ts`).
 * Every public name is listed here; anything else is internal.
 * @module
 */

// The trainer, one step, the objective.
export {
  train,
  plannedSteps,
  snapshotOptimizer,
  NonFiniteLossError,
  type TrainerOptions,
  type TrainData,
  type TrainSummary,
  type TrainerState,
  type OptimizerSnapshot,
  type CheckpointReason,
} from './trainer.ts';
export {
  trainStep,
  accumulateGradients,
  runTeachers,
  shiftLabels,
  batchLabels,
  countValid,
  newAccumulators,
  readSums,
  zeroSums,
  disposeAccumulators,
  RUNNING_SUMS,
  type StepInputs,
  type WindowInputs,
  type WindowLosses,
  type DistillPart,
  type TeacherSource,
  type RunningSums,
  type Accumulators,
} from './step.ts';
export { buildObjective, sameTokenizer, tokenizerKey, type ObjectiveOptions, type TeacherSpec } from './objective.ts';

// On-policy distillation: student samples as training data (GKD, DistiLLM, MiniLLM).
export { onPolicyMethod } from './on-policy/from-config.ts';
export { type OnPolicyMethod, type OnPolicyStats, type WindowFn } from './on-policy/method.ts';
export { gkd, type GkdOptions } from './on-policy/gkd.ts';
export { distillm, type DistillmOptions } from './on-policy/distillm.ts';
export { minillm, policyGradientWindow, type MiniLLMOptions } from './on-policy/minillm.ts';
export { minillmLoss, type MiniLLMLossOptions, type MiniLLMTerms } from './on-policy/minillm-loss.ts';
export { promptsOf, continuationLabels, continuationBatch, splitRows } from './on-policy/batches.ts';
export { generateWindow, newGenerationStats, type SamplingSettings, type GenerationStats } from './on-policy/generate-window.ts';
export { ReplayBuffer } from './on-policy/replay-buffer.ts';
export { AdaptiveSgoSchedule, type AdaptiveSgoOptions, type SgoChoice } from './on-policy/adaptive-schedule.ts';
export { studentModelConfig, type TokenizerFacts } from './model-config.ts';
export { checkVocabulary, type VocabSide } from './vocab.ts';

// Configs and schedules.
export { type TrainConfig, type TrainingConfig, type DistillConfig, type DistillMethod, type OnPolicyConfig, type KdReduction, KD_REDUCTIONS, trainConfigSchema } from './config-schema.ts';
export { validateConfig, checkConfig, trainingConfig, applyOverrides, formatAjvErrors, FORBIDDEN_KEYS, type ConfigCheck } from './config.ts';
export {
  makeSchedule,
  scheduleFromValue,
  constantSchedule,
  cosineSchedule,
  linearSchedule,
  wsdSchedule,
  rampSchedule,
  SCHEDULE_TYPES,
  type Schedule,
  type ScheduleConfig,
  type DecayShape,
  type ConstantScheduleConfig,
  type CosineScheduleConfig,
  type LinearScheduleConfig,
  type WsdScheduleConfig,
  type RampScheduleConfig,
} from './schedule.ts';

// Data.
export {
  batches,
  batchStream,
  evalBatches,
  countBlocks,
  batchesPerEpoch,
  type TokenArray,
  type Batch,
  type LoaderState,
  type TrainBlockOptions,
  type EvalBlockOptions,
} from './blocks.ts';
export { decodeTextInput, textFormatOf, isGzip, withoutGz, type TextFormat } from './text-input.ts';
export { CLEANERS, CLEANER_NAMES, BABYLM_SOURCES, cleanerFor, sourceOf, type Cleaner, type CleanOptions, type BabyLMSource } from './clean.ts';
export { crc32, hash64 } from './checksum.ts';
export { tokenCacheKey, encodeTokenCache, decodeTokenCache, TOKEN_CACHE_MAGIC, TOKEN_CACHE_VERSION, TOKEN_CACHE_HEADER_BYTES, type TokenCacheMeta } from './token-cache.ts';
export { MAGIC as OFFLINE_LOGITS_MAGIC, encodeBlock, decodeBlock, denseLogits, type OfflineFooter } from './offline-logits.ts';
export {
  SPARSE_MAGIC, LOGPROB_STEP, MAX_LOGPROB_CODE, ZERO_PROB_CODE, quantiseLogProb, dequantiseLogProb, topKRows, encodeSparseBlock, decodeSparseBlock, padSparse, checkSparseFooter, footerBytes as sparseFooterBytes,
  type SparseBlock, type SparseFooter,
} from './sparse-logits.ts';
export { parseVllmLine, vllmBlock, vllmRequestLine, VLLM_ERROR, type VllmEntry, type VllmResponse, type VllmBlockOptions, type TokenText } from './vllm-logits.ts';

// Logs and plots.
export { formatMetricsRecord, parseMetricsJsonl, jsonlMetricsWriter, memoryMetricsWriter, type MetricsRecord, type MetricsSplit, type MetricsWriter } from './metrics.ts';
export { createProgress, formatDuration, formatCount, type ProgressOptions, type ProgressUpdate, type ProgressReporter } from './progress.ts';
export { plotLossCurves, plotRuns, lossSeries, niceTicks, type LossSeries, type PlotOptions, type RunMetrics } from './plot.ts';

// Evaluation.
export { evaluateLM, type EvalResult } from './evaluate.ts';
export { modelScorer, scoreContinuations, encodePair, maxPositions, prefixTokenId, type EvalTokenizer, type LoglikRequest, type ContinuationScorer, type ScoreOptions, type EncodedPair } from './eval-loglik.ts';
export { evaluateMinimalPairs, parseMinimalPairs, type MinimalPair, type MinimalPairResult, type MinimalPairGroup, type MinimalPairsResult, type MinimalPairsOptions } from './eval-minimal-pairs.ts';
export {
  evaluateMultipleChoice,
  parseMultipleChoice,
  scoreMultipleChoice,
  type MultipleChoiceItem,
  type MultipleChoiceItemResult,
  type MultipleChoiceResult,
  type MultipleChoiceOptions,
} from './eval-multiple-choice.ts';
export {
  evaluateQueries,
  parseQueries,
  scoreResponses,
  generateContinuations,
  modelEmbedder,
  inputEmbeddings,
  type QueryItem,
  type QueryItemResult,
  type QueryResult,
  type TextEmbedder,
  type ScoreResponsesOptions,
  type QueryOptions,
} from './eval-queries.ts';
export { parseJsonl, type JsonlRecord } from './eval-jsonl.ts';
export { keywordMatch, rougeL, cosineSimilarity, type RougeScore } from './eval-text-metrics.ts';
