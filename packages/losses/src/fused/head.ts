import { customGrad, empty, isGradEnabled, KdgpuError, noGrad, scaleRows, splitSizes, type Tensor, tidy, writeSlice } from '@kdgpu/tensor';
import type { DefinedLoss } from '../define.ts';
import { crossEntropy } from '../losses/cross-entropy.ts';
import { isSparseTeacher, SparseTeacher } from '../sparse/teacher.ts';
import type { CommonOptions, DistillOptions, TeacherInput } from '../types.ts';

/** Options of `fusedHeadLoss`. */
export interface FusedHeadOptions<O extends DistillOptions = DistillOptions> {
  /** The KD loss (any loss defined with `defineLoss`: `forwardKL`, `LOSSES.reverseKL`, ...). Needed when `kdRatio` > 0. */
  kd?: DefinedLoss<O>;
  /** Its options (temperature, missingMass, form, ...). `reduction` and `chunks` are set here. */
  kdOptions?: O;
  /**
   * Weight of the KD term: loss = (1 - kdRatio)·CE + kdRatio·KD, both per token before one shared
   * reduction (so CE and KD are averaged over the same valid tokens). Default 1 with a teacher, 0
   * (CE alone) without.
   */
  kdRatio?: number;
  /** Label smoothing of the CE term. Default 0. */
  labelSmoothing?: number;
  /** Rows of hidden states per block: the [rows, V] logits of one block are all that exist at once. Default 256. */
  rows?: number;
  /** `mean` (default), `sum` or `batchmean` (÷ B for [B, T, d] hidden states, N for [N, d]). */
  reduction?: 'mean' | 'sum' | 'batchmean';
  /** Label value of positions that do not count. Default -100. */
  ignoreIndex?: number;
}

const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

/**
 * The student's LM head and its loss in row blocks, so that the full [N, V] student logits (and
 * their gradient) never exist at once (Liger's fused linear + loss):
 *
 *   loss = reduce_t( (1 - r)·CE_t + r·KD_t ),  logits = hidden @ weightᵀ
 *
 * For each block of `rows` positions: logits_b = h_b @ Wᵀ [rows, V]; the per-token losses (the same
 * `perToken` formulas as the unfused losses, masked and τ²-scaled); their sum is backpropagated at
 * once to h_b and W, giving d(Σ_b ℓ)/dh_b (written into its rows of dH [N, d]) and
 * d(Σ_b ℓ)/dW (accumulated into dW [V, d]); then the block's graph, logits and gradients are freed.
 * The returned scalar carries a custom gradient (`customGrad`) owning dH and dW: its backward scales
 * both in place by upstream / denominator (the reduction's divisor: valid tokens, B, or 1), which is
 * exact because the reduction weighs every token equally. So peak memory is one block's
 * intermediates plus dW and dH, instead of several [N, V] buffers.
 *
 * @param hidden [N, d] or [B, T, d] final hidden states (after the final norm), f32
 * @param weight [V, d] the LM head (the embedding when tied), f32
 * @param teacher dense teacher logits [N, V] / [B, T, V] (or a list: an ensemble), a `SparseTeacher`, or null (CE alone)
 * @param labels [N] / [B, T] i32 (`ignoreIndex` = not counted); null counts every position (then kdRatio must be 1)
 * @returns scalar loss; backward gives hidden and weight gradients
 */
