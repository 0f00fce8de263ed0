import { KdgpuError, type Tensor } from '@kdgpu/tensor';
import { type CrossVocabularySpec, uld } from './cross/uld.ts';
import { type DefinedLoss, type LossSpec, optionKeys } from './define.ts';
import { crossEntropy } from './losses/cross-entropy.ts';
import { generalizedJSD, jsDivergence } from './losses/jsd.ts';
import { forwardKL, reverseKL, symmetricKL } from './losses/kl.ts';
import { logitMSE } from './losses/logit-mse.ts';
import { nllSoft } from './losses/nll-soft.ts';
import { skewForwardKL, skewReverseKL } from './losses/skew-kl.ts';
import { totalVariation } from './losses/total-variation.ts';
import type { CommonOptions, TeacherInput } from './types.ts';
import { checkCommon } from './validate.ts';

/**
 * Every loss by name. Adding a loss: one file under losses/ that calls `defineLoss`, and one row
 * here; its options are then accepted (and unknown ones rejected) by `createLoss`. `uld` compares
 * distributions over different vocabularies (cross-tokenizer distillation; see {@link lossInfo}).
 */
export const LOSSES = {
  crossEntropy,
  forwardKL,
  reverseKL,
  symmetricKL,
  jsDivergence,
  generalizedJSD,
  skewForwardKL,
  skewReverseKL,
  totalVariation,
  logitMSE,
  nllSoft,
  uld,
} as const;

/** The name of a registered loss. */
export type LossName = keyof typeof LOSSES;

/** The options type of loss `K`. */
export type LossOptionsOf<K extends LossName> = NonNullable<Parameters<(typeof LOSSES)[K]>[3]>;

/** A loss with its options bound: `(studentLogits, teacherLogits, labels) -> Tensor`. */
export type BoundLoss = (studentLogits: Tensor, teacherLogits: TeacherInput, labels: Tensor | null) => Tensor;

/** What a caller needs to know about a registered loss before using it. */
export interface LossInfo {
  name: LossName;
  /** The option keys it accepts. */
  options: string[];
  /** Whether it needs teacher logits (every loss but cross-entropy). */
  needsTeacher: boolean;
  /** Whether it takes a `temperature`. */
  usesTemperature: boolean;
  /**
   * Whether student and teacher may have different vocabularies (and sequence lengths): true for
   * cross-tokenizer losses (ULD), which take one teacher and no truncation; false for the others,
   * which compare the two distributions token id by token id.
   */
  crossVocabulary: boolean;
  /** Whether a truncated teacher gives the exact value (see `LossSpec.teacherSupportOnly`). */
  exactOnTruncatedTeacher: boolean;
}

function isKnown(name: string): name is LossName {
  return Object.hasOwn(LOSSES, name);
}

function specOf(name: LossName): LossSpec<CommonOptions> | CrossVocabularySpec {
  return LOSSES[name].spec as LossSpec<CommonOptions> | CrossVocabularySpec;
}

/** The registered loss names. */
export function lossNames(): LossName[] {
  return Object.keys(LOSSES) as LossName[];
}

/** Facts about loss `name` (throws for an unknown name, listing the known ones). */
export function lossInfo(name: string): LossInfo {
  if (!isKnown(name)) throw new KdgpuError(`unknown loss ${JSON.stringify(name)}; known: ${lossNames().join(', ')}`);
  const spec = specOf(name);
  if ('crossVocabulary' in spec) {
    return { name, options: [...spec.options], needsTeacher: true, usesTemperature: spec.options.includes('temperature'), crossVocabulary: true, exactOnTruncatedTeacher: false };
  }
  return { name, options: optionKeys(spec), needsTeacher: spec.needsTeacher, usesTemperature: spec.usesTemperature, crossVocabulary: false, exactOnTruncatedTeacher: spec.teacherSupportOnly ?? false };
}

/** The option keys loss `name` accepts. */
export function lossOptionKeys(name: LossName): string[] {
  return lossInfo(name).options;
}

/**
 * Looks a loss up by name and binds its options; unknown names and unknown or invalid options are
 * errors now rather than at the first step. For configs: `createLoss(cfg.name, cfg.options)`.
 */
export function createLoss<K extends LossName>(name: K, opts?: LossOptionsOf<K>): BoundLoss;
export function createLoss(name: string, opts?: Record<string, unknown>): BoundLoss;
export function createLoss(name: string, opts: object = {}): BoundLoss {
  if (!isKnown(name)) {
    throw new KdgpuError(`createLoss: unknown loss ${JSON.stringify(name)}; known: ${lossNames().join(', ')}`);
  }
  const allowed = lossInfo(name).options;
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k)) throw new KdgpuError(`createLoss: ${name} has no option ${JSON.stringify(k)}; its options are ${allowed.join(', ')}`);
  }
  const spec = specOf(name);
  if ('crossVocabulary' in spec) {
    const o = { ...opts } as CommonOptions;
    checkCommon(name, o);
    spec.check?.(o);
    return (s, t, l) => uld(s, t as Tensor, l, o);
  }
  const loss = LOSSES[name] as unknown as DefinedLoss<CommonOptions>;
  const o = { ...spec.defaults, ...opts } as CommonOptions;
  checkCommon(name, o);
  spec.check?.(o);
  // The caller's options, not `o`: the loss merges the defaults itself, and with a sparse teacher it
  // must know which options the caller gave (nllSoft's default truncation does not apply to one).
  return (s, t, l) => loss(s, t, l, opts as CommonOptions);
}
