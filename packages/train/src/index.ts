/**
 * @kdgpu/train: the browser-safe core of training: text cleaning, LR and KD-ratio schedules, data
 * blocking, the token cache format, config validation, metrics, progress and loss plots.
 * File-system and process adapters are in `@kdgpu/train/node` (`./node.ts`).
 * @module
 */

export * from './clean.ts';
export * from './schedule.ts';
export * from './random.ts';
export * from './blocks.ts';
export * from './checksum.ts';
export * from './token-cache.ts';
export * from './config.ts';
export * from './metrics.ts';
export * from './progress.ts';
export * from './plot.ts';
export * from './trainer.ts';
export * from './step.ts';
export * from './evaluate.ts';
export * from './offline-logits.ts';
export * from './eval-jsonl.ts';
export * from './eval-loglik.ts';
export * from './eval-minimal-pairs.ts';
export * from './eval-multiple-choice.ts';
export * from './eval-queries.ts';
export * from './eval-text-metrics.ts';
