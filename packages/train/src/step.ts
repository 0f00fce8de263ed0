import { cat, KdgpuError, keep, nn, noGrad, type Tensor, tensor, tidy, where } from '@kdgpu/tensor';
import { type BoundLoss, isSparseTeacher, type SparseTeacher } from '@kdgpu/losses';
import type { CausalLM } from '@kdgpu/models';
import type { Batch } from './blocks.ts';
import type { KdReduction } from './config-schema.ts';

/**
 * One optimizer step's worth of work, recorded on the GPU with no readback: forward and backward
 * of each micro-batch (each term normalised over the whole window from label counts taken on the
 * CPU, so gradient accumulation equals one big batch), global-norm
 * clipping, and the AdamW update, which the GPU itself skips when the gradients are not finite.
 * Running sums for the logs stay on the GPU until the trainer reads them at a log point.
 */

/** Where the teacher's logits for a micro-batch come from. */
export type TeacherSource =
  | {
      kind: 'models';
      models: CausalLM[];
      /**
       * Cross-tokenizer distillation: the teacher's own token ids for the batch's text ([B, T'],
       * from decoding the student ids and encoding with the teacher's tokenizer).
       */
      retokenize?: (batch: Batch) => { ids: Int32Array; shape: [number, number] };
    }
  | { kind: 'offline'; logits: (batch: Batch) => Tensor | SparseTeacher };

/** The distillation part of the objective. */
export interface DistillPart {
  /**
   * The KD loss with its options bound and `reduction: 'none'`: per-position losses [B, T] (or
   * [B, n] with n ≤ T for a cross-tokenizer loss, which compares the first n positions only), 0
   * where the label is -100. The step sums them and normalises over the window (`reduction`).
   */
  loss: BoundLoss;
  teachers: TeacherSource;
  /** How the KD term reduces over the optimizer window. */
  reduction: KdReduction;
  /**
   * Same tokenizer, different vocabulary rows (one model's embedding padded): the KD loss sees
   * only the first `sharedVocab` logits of both sides. Undefined: the sizes are equal.
   */
  sharedVocab?: number;
}

/**
 * What the trainer accumulates between log points. The loss parts and the norm are sums over the
 * finite steps of the interval; the counters count steps.
 */
export interface RunningSums {
  /** Sum of the total (backpropagated) loss. */
  loss: number;
  /** Sum of the cross-entropy part. */
  ce: number;
  /** Sum of the distillation part (0 without distillation). */
  kd: number;
  /** Sum of the global gradient norms before clipping. */
  gradNorm: number;
  /** Steps taken since the last log point. */
  steps: number;
  /** Steps since the last log point whose loss or gradients were not finite (skipped). */
  skipped: number;
  /** Non-finite steps in a row, up to now (not reset at log points). */
  consecutiveNonFinite: number;
  /** Non-finite steps since the run began (not reset at log points). */
  totalNonFinite: number;
}

/** The names of {@link RunningSums}, in a fixed order (the order of the single readback). */
export const RUNNING_SUMS = ['loss', 'ce', 'kd', 'gradNorm', 'steps', 'skipped', 'consecutiveNonFinite', 'totalNonFinite'] as const satisfies readonly (keyof RunningSums)[];

/** Sums at the start of a run. */
export function zeroSums(): RunningSums {
  return { loss: 0, ce: 0, kd: 0, gradNorm: 0, steps: 0, skipped: 0, consecutiveNonFinite: 0, totalNonFinite: 0 };
}

/** The running sums on the GPU: one f32 scalar tensor ([1]) per field, owned by the trainer. */
export type Accumulators = { [K in keyof RunningSums]: Tensor };

/** GPU accumulators holding `values` (default: zeros). */
export function newAccumulators(values: RunningSums = zeroSums()): Accumulators {
  const acc = {} as Accumulators;
  for (const k of RUNNING_SUMS) acc[k] = keep(tensor([values[k]]));
  return acc;
}

/** Reads the accumulators back (one readback for all fields). */
export async function readSums(acc: Accumulators): Promise<RunningSums> {
  const packed = tidy(() => cat(RUNNING_SUMS.map((k) => acc[k]), 0));
  const data = await packed.data();
  packed.dispose();
  const out = zeroSums();
  RUNNING_SUMS.forEach((k, i) => (out[k] = data[i]!));
  return out;
}

/** Frees the accumulators' GPU memory. */
export function disposeAccumulators(acc: Accumulators): void {
  for (const k of RUNNING_SUMS) acc[k].dispose();
}

