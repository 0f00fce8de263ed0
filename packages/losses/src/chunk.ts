import { cat, customGrad, empty, isGradEnabled, noGrad, scaleRows, splitSizes, type Tensor, tidy, writeSlice } from '@kdgpu/tensor';

/** Masked, scaled per-token losses of one slice of the positions: logits [..., n, V] -> [..., n]. */
export type TokensFn = (student: Tensor, teachers: readonly Tensor[], labels: Tensor | null) => Tensor;

/**
 * Per-token losses over sequence chunks (axis -2 of the logits), with peak memory of one [..., T, V]
 * buffer (the student gradient) plus one chunk's intermediates, whatever the loss.
 *
 * Why not just run `tokensOf` per chunk and concatenate: every chunk's autograd graph would stay
 * alive until `backward()`, so peak memory would be the unchunked one. Instead each chunk runs
 * forward *and* backward at once on a detached view of its student rows, keeping only its token
 * losses and its gradient G_c = d(Σ tokens_c)/d(student_c); its graph is freed before the next
 * chunk. Each token's loss depends on its own row of logits only, so G (the G_c side by side) holds
 * d(token_t)/d(row_t) for every t, and backward through the whole loss would give upstream_t·G_t.
 *
 * G is allocated once, uninitialised (every row is written: the chunks cover the axis), and each
 * G_c is written into its rows and freed at once; `cat` of the G_c would need the pieces and the
 * result at the same time. The result is the token losses with a custom gradient (`customGrad`)
 * that owns G: its backward scales G's rows in place by the upstream gradient and hands G itself on
 * as the student's gradient, so no second [..., T, V] buffer is ever made (for a leaf student, G
 * becomes `student.grad`). G is released with the graph if backward never runs.
 */
export function runChunked(tokensOf: TokensFn, student: Tensor, teachers: readonly Tensor[], labels: Tensor | null, chunks: number): Tensor {
  const axis = student.rank - 2;
  const labelAxis = student.rank - 2;
  const needGrad = isGradEnabled() && student.requiresGrad;
  const values: Tensor[] = [];
  const G = needGrad ? empty(student.shape) : null;
  try {
    let start = 0;
    // torch.tensor_split's pieces; the empty ones (chunks > positions) have nothing to compute.
    for (const size of splitSizes(student.shape[axis], chunks).filter((n) => n > 0)) {
      const end = start + size;
      const value = tidy((): Tensor => {
        const ts = teachers.map((t) => t.slice(axis, start, end));
        const ls = labels === null ? null : labels.slice(labelAxis, start, end);
        // slice() is a view: the chunk's rows are read in place, never copied.
        const rows = noGrad(() => student.slice(axis, start, end));
        if (!G) return noGrad(() => tokensOf(rows, ts, ls));
        const leaf = rows.detach();
        leaf.requiresGrad = true;
        const tokens = tokensOf(leaf, ts, ls);
        tokens.sum().backward();
        // The chunk's gradient goes into its rows of G; it is freed with the leaf when the scope ends.
        noGrad(() => writeSlice(G, axis, start, leaf.grad!));
        return tokens.detach();
      });
      values.push(value);
      start = end;
    }
    const tokens = values.length === 1 ? values[0] : cat(values, axis);
    if (!G) return tokens;
    return customGrad(tokens, [student], [G], (up, [g]) => [scaleRows(g, up)], 'chunked loss');
  } finally {
    // The node holds its own handle to G; chunk values belong to this call's scope.
    G?.dispose();
    if (values.length > 1) for (const v of values) v.dispose();
  }
}
