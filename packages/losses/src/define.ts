import { type Tensor, tidy } from '@kdgpu/tensor';
import { runChunked } from './chunk.ts';
import { maskTokens, reduceTokens, validMask } from './reduce.ts';
import { teacherLogits } from './teacher.ts';
import type { CommonOptions, DistillOptions, LossFn, TeacherInput } from './types.ts';
import { checkCommon, checkDistill, checkInputs, checkSparseOptions } from './validate.ts';
import { sparseInputs } from './sparse/inputs.ts';
import { isSparseTeacher } from './sparse/teacher.ts';

/** What a loss file provides; `defineLoss` adds validation, teacher processing, temperature, chunking and the reduction. */
export interface LossSpec<O extends CommonOptions> {
  /** The name in error messages and in the registry. */
  readonly name: string;
  /** Whether teacher logits are required (every loss but cross-entropy). */
  readonly needsTeacher: boolean;
  /** Whether `temperature` divides the logits (and τ² scales the loss). */
  readonly usesTemperature: boolean;
  /** Option keys this loss accepts beyond the shared ones (the registry rejects others). */
  readonly ownOptions: readonly string[];
  /** Defaults merged under the caller's options (e.g. nllSoft's top-p/top-k). */
  readonly defaults?: Partial<O>;
  /** Checks the loss's own options; throws a KdgpuError naming the bad one. */
  readonly check?: (o: O) => void;
  /**
   * Whether the loss can take a sparse (top-k) teacher (default: yes, for every loss with a
   * teacher). False for losses that need the teacher's raw logits (logitMSE).
   */
  readonly sparse?: boolean;
  /**
   * Whether the loss weighs only the tokens the teacher gives mass to (forward KL, its skew form,
   * soft NLL), so a truncated teacher (-inf outside its kept tokens) gives the exact value. The
   * others count 0 where the teacher has no logit (torchtune's and DistiLLM's convention), leaving
   * the student's mass there unpenalised. Default false.
   */
  readonly teacherSupportOnly?: boolean;
  /**
   * Per-token loss [..., n] of student logits [..., n, V] (already / τ, recording gradients) and the
   * processed teacher logits (a constant; null when `needsTeacher` is false). Masking, τ² and the
   * reduction are applied by the caller.
   */
  readonly perToken: (student: Tensor, teacher: Tensor | null, labels: Tensor | null, o: O) => Tensor;
}

/** A loss function carrying its spec (for the registry). */
export type DefinedLoss<O extends CommonOptions> = LossFn<O> & { readonly spec: LossSpec<O> };

/** Option keys shared by every loss. */
export const COMMON_OPTIONS = ['ignoreIndex', 'reduction', 'chunks'] as const;
/** Option keys shared by every loss with a teacher. */
export const TEACHER_OPTIONS = ['topK', 'topP', 'ensemble', 'teacherWeights', 'missingMass'] as const;
/** Option keys shared by every loss with a temperature. */
export const TEMPERATURE_OPTIONS = ['temperature', 'teacherTemperature', 'scaleByTemperatureSquared'] as const;

/** The option keys `spec` accepts. */
export function optionKeys(spec: LossSpec<CommonOptions>): string[] {
  return [
    ...COMMON_OPTIONS,
    ...(spec.needsTeacher ? TEACHER_OPTIONS : []),
    ...(spec.usesTemperature ? TEMPERATURE_OPTIONS : []),
    ...spec.ownOptions,
  ];
}

/** Turns a per-token definition into a loss `(student, teacher, labels, opts) -> Tensor`. */
export function defineLoss<O extends CommonOptions>(spec: LossSpec<O>): DefinedLoss<O> {
  const fn = (student: Tensor, teacher: TeacherInput, labels: Tensor | null, opts?: O): Tensor => {
    const o = { ...spec.defaults, ...opts } as O;
    checkCommon(spec.name, o);
    const sparse = spec.needsTeacher && isSparseTeacher(teacher) ? teacher : null;
    // The caller's own options (not the spec's defaults) decide what a sparse teacher refuses.
    if (sparse) checkSparseOptions(spec.name, spec.sparse ?? true, (opts ?? {}) as DistillOptions);
    const teachers = checkInputs(spec.name, student, teacher, labels, spec.needsTeacher);
    const d = o as DistillOptions;
    if (spec.needsTeacher) checkDistill(spec.name, d, sparse ? 1 : teachers.length, sparse !== null);
    spec.check?.(o);

    const tau = spec.usesTemperature ? (d.temperature ?? 1) : 1;
    const scale = spec.usesTemperature && (d.scaleByTemperatureSquared ?? true) ? tau * tau : 1;
    const teacherOpts: DistillOptions = spec.usesTemperature ? d : { ...d, temperature: 1, teacherTemperature: 1 };
    const ignoreIndex = o.ignoreIndex ?? -100;

    // One slice of positions: student [..., n, V] -> masked, scaled per-token losses [..., n].
    const tokensOf = (s: Tensor, ts: readonly Tensor[], ls: Tensor | null): Tensor =>
      tidy(() => {
        const t = spec.needsTeacher ? tidy(() => teacherLogits(ts, teacherOpts)) : null;
        const perToken = spec.perToken(tau === 1 ? s : s.div(tau), t, ls, o);
        return maskTokens(perToken, validMask(ls, ignoreIndex), scale);
      });

    // A sparse teacher: its three tensors travel (and are chunked) as the "teachers"; each slice is
    // turned into (student, teacher) inputs of the same per-token formula (sparse/inputs.ts).
    const tauT = spec.usesTemperature ? (d.teacherTemperature ?? tau) : 1;
    const sparseTokensOf = (s: Tensor, [ids, lp, tail]: readonly Tensor[], ls: Tensor | null): Tensor =>
      tidy(() => {
        const x = sparseInputs(tau === 1 ? s : s.div(tau), ids, lp, tail, d.missingMass ?? 'tail-bucket', tauT);
        return maskTokens(spec.perToken(x.student, x.teacher, ls, o), validMask(ls, ignoreIndex), scale);
      });
    const run = sparse ? sparseTokensOf : tokensOf;
    const inputs = sparse ? [sparse.ids, sparse.logprobs, sparse.tail] : teachers;

    return tidy(() => {
      const positions = student.shape[student.rank - 2];
      const chunks = Math.min(o.chunks ?? 1, Math.max(1, positions));
      const tokens = chunks > 1 ? runChunked(run, student, inputs, labels, chunks) : run(student, inputs, labels);
      return reduceTokens(tokens, validMask(labels, ignoreIndex), o.reduction ?? 'mean', student.shape[0]);
    });
  };
  return Object.assign(fn, { spec });
}