/** Labels for next-token prediction at the same positions as the ids: ids shifted left, -100 last. */
export function shiftLabels(ids: Int32Array, B: number, T: number): Int32Array {
  const labels = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T - 1; t++) labels[b * T + t] = ids[b * T + t + 1];
    labels[b * T + T - 1] = -100;
  }
  return labels;
}

/** A batch's labels [B, T]: its own, or its ids shifted left with -100 last. */
export function batchLabels(batch: Batch): Int32Array {
  const [B, T] = batch.shape;
  if (!batch.labels) return shiftLabels(batch.ids, B, T);
  if (batch.labels.length !== B * T) throw new KdgpuError(`batch: labels hold ${batch.labels.length} values, the ids are [${B}, ${T}]`);
  return batch.labels;
}

/** Labels other than `ignoreIndex` among the first `cols` positions of each of the B rows of [B, T] labels. */
export function countValid(labels: Int32Array, B: number, T: number, cols: number = T, ignoreIndex = -100): number {
  let n = 0;
  for (let b = 0; b < B; b++) for (let t = 0; t < Math.min(cols, T); t++) if (labels[b * T + t] !== ignoreIndex) n++;
  return n;
}

/** Inputs of {@link accumulateGradients}: one optimizer window. */
export interface WindowInputs {
  model: CausalLM;
  /** The window's micro-batches. */
  micro: Batch[];
  kdRatio: number;
  distill: DistillPart | null;
  /** Dropout seed of micro-batch i is dropoutSeed + i (undefined: no dropout). */
  dropoutSeed?: number;
}

/** The window's objective and its two terms (scalars, detached), each already normalised over the window. */
export interface WindowLosses {
  total: Tensor;
  ce: Tensor;
  /** Null without distillation (or with kdRatio 0). */
  kd: Tensor | null;
}

/** Inputs of `trainStep`. */
export interface StepInputs extends WindowInputs {
  optimizer: nn.AdamW;
  clipGradNorm: number;
  acc: Accumulators;
  /**
   * Records the window's gradients instead of `accumulateGradients` (an on-policy method's step
   * on student samples; see on-policy/method.ts). Absent: the off-policy step on `micro`.
   */
  window?: (s: WindowInputs) => WindowLosses;
}

/**
 * Forward and backward of every micro-batch of one optimizer window, adding into the parameters'
 * gradients (1 − kdRatio)·CE + kdRatio·KD of the whole window: CE is the sum of the window's
 * token losses over its number of valid labels, KD is reduced as `distill.reduction` says over the
 * window. The counts come from the labels on the CPU (no readback), so the gradient is the same
 * however the window is split, whatever positions are ignored.
 */
export function accumulateGradients(s: WindowInputs): WindowLosses {
  const d = s.distill && s.kdRatio > 0 ? s.distill : null;
  // Everything the normalisation needs, from the CPU side of the batches.
  const plan = s.micro.map((batch) => {
    const [B, T] = batch.shape;
    const labels = batchLabels(batch);
    const teacherIds = d && d.teachers.kind === 'models' && d.teachers.retokenize ? d.teachers.retokenize(batch) : null;
    const kdCols = teacherIds ? Math.min(T, teacherIds.shape[1]) : T;
    return { batch, labels, teacherIds, kdCols, ceCount: countValid(labels, B, T), kdCount: d ? countValid(labels, B, T, kdCols) : 0 };
  });
  const ceNorm = Math.max(1, plan.reduce((a, p) => a + p.ceCount, 0));
  const kdNorm = !d ? 1 : windowNorm(d.reduction, plan.reduce((a, p) => a + p.kdCount, 0), plan.reduce((a, p) => a + p.batch.shape[0], 0));
  return tidy(() => {
    let ceSum: Tensor | null = null;
    let kdSum: Tensor | null = null;
    let totalSum: Tensor | null = null;
    plan.forEach(({ batch, labels: labelArray, teacherIds, kdCols }, i) => {
      const [B, T] = batch.shape;
      const step = tidy(() => {
        const ids = tensor(batch.ids, { shape: [B, T], dtype: 'i32' });
        const labels = tensor(labelArray, { shape: [B, T], dtype: 'i32' });
        const logits = s.model.forward(ids, s.dropoutSeed === undefined ? {} : { dropoutSeed: s.dropoutSeed + i }); // [B, T, V]
        const V = logits.shape[2];
        const ce = nn.crossEntropy(logits.reshape([B * T, V]), labels.reshape([B * T]), { reduction: 'sum' }).div(ceNorm);
        let kd: Tensor | null = null;
        if (d) {
          const shared = d.sharedVocab;
          const cut = (x: Tensor) => (shared !== undefined && x.shape[x.rank - 1] !== shared ? x.slice(-1, 0, shared) : x);
          const teacher = runTeachers(d.teachers, ids, batch, teacherIds);
          const perToken = d.loss(cut(logits), Array.isArray(teacher) ? teacher.map(cut) : isSparseTeacher(teacher) ? teacher : cut(teacher), labels); // [B, kdCols]
          if (perToken.rank !== 2 || perToken.shape[0] !== B || perToken.shape[1] !== kdCols) {
            throw new KdgpuError(
              `distill.loss returned shape [${perToken.shape}] for a [${B}, ${T}] batch; it must give per-position losses [${B}, ${kdCols}]: ` +
                'bind it with reduction "none" (the step reduces over the optimizer window as DistillPart.reduction says)',
            );
          }
          kd = perToken.sum().div(kdNorm);
        }
        const total = kd ? (s.kdRatio >= 1 ? kd : ce.mul(1 - s.kdRatio).add(kd.mul(s.kdRatio))) : ce;
        total.backward();
        return { ce: ce.detach(), kd: kd?.detach() ?? null, total: total.detach() };
      });
      ceSum = add(ceSum, step.ce);
      kdSum = step.kd ? add(kdSum, step.kd) : kdSum;
      totalSum = add(totalSum, step.total);
    });
    return { ce: ceSum!, kd: kdSum, total: totalSum! };
  });
}

