import { cat, isGradEnabled, noGrad, type Tensor, tidy } from '@kdgpu/tensor';

/**
 * Sizes of `torch.tensor_split(x, chunks)` along an axis of length n: the first n mod chunks
 * parts get one extra position. Empty parts (chunks > n) are dropped.
 */
export function splitSizes(n: number, chunks: number): number[] {
  const base = Math.floor(n / chunks);
  const extra = n % chunks;
  const sizes: number[] = [];
  for (let i = 0; i < chunks; i++) {
    const size = base + (i < extra ? 1 : 0);
    if (size > 0) sizes.push(size);
  }
  return sizes;
}

/** Masked, scaled per-token losses of one slice of the positions: logits [..., n, V] -> [..., n]. */
export type TokensFn = (student: Tensor, teachers: readonly Tensor[], labels: Tensor | null) => Tensor;

/**
 * Per-token losses over sequence chunks (axis -2 of the logits), with peak memory O(chunk × V)
 * for the loss's own intermediates.
 *
 * Why not just run `tokensOf` per chunk and concatenate: every chunk's autograd graph would stay
 * alive until `backward()`, so peak memory would be the unchunked one. Instead each chunk runs
 * forward *and* backward at once on a detached copy of its student rows, keeping only its token
 * losses and its gradient G_c = d(Σ tokens_c)/d(student_c); its graph is freed before the next
 * chunk. Each token's loss depends on its own row of logits only, so G (the G_c concatenated) holds
 * d(token_t)/d(row_t) for every t.
 *
 * The result is reconnected to the student's graph by a tensor whose gradient is right and whose
 * value is then overwritten: sur_t = Σ_v student[t, v]·G[t, v] (a batched [1, V] @ [V, 1] matmul,
 * whose backward is upstream_t·G_t, exactly what backward through the whole loss gives, and which
 * keeps only G alive until then), with its contents replaced by the token losses (`assign` keeps
 * the autograd node). The runtime has no custom-gradient op; this is one built from public parts.
 * Overwriting rather than adding `sur - detach(sur)` (which is 0) matters: a ±inf student logit has
 * G = 0 there and inf·0 = NaN in sur, and masking it with `where` would cost another [T, V] buffer
 * in backward.
 */
export function runChunked(tokensOf: TokensFn, student: Tensor, teachers: readonly Tensor[], labels: Tensor | null, chunks: number): Tensor {
  const axis = student.rank - 2;
  const labelAxis = student.rank - 2;
  const needGrad = isGradEnabled() && student.requiresGrad;
  const values: Tensor[] = [];
  const grads: Tensor[] = [];
  try {
    let start = 0;
    for (const size of splitSizes(student.shape[axis], chunks)) {
      const end = start + size;
      const [value, grad] = tidy((): [Tensor, Tensor | null] => {
        const ts = teachers.map((t) => t.slice(axis, start, end));
        const ls = labels === null ? null : labels.slice(labelAxis, start, end);
        if (!needGrad) return [noGrad(() => tokensOf(student.slice(axis, start, end), ts, ls)), null];
        const leaf = student.slice(axis, start, end).detach();
        leaf.requiresGrad = true;
        const tokens = tokensOf(leaf, ts, ls);
        tokens.sum().backward();
        // Take the gradient out of the leaf before the scope disposes the leaf (and its .grad).
        const g = leaf.grad;
        leaf.grad = null;
        return [tokens.detach(), g];
      });
      values.push(value);
      if (grad) grads.push(grad);
      start = end;
    }
    const tokens = values.length === 1 ? values[0] : cat(values, axis);
    if (!needGrad) return tokens;
    const G = grads.length === 1 ? grads[0] : cat(grads, axis);
    return tidy(() => {
      const lead = student.shape.slice(0, -1);
      const V = student.shape[student.rank - 1];
      const sur = student.reshape([...lead, 1, V]).matmul(G.reshape([...lead, V, 1])).reshape(lead);
      return sur.assign(tokens);
    });
  } finally {
    // Gradients came out of backward() owned by no scope; chunk values belong to this call's scope.
    for (const g of grads) g.dispose();
    if (values.length > 1) for (const v of values) v.dispose();
  }
}
