import { KdgpuError, type Tensor } from '@kdgpu/tensor';
import { type DefinedLoss, optionKeys } from './define.ts';
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
 * here; its options are then accepted (and unknown ones rejected) by `createLoss`.
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
} as const;

/** The name of a registered loss. */
export type LossName = keyof typeof LOSSES;

/** The options type of loss `K`. */
export type LossOptionsOf<K extends LossName> = NonNullable<Parameters<(typeof LOSSES)[K]>[3]>;

/** A loss with its options bound: `(studentLogits, teacherLogits, labels) -> Tensor`. */
export type BoundLoss = (studentLogits: Tensor, teacherLogits: TeacherInput, labels: Tensor | null) => Tensor;

/** The registered loss names. */
export function lossNames(): LossName[] {
  return Object.keys(LOSSES) as LossName[];
}

/** The option keys loss `name` accepts. */
export function lossOptionKeys(name: LossName): string[] {
  return optionKeys(LOSSES[name].spec as DefinedLoss<CommonOptions>['spec']);
}

/**
 * Looks a loss up by name and binds its options; unknown names and unknown or invalid options are
 * errors now rather than at the first step. For configs: `createLoss(cfg.name, cfg.options)`.
 */
export function createLoss<K extends LossName>(name: K, opts?: LossOptionsOf<K>): BoundLoss;
export function createLoss(name: string, opts?: Record<string, unknown>): BoundLoss;
export function createLoss(name: string, opts: object = {}): BoundLoss {
  if (!Object.hasOwn(LOSSES, name)) {
    throw new KdgpuError(`createLoss: unknown loss ${JSON.stringify(name)}; known: ${lossNames().join(', ')}`);
  }
  const loss = LOSSES[name as LossName] as unknown as DefinedLoss<CommonOptions>;
  const allowed = optionKeys(loss.spec);
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k)) throw new KdgpuError(`createLoss: ${name} has no option ${JSON.stringify(k)}; its options are ${allowed.join(', ')}`);
  }
  const o = { ...loss.spec.defaults, ...opts } as CommonOptions;
  checkCommon(name, o);
  loss.spec.check?.(o);
  return (s, t, l) => loss(s, t, l, o);
}
