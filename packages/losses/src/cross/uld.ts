import { cat, full, KdgpuError, noGrad, sort, type Tensor, tidy } from '@kdgpu/tensor';
import { maskTokens, reduceTokens, validMask } from '../reduce.ts';
import { checkCommon } from '../validate.ts';
import type { CommonOptions } from '../types.ts';

/** Options of {@link universalLogitDistillation}. */
export interface ULDOptions extends CommonOptions {
  /** τ: both sides' logits are divided by it before the softmax. Default 1. */
  temperature?: number;
}

/**
 * Universal Logit Distillation (Boizard et al. 2024, "Towards Cross-Tokenizer Distillation"): a
 * closed-form Wasserstein-1 distance between the student's and the teacher's next-token
 * distributions that needs no shared vocabulary. At each position both distributions are sorted
 * in decreasing order, the shorter vocabulary is padded with zeros, and the loss is the sum of
 * absolute differences of the sorted probabilities.
 *
 * What is aligned: student and teacher tokenize the same text separately; position t of one is
 * compared with position t of the other, and both are truncated to the shorter sequence (the
 * paper's alignment). Labels (the student's, for masking) cover the student's positions.
 * Gradients flow into the student through its sort; the teacher is a constant. Use it beside the
 * student's own cross-entropy (the paper's L = CE + λ·ULD).
 *
 * @param studentLogits [B, T, Vs] (or [T, Vs])
 * @param teacherLogits [B, T', Vt] (or [T', Vt]), any vocabulary size
 * @param labels [B, T] (or [T]) i32 with ignoreIndex marking positions that do not count, or null
 */
export function universalLogitDistillation(studentLogits: Tensor, teacherLogits: Tensor, labels: Tensor | null, opts: ULDOptions = {}): Tensor {
  checkCommon('universalLogitDistillation', opts);
  const s = studentLogits;
  const t = teacherLogits;
  if (s.rank !== t.rank || s.rank < 2 || s.shape.slice(0, -2).some((d, i) => d !== t.shape[i])) {
    throw new KdgpuError(`universalLogitDistillation: student [${s.shape}] and teacher [${t.shape}] must be [B, T, V] with the same batch (vocabularies and lengths may differ)`);
  }
  const tau = opts.temperature ?? 1;
  if (!(tau > 0)) throw new KdgpuError(`universalLogitDistillation: temperature must be > 0, got ${tau}`);
  const ax = s.rank - 2;
  const n = Math.min(s.shape[ax], t.shape[ax]);
  const Vs = s.shape[s.rank - 1];
  const Vt = t.shape[t.rank - 1];
  return tidy(() => {
    const ss = s.slice(ax, 0, n);
    const ps = (tau === 1 ? ss : ss.div(tau)).softmax(-1);
    const pt = noGrad(() => {
      const ts = t.slice(ax, 0, n);
      return (tau === 1 ? ts : ts.div(tau)).softmax(-1);
    });
    const pad = (x: Tensor, V: number) => (V === Math.max(Vs, Vt) ? x : cat([x, full([...x.shape.slice(0, -1), Math.max(Vs, Vt) - V], 0)], -1));
    const a = pad(sort(ps).values, Vs);
    const b = noGrad(() => pad(sort(pt).values, Vt));
    const perToken = a.sub(b).abs().sum(-1); // [B, n]
    const ls = labels ? labels.slice(labels.rank - 1, 0, n) : null;
    const valid = validMask(ls, opts.ignoreIndex ?? -100);
    return reduceTokens(maskTokens(perToken, valid, 1), valid, opts.reduction ?? 'mean', s.rank === 3 ? s.shape[0] : n);
  });
}

/**
 * What the registry knows of a loss that compares distributions over different vocabularies (and
 * sequence lengths): its name and the option keys it takes. Such a loss takes one teacher tensor,
 * not an ensemble, and no truncation; the caller aligns the sequences (see ULD above).
 */
export interface CrossVocabularySpec {
  readonly name: string;
  readonly crossVocabulary: true;
  /** Every option key the loss accepts (the registry rejects others). */
  readonly options: readonly string[];
  /** Checks the options; throws a KdgpuError naming the bad one. */
  readonly check?: (o: ULDOptions) => void;
}

/** {@link universalLogitDistillation} as the registry's `uld`, with its spec. */
export const uld: ((studentLogits: Tensor, teacherLogits: Tensor, labels: Tensor | null, opts?: ULDOptions) => Tensor) & { readonly spec: CrossVocabularySpec } = Object.assign(
  (s: Tensor, t: Tensor, labels: Tensor | null, opts: ULDOptions = {}) => {
    if (Array.isArray(t)) throw new KdgpuError('uld: takes one teacher, not an ensemble (cross-vocabulary teachers cannot be averaged token by token)');
    return universalLogitDistillation(s, t, labels, opts);
  },
  {
    spec: {
      name: 'uld',
      crossVocabulary: true,
      options: ['ignoreIndex', 'reduction', 'temperature'],
      check: (o: ULDOptions) => {
        if (o.temperature !== undefined && !(o.temperature > 0 && Number.isFinite(o.temperature))) throw new KdgpuError(`uld: temperature must be a positive number, got ${o.temperature}`);
      },
    } as const,
  },
);
