/**
 * @kdgpu/losses: knowledge-distillation losses on @kdgpu/tensor.
 *
 * Every loss is `(studentLogits, teacherLogits, labels, opts) -> Tensor`: logits [N, V] or
 * [B, T, V] (teacher: same shape, or a list of them for an ensemble), labels [N] or [B, T] i32
 * with `ignoreIndex` (-100) at positions that do not count. p is the teacher distribution, q the
 * student's. The result is a scalar (the mean over valid tokens by default).
 *
 * ```ts
 * import { init, randn, tensor } from '@kdgpu/tensor';
 * import { forwardKL } from '@kdgpu/losses';
 * await init();
 * const student = randn([4, 10], { seed: 1 });
 * student.requiresGrad = true;
 * const teacher = randn([4, 10], { seed: 2 });
 * const labels = tensor([1, 2, -100, 3], { dtype: 'i32' });
 * const loss = forwardKL(student, teacher, labels, { temperature: 2 });
 * loss.backward();
 * console.log(await loss.item(), await student.grad!.toArray());
 * ```
 */
export type { CommonOptions, DistillOptions, EnsembleMode, LossFn, Reduction, TeacherInput } from './types.ts';
export { crossEntropy, type CrossEntropyOptions } from './losses/cross-entropy.ts';
export { forwardKL, reverseKL, symmetricKL, type ForwardForm, type ForwardKLOptions, type SymmetricKLOptions } from './losses/kl.ts';
export { generalizedJSD, jsDivergence, type GeneralizedJSDOptions } from './losses/jsd.ts';
export { skewForwardKL, skewReverseKL, type SkewForwardKLOptions, type SkewKLOptions } from './losses/skew-kl.ts';
export { totalVariation } from './losses/total-variation.ts';
export { logitMSE, type LogitMSEOptions } from './losses/logit-mse.ts';
export { nllSoft } from './losses/nll-soft.ts';
export { defineLoss, type DefinedLoss, type LossSpec } from './define.ts';
export { pair, type Pair } from './pair.ts';
export { maskTokens, reduceTokens, validMask } from './reduce.ts';
export { teacherLogits, truncate } from './teacher.ts';
export { logAddExp } from './math.ts';
export { isSparseTeacher, SparseTeacher, sparseFromArrays, sparseTopK, type SparseArrays, type SparseFromArraysOptions } from './sparse/teacher.ts';
export { fusedHeadLoss, type FusedHeadOptions } from './fused/head.ts';
export { MISSING_MASS, sparseInputs, type MissingMass } from './sparse/inputs.ts';
export { combineLosses, scheduleRatio, type CombineOptions, type RatioSchedule } from './combine.ts';
export { LOSSES, createLoss, lossInfo, lossNames, lossOptionKeys, type BoundLoss, type LossInfo, type LossName, type LossOptionsOf } from './registry.ts';
export { universalLogitDistillation, uld, type CrossVocabularySpec, type ULDOptions } from './cross/uld.ts';