/** The divisor of the window's KD sum. */
function windowNorm(reduction: KdReduction, validPositions: number, rows: number): number {
  switch (reduction) {
    case 'mean':
      return Math.max(1, validPositions); // no valid position: the sum is 0, and so is the term
    case 'sum':
      return 1;
    case 'batchmean':
      return Math.max(1, rows);
    default:
      return reduction satisfies never;
  }
}

/** Records one optimizer step on the GPU. */
export function trainStep(s: StepInputs): void {
  const params = [...s.model.parameters().values()];
  const parts = tidy(() => {
    const w = s.window ? s.window(s) : accumulateGradients(s);
    const { norm, scale, finite } = nn.clipGradNorm(params, s.clipGradNorm > 0 ? s.clipGradNorm : Infinity);
    s.optimizer.update({ gradScale: scale });
    return { ...w, norm, finite };
  });
  s.optimizer.zeroGrad();
  // Fold this step into the running sums, all on the GPU: a skipped (non-finite) step adds to the
  // counters only.
  const next = noGrad(() =>
    tidy(() => {
      const f = parts.finite.reshape([1]); // 1 when the step was finite, else 0
      const bad = f.neg().add(1);
      const ok = (x: Tensor | null) => (x ? where(f, x.reshape([1]), 0) : null);
      const a = s.acc;
      const sum = (prev: Tensor, x: Tensor | null) => (x ? prev.add(x) : prev.mul(1));
      const out: Accumulators = {
        loss: sum(a.loss, ok(parts.total)),
        ce: sum(a.ce, ok(parts.ce)),
        kd: sum(a.kd, ok(parts.kd)),
        gradNorm: sum(a.gradNorm, ok(parts.norm)),
        steps: a.steps.add(1),
        skipped: a.skipped.add(bad),
        consecutiveNonFinite: a.consecutiveNonFinite.add(1).mul(bad),
        totalNonFinite: a.totalNonFinite.add(bad),
      };
      return out;
    }),
  );
  for (const t of [parts.ce, parts.kd, parts.total, parts.norm, parts.finite]) t?.dispose();
  for (const k of RUNNING_SUMS) {
    s.acc[k].dispose();
    s.acc[k] = keep(next[k]);
  }
}

function add(acc: Tensor | null, x: Tensor): Tensor {
  return acc ? acc.add(x) : x;
}

/**
 * Runs the teachers (or reads their stored logits) for one micro-batch: logits [B, T, V], a list
 * of them for an ensemble, or a sparse teacher read from a sparse file, without gradients. (The teacher-side processing of those logits,
 * ensembling, truncation and temperature, is `teacherLogits` in `@kdgpu/losses`, inside the loss.)
 * `teacherIds`: the batch in the teacher's own tokens (cross-tokenizer sources), already computed.
 */
export function runTeachers(src: TeacherSource, ids: Tensor, batch: Batch, teacherIds: { ids: Int32Array; shape: [number, number] } | null = null): Tensor | Tensor[] | SparseTeacher {
  return noGrad(() => {
    if (src.kind === 'offline') return src.logits(batch);
    const r = teacherIds ?? src.retokenize?.(batch) ?? null;
    const input = r ? tidy(() => tensor(r.ids, { shape: r.shape, dtype: 'i32' })) : ids;
    return src.models.length === 1 ? src.models[0].forward(input) : src.models.map((m) => m.forward(input));
  });
}