export function fusedHeadLoss<O extends DistillOptions>(hidden: Tensor, weight: Tensor, teacher: TeacherInput, labels: Tensor | null, opts: FusedHeadOptions<O> = {}): Tensor {
  const name = 'fusedHeadLoss';
  if (hidden.dtype !== 'f32' || weight.dtype !== 'f32') throw new KdgpuError(`${name}: hidden and weight must be f32, got ${hidden.dtype} and ${weight.dtype}`);
  if ((hidden.rank !== 2 && hidden.rank !== 3) || weight.rank !== 2 || hidden.shape[hidden.rank - 1] !== weight.shape[1]) {
    throw new KdgpuError(`${name}: hidden ${fmt(hidden.shape)} must be [N, d] or [B, T, d] and weight ${fmt(weight.shape)} [V, d] with the same d`);
  }
  const hasTeacher = teacher !== null && !(Array.isArray(teacher) && teacher.length === 0);
  const r = opts.kdRatio ?? (hasTeacher ? 1 : 0);
  if (!(r >= 0 && r <= 1)) throw new KdgpuError(`${name}: kdRatio must be in [0, 1], got ${r}`);
  if (r > 0 && !hasTeacher) throw new KdgpuError(`${name}: kdRatio ${r} needs a teacher (dense logits or a SparseTeacher); pass kdRatio: 0 for CE alone`);
  if (r > 0 && !opts.kd) throw new KdgpuError(`${name}: kdRatio ${r} needs opts.kd, the KD loss (e.g. forwardKL)`);
  if (r < 1 && labels === null) throw new KdgpuError(`${name}: the CE term (kdRatio ${r} < 1) needs labels`);
  const rows = opts.rows ?? 256;
  if (!(Number.isInteger(rows) && rows >= 1)) throw new KdgpuError(`${name}: rows must be a positive integer, got ${rows}`);
  const reduction = opts.reduction ?? 'mean';
  if (!['mean', 'sum', 'batchmean'].includes(reduction)) throw new KdgpuError(`${name}: reduction must be 'mean', 'sum' or 'batchmean', got ${JSON.stringify(reduction)}`);
  const ignoreIndex = opts.ignoreIndex ?? -100;

  const [V, d] = weight.shape;
  const lead = hidden.shape.slice(0, -1);
  const N = lead.reduce((a, b) => a * b, 1);
  // Flat [N, ...] views of every per-position input (reshape of a contiguous tensor is a view).
  const flatTeacher = (t: Tensor): Tensor => {
    if (t.shape.slice(0, -1).join() !== lead.join()) throw new KdgpuError(`${name}: teacher ${fmt(t.shape)} must have the positions ${fmt(lead)} of hidden ${fmt(hidden.shape)}`);
    return t.reshape([N, t.shape[t.rank - 1]]);
  };
  const needGrad = isGradEnabled() && (hidden.requiresGrad || weight.requiresGrad);

  return tidy(() => {
    const h = hidden.reshape([N, d]);
    const l = labels === null ? null : labels.reshape([N]);
    let sparse: SparseTeacher | null = null;
    let dense: Tensor[] = [];
    if (isSparseTeacher(teacher)) {
      if (teacher.positions.join() !== lead.join()) throw new KdgpuError(`${name}: the sparse teacher has positions ${fmt(teacher.positions)}, hidden ${fmt(hidden.shape)} needs ${fmt(lead)}`);
      sparse = new SparseTeacher(teacher.ids.reshape([N, teacher.k]), teacher.logprobs.reshape([N, teacher.k]), teacher.tail.reshape([N]), teacher.vocabSize);
    } else if (teacher !== null) {
      dense = (Array.isArray(teacher) ? [...(teacher as readonly Tensor[])] : [teacher as Tensor]).map(flatTeacher);
    }
    const kdOpts = { ...opts.kdOptions, reduction: 'none', chunks: 1 } as O;
    const ceOpts: CommonOptions & { labelSmoothing?: number } = { reduction: 'none', ignoreIndex, labelSmoothing: opts.labelSmoothing ?? 0 };

    // Σ over one block's positions of the combined per-token loss, from its logits [n, V].
    const blockSum = (logits: Tensor, start: number, end: number): Tensor => {
      const ls = l === null ? null : l.slice(0, start, end);
      let tokens: Tensor | null = null;
      if (r > 0) {
        const t: TeacherInput = sparse
          ? new SparseTeacher(sparse.ids.slice(0, start, end), sparse.logprobs.slice(0, start, end), sparse.tail.slice(0, start, end), V)
          : dense.length === 1 ? dense[0].slice(0, start, end) : dense.map((x) => x.slice(0, start, end));
        const kd = opts.kd!(logits, t, ls, { ...kdOpts, ignoreIndex } as O);
        tokens = r === 1 ? kd : kd.mul(r);
      }
      if (r < 1) {
        const ce = crossEntropy(logits, null, ls, ceOpts);
        tokens = tokens === null ? (r === 0 ? ce : ce.mul(1 - r)) : tokens.add(ce.mul(1 - r));
      }
      return tokens!.sum();
    };

    const W = needGrad ? weight.detach() : weight;
    if (needGrad) W.requiresGrad = true;
    const dH = needGrad ? empty([N, d]) : null;
    const sums: Tensor[] = [];
    let start = 0;
    for (const n of splitSizes(N, Math.ceil(N / rows)).filter((x) => x > 0)) {
      const end = start + n;
      const s = tidy((): Tensor => {
        const rowsOf = noGrad(() => h.slice(0, start, end));
        if (!needGrad) return noGrad(() => blockSum(rowsOf.matmul(W.transpose()), start, end));
        const hb = rowsOf.detach();
        hb.requiresGrad = true;
        const sum = blockSum(hb.matmul(W.transpose()), start, end); // logits [n, V] live only in here
        sum.backward();
        noGrad(() => writeSlice(dH!, 0, start, hb.grad!));
        return sum.detach();
      });
      sums.push(s);
      start = end;
    }
    const total = sums.reduce((a, b) => a.add(b));
    const denom = noGrad((): Tensor | number => {
      if (reduction === 'sum') return 1;
      if (reduction === 'batchmean') return hidden.rank === 3 ? hidden.shape[0] : N;
      return l === null ? Math.max(1, N) : l.ne(ignoreIndex).sum().maximum(1);
    });
    const value = total.div(denom);
    if (!needGrad) return value;
    // One block leaves W's gradient as matmul's transposed view; scaleRows needs it contiguous.
    const dW = W.grad!.isContiguous && W.grad!.offset === 0 ? W.grad! : W.grad!.contiguous();
    // The divisor travels as a saved tensor when it is one (the valid-token count, on the GPU).
    const saved = typeof denom === 'number' ? [dH!, dW] : [dH!, dW, denom];
    return customGrad(
      value,
      [hidden, weight],
      saved,
      (up, [gh, gw, den]) => {
        const f = (den === undefined ? up.div(denom as number) : up.div(den)).reshape([1]);
        scaleRows(gh, f.expand([N]));
        scaleRows(gw, f.expand([V]));
        return [hidden.requiresGrad ? gh.reshape(hidden.shape) : null, weight.requiresGrad ? gw : null];
      },
      'fused head loss',
    );
  });
}
