import type { Tensor } from '@kdgpu/tensor';

// The runtime folds leading dimensions into rows for a 2-D weight (one [K, N] weight gradient),
// and copies a transposed weight once when that is faster than strided reads.

/**
 * torch.nn.Linear: `x @ w^T (+ b)` with w stored [out, in] (LLaMA's layout).
 * x: [..., in] -> [..., out]. The transpose is a view.
 */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const y = x.matmul(w.transpose()); // [..., out]
  return b ? y.add(b) : y;
}

/**
 * transformers' Conv1D (GPT-2): `x @ w + b` with w stored [in, out].
 * x: [..., in] -> [..., out].
 */
export function conv1d(x: Tensor, w: Tensor, b: Tensor): Tensor {
  return x.matmul(w).add(b); // [..., out]
}
