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

/** GPU-side running sums between log points, and the non-finite counters. */
export interface Accumulators {
  /** [loss, ce, kd, gradNorm, steps, consecutiveNonFinite, totalNonFinite] */
  sums: Tensor;
}

export function newAccumulators(values?: readonly number[]): Accumulators {
  return { sums: keep(tensor(values ? Float32Array.from(values) : new Float32Array(7))) };
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
          const teacher = teacherLogits(s.distill.teachers, ids, batch);
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
  // Fold this step into the running sums (all on the GPU; skipped steps add nothing but counters).
  const next = noGrad(() =>
    tidy(() => {
      const f = parts.finite.reshape([]);
      const ok = (x: Tensor | null) => (x ? where(f, x.reshape([1]), 0) : tensor([0]));
      const prev = s.acc.sums;
      const cons = prev.slice(0, 5, 6).add(1).mul(f.neg().add(1));
      const bad = prev.slice(0, 6, 7).add(f.neg().add(1));
      const delta = [ok(parts.total), ok(parts.ce), ok(parts.kd), ok(parts.norm), tensor([1])];
      const head = prev.slice(0, 0, 5).add(catAll(delta));
      return catAll([head, cons, bad]);
    }),
  );
  for (const t of [parts.ce, parts.kd, parts.total, parts.norm, parts.finite]) t?.dispose();
  s.acc.sums.dispose();
  s.acc.sums = keep(next);
}

function add(acc: Tensor | null, x: Tensor): Tensor {
  return acc ? acc.add(x) : x;
}

function catAll(xs: Tensor[]): Tensor {
  return cat(xs, 0);
}

/** The teacher logits for one micro-batch ([B, T, V], or a list for an ensemble), without gradients. */
export function teacherLogits(src: TeacherSource, ids: Tensor, batch: Batch): Tensor | Tensor[] {
  return noGrad(() => {
    if (src.kind === 'offline') return src.logits(batch);
    const input = src.retokenize ? tidy(() => { const r = src.retokenize!(batch); return tensor(r.ids, { shape: r.shape, dtype: 'i32' }); }) : ids;
    return src.models.length === 1 ? src.models[0].forward(input) : src.models.map((m) => m.forward(input));
  });
}
