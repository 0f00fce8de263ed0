import { cat, keep, nn, noGrad, type Tensor, tensor, tidy, where } from '@kdgpu/tensor';
import type { BoundLoss } from '@kdgpu/losses';
import type { CausalLM } from '@kdgpu/models';
import type { Batch } from './blocks.ts';

/**
 * One optimizer step's worth of work, recorded on the GPU with no readback: forward and backward
 * of each micro-batch (token-weighted, so gradient accumulation equals one big batch), global-norm
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
  | { kind: 'offline'; logits: (batch: Batch) => Tensor };

/** The distillation part of the objective. */
export interface DistillPart {
  loss: BoundLoss;
  teachers: TeacherSource;
  /** How the KD loss reduces (decides its token weighting under accumulation). */
  reduction: 'mean' | 'sum' | 'batchmean';
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

/** Inputs of `trainStep`. */
export interface StepInputs {
  model: CausalLM;
  optimizer: nn.AdamW;
  micro: Batch[];
  kdRatio: number;
  distill: DistillPart | null;
  clipGradNorm: number;
  /** Dropout seed of micro-batch i is dropoutSeed + i (undefined: no dropout). */
  dropoutSeed?: number;
  acc: Accumulators;
}

/** Records one optimizer step on the GPU. */
export function trainStep(s: StepInputs): void {
  const params = [...s.model.parameters().values()];
  // Token weights: each micro-batch's loss is scaled by its share of the window.
  const validTokens = s.micro.map((b) => b.shape[0] * (b.shape[1] - 1));
  const windowTokens = validTokens.reduce((a, b) => a + b, 0);
  const windowRows = s.micro.reduce((a, b) => a + b.shape[0], 0);
  const parts = tidy(() => {
    let ceSum: Tensor | null = null;
    let kdSum: Tensor | null = null;
    let totalSum: Tensor | null = null;
    s.micro.forEach((batch, i) => {
      const [B, T] = batch.shape;
      const step = tidy(() => {
        const ids = tensor(batch.ids, { shape: [B, T], dtype: 'i32' });
        const labels = tensor(shiftLabels(batch.ids, B, T), { shape: [B, T], dtype: 'i32' });
        const logits = s.model.forward(ids, s.dropoutSeed === undefined ? {} : { dropoutSeed: s.dropoutSeed + i }); // [B, T, V]
        const V = logits.shape[2];
        const ce = nn.crossEntropy(logits.reshape([B * T, V]), labels.reshape([B * T]), { reduction: 'sum' }).div(windowTokens);
        let kd: Tensor | null = null;
        if (s.distill && s.kdRatio > 0) {
          const shared = s.distill.sharedVocab;
          const cut = (x: Tensor) => (shared !== undefined && x.shape[x.rank - 1] !== shared ? x.slice(-1, 0, shared) : x);
          const teacher = runTeachers(s.distill.teachers, ids, batch);
          const raw = s.distill.loss(cut(logits), Array.isArray(teacher) ? teacher.map(cut) : cut(teacher as Tensor), labels);
          const w = s.distill.reduction === 'mean' ? validTokens[i] / windowTokens : s.distill.reduction === 'batchmean' ? B / windowRows : 1;
          kd = raw.mul(w);
        }
        const total = kd ? (s.kdRatio >= 1 ? kd : ce.mul(1 - s.kdRatio).add(kd.mul(s.kdRatio))) : ce;
        total.backward();
        return { ce: ce.detach(), kd: kd?.detach() ?? null, total: total.detach() };
      });
      ceSum = add(ceSum, step.ce);
      kdSum = step.kd ? add(kdSum, step.kd) : kdSum;
      totalSum = add(totalSum, step.total);
    });
    const { norm, scale, finite } = nn.clipGradNorm(params, s.clipGradNorm > 0 ? s.clipGradNorm : Infinity);
    s.optimizer.update({ gradScale: scale });
    return { ce: ceSum!, kd: kdSum, total: totalSum!, norm, finite };
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
 * Runs the teachers (or reads their stored logits) for one micro-batch: logits [B, T, V], or a
 * list of them for an ensemble, without gradients. (The teacher-side processing of those logits,
 * ensembling, truncation and temperature, is `teacherLogits` in `@kdgpu/losses`, inside the loss.)
 */
export function runTeachers(src: TeacherSource, ids: Tensor, batch: Batch): Tensor | Tensor[] {
  return noGrad(() => {
    if (src.kind === 'offline') return src.logits(batch);
    const input = src.retokenize ? tidy(() => { const r = src.retokenize!(batch); return tensor(r.ids, { shape: r.shape, dtype: 'i32' }); }) : ids;
    return src.models.length === 1 ? src.models[0].forward(input) : src.models.map((m) => m.forward(input));
  });
}
