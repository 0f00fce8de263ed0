import { KdgpuError, type Tensor } from '@kdgpu/tensor';
import type { CommonOptions, DistillOptions, Reduction, TeacherInput } from './types.ts';
import { checkMissingMass } from './sparse/inputs.ts';
import { isSparseTeacher } from './sparse/teacher.ts';

const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

/**
 * Checks the inputs of loss `name` and returns the teachers as a list (empty when none is needed).
 * Errors name the shapes involved and the fix.
 */
export function checkInputs(name: string, student: Tensor, teacher0: TeacherInput, labels: Tensor | null, needsTeacher: boolean): Tensor[] {
  const teacher = teacher0;
  if (student.rank !== 2 && student.rank !== 3) {
    throw new KdgpuError(`${name}: student logits must be [N, V] or [B, T, V], got ${fmt(student.shape)}`);
  }
  if (student.dtype !== 'f32') throw new KdgpuError(`${name}: student logits must be f32, got ${student.dtype}`);
  if (isSparseTeacher(teacher)) {
    const V = student.shape[student.rank - 1];
    const lead = student.shape.slice(0, -1);
    if (teacher.vocabSize !== V) {
      throw new KdgpuError(`${name}: the sparse teacher indexes a vocabulary of ${teacher.vocabSize} tokens, the student logits ${fmt(student.shape)} one of ${V} (teacher and student must share a tokenizer)`);
    }
    if (teacher.positions.join() !== lead.join()) {
      throw new KdgpuError(`${name}: the sparse teacher has positions ${fmt(teacher.positions)} (ids ${fmt(teacher.ids.shape)}), the student logits ${fmt(student.shape)} need ${fmt(lead)}`);
    }
  }
  const teachers = teacher === null || isSparseTeacher(teacher) ? [] : Array.isArray(teacher) ? [...(teacher as readonly Tensor[])] : [teacher as Tensor];
  if (needsTeacher && teachers.length === 0 && !isSparseTeacher(teacher0)) {
    throw new KdgpuError(`${name}: needs teacher logits of shape ${fmt(student.shape)} (got ${teacher === null ? 'null' : 'an empty list'})`);
  }
  for (const [i, t] of teachers.entries()) {
    const which = teachers.length > 1 ? `teacher logits #${i}` : 'teacher logits';
    if (t.rank !== student.rank || t.shape.some((d, k) => d !== student.shape[k])) {
      throw new KdgpuError(
        `${name}: student logits ${fmt(student.shape)} and ${which} ${fmt(t.shape)} must have the same shape, vocabulary included ` +
          `(teacher and student must share a tokenizer; slice or pad the vocabulary first)`,
      );
    }
    if (t.dtype !== 'f32') throw new KdgpuError(`${name}: ${which} must be f32, got ${t.dtype}`);
  }
  if (labels !== null) {
    const want = student.shape.slice(0, -1);
    if (labels.rank !== want.length || labels.shape.some((d, k) => d !== want[k])) {
      throw new KdgpuError(`${name}: labels ${fmt(labels.shape)} must have shape ${fmt(want)} (student logits ${fmt(student.shape)} without the vocabulary axis)`);
    }
    if (labels.dtype !== 'i32') throw new KdgpuError(`${name}: labels must be integer (i32) token ids, got ${labels.dtype} (use .cast('i32'))`);
  }
  return teachers;
}

const REDUCTIONS: readonly Reduction[] = ['mean', 'sum', 'batchmean', 'none'];

/** Checks the options every loss shares. */
export function checkCommon(name: string, o: CommonOptions): void {
  if (o.reduction !== undefined && !REDUCTIONS.includes(o.reduction)) {
    throw new KdgpuError(`${name}: reduction must be one of ${REDUCTIONS.join(', ')}, got ${JSON.stringify(o.reduction)}`);
  }
  if (o.chunks !== undefined && !(Number.isInteger(o.chunks) && o.chunks >= 1)) {
    throw new KdgpuError(`${name}: chunks must be a positive integer, got ${o.chunks}`);
  }
  if (o.ignoreIndex !== undefined && !Number.isInteger(o.ignoreIndex)) {
    throw new KdgpuError(`${name}: ignoreIndex must be an integer, got ${o.ignoreIndex}`);
  }
}

/**
 * Checks the caller's options against a sparse teacher: teacher processing that needs the dense
 * logits (truncation, ensembles) is refused rather than silently skipped.
 */
export function checkSparseOptions(name: string, supported: boolean, o: DistillOptions): void {
  if (!supported) {
    throw new KdgpuError(`${name}: cannot take a sparse (top-k) teacher: it compares raw teacher logits, which a sparse teacher does not hold; pass dense teacher logits`);
  }
  for (const k of ['topK', 'topP', 'ensemble', 'teacherWeights'] as const) {
    if (o[k] !== undefined) {
      throw new KdgpuError(`${name}: ${k} does not apply to a sparse teacher (it is already truncated to its top k; choose k when building it, e.g. sparseTopK(logits, k)); remove ${k}`);
    }
  }
}

/** Checks the teacher-side options. */
export function checkDistill(name: string, o: DistillOptions, teachers: number, sparse = false): void {
  checkMissingMass(name, o.missingMass);
  if (o.missingMass !== undefined && !sparse) {
    throw new KdgpuError(`${name}: missingMass applies to a sparse (top-k) teacher only, and the teacher here is dense logits; remove missingMass`);
  }
  for (const k of ['temperature', 'teacherTemperature'] as const) {
    const v = o[k];
    if (v !== undefined && !(v > 0 && Number.isFinite(v))) throw new KdgpuError(`${name}: ${k} must be a positive number, got ${v}`);
  }
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw new KdgpuError(`${name}: topK must be a non-negative integer (0 = no top-k), got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new KdgpuError(`${name}: topP must be in (0, 1], got ${o.topP}`);
  if (o.ensemble !== undefined && o.ensemble !== 'logits' && o.ensemble !== 'probs') {
    throw new KdgpuError(`${name}: ensemble must be 'logits' or 'probs', got ${JSON.stringify(o.ensemble)}`);
  }
  const w = o.teacherWeights;
  if (w !== undefined) {
    if (w.length !== teachers) throw new KdgpuError(`${name}: teacherWeights has ${w.length} entries for ${teachers} teacher(s)`);
    if (w.some((x) => !(x >= 0 && Number.isFinite(x))) || !(w.reduce((a, b) => a + b, 0) > 0)) {
      throw new KdgpuError(`${name}: teacherWeights must be non-negative with a positive sum, got [${w.join(', ')}]`);
    }
  }
}

/** Checks that `v` is a number in [0, 1] (mixing ratios, skews, β). */
export function checkUnit(name: string, key: string, v: number): void {
  if (!(v >= 0 && v <= 1)) throw new KdgpuError(`${name}: ${key} must be in [0, 1], got ${v}`);
}
