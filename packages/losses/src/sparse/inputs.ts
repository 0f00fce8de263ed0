import { cat, full, KdgpuError, noGrad, scatterAdd, type Tensor, tidy, where } from '@kdgpu/tensor';

/**
 * What a sparse teacher's missing mass (the probability on tokens it does not list) becomes:
 * - `'tail-bucket'`: one extra bucket on both sides (TRL `loss_add_tail`). The loss compares two
 *   distributions over K + 1 buckets: the teacher's listed tokens plus its tail, and the student's
 *   probabilities of the same tokens plus the student's mass on every other token.
 * - `'uniform'`: the tail spread evenly over the V - K unlisted tokens (DistillKit
 *   `symmetric_uniform`); the loss compares two distributions over the whole vocabulary.
 * - `'zero'`: the tail dropped and the listed tokens renormalised (a top-k-truncated teacher, as the
 *   dense losses' `topK`); the student keeps its whole-vocabulary distribution.
 */
export type MissingMass = 'tail-bucket' | 'uniform' | 'zero';

/** The modes, for validation and docs. */
export const MISSING_MASS: readonly MissingMass[] = ['tail-bucket', 'uniform', 'zero'];

/** Far below any log-probability, yet finite: exp() of it is 0 and its gradient is finite (see below). */
const NEG = -1e30;

/**
 * Turns student logits [..., n, V] (already / τ, recording gradients) and one slice of a sparse
 * teacher (ids, logprobs [..., n, K], tail [..., n]) into the (student, teacher) "logits" the dense
 * per-token formulas take (via `pair`, which log-softmaxes both and zeroes every term where either
 * side is -inf):
 *
 * - `'tail-bucket'`: [..., n, K + 1] both. Student: log q at the listed ids, then log of the
 *   student's mass elsewhere, log Σ_{v unlisted} q(v), summed directly over the unlisted tokens
 *   (a logsumexp with the listed ones replaced by -1e30) rather than log(1 - Σ q), which loses
 *   everything when the listed tokens hold nearly all the mass. These are already normalised, so
 *   the log-softmax in `pair` leaves them as they are. Teacher: [logprobs, tail] / τ_T, which
 *   `pair`'s log-softmax renormalises (the temperature rule of the README). Unused slots are -inf
 *   on the teacher side and -1e30 on the student's, so their terms are zeroed and they add nothing
 *   to the student's normaliser; -1e30 rather than -inf keeps every gradient finite (a logsumexp
 *   over a row of -inf has an infinite derivative, and 0·inf is NaN).
 * - `'zero'`, `'uniform'`: [..., n, V] both. Student: unchanged. Teacher: the listed log-probs at
 *   their ids, and elsewhere -inf (`'zero'`) or tail - log(V - K) (`'uniform'`), all / τ_T; the
 *   log-softmax renormalises.
 *
 * The teacher side is a constant (no gradients).
 */
export function sparseInputs(
  student: Tensor,
  ids: Tensor,
  logprobs: Tensor,
  tail: Tensor,
  mode: MissingMass,
  teacherTau: number,
): { student: Tensor; teacher: Tensor } {
  const V = student.shape[student.rank - 1];
  const col = [...tail.shape, 1];
  // 1 at used slots [..., n, K]; 1 at listed tokens [..., n, V] (scatterAdd skips the -1 ids).
  const used = noGrad(() => ids.ge(0));
  const listed = noGrad(() => tidy(() => scatterAdd(student.shape, -1, ids, full(ids.shape, 1)).gt(0)));
  if (mode === 'tail-bucket') {
    const lq = student.logSoftmax(-1);
    const safe = noGrad(() => where(used, ids, 0));
    const atIds = tidy(() => where(used, lq.gather(-1, safe), NEG)); // [..., n, K]
    const rest = tidy(() => where(listed, NEG, lq).logsumexp(-1, true)); // [..., n, 1]
    const teacher = noGrad(() =>
      tidy(() => {
        const t = cat([logprobs, tail.reshape(col)], -1);
        return teacherTau === 1 ? t : t.div(teacherTau);
      }),
    );
    return { student: cat([atIds, rest], -1), teacher };
  }
  const teacher = noGrad(() =>
    tidy(() => {
      const scattered = scatterAdd(student.shape, -1, ids, logprobs);
      let fill: Tensor | number = -Infinity;
      if (mode === 'uniform') {
        const others = full(col, V).sub(used.sum(-1, true)); // V - (listed tokens), [..., n, 1]
        fill = where(others.gt(0), tail.reshape(col).sub(others.log()), -Infinity);
      }
      const t = where(listed, scattered, fill);
      return teacherTau === 1 ? t : t.div(teacherTau);
    }),
  );
  return { student, teacher };
}

/** Throws unless `mode` is a `MissingMass` (or absent). */
export function checkMissingMass(name: string, mode: unknown): void {
  if (mode !== undefined && !MISSING_MASS.includes(mode as MissingMass)) {
    throw new KdgpuError(`${name}: missingMass must be one of ${MISSING_MASS.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(mode)}`);
  }
}
