import type { Tensor } from '@kdgpu/tensor';

/**
 * Leading dimensions are folded into the rows before the matmul, so the weight gradient is one
 * [in, N] @ [N, out] product. Multiplying [..., in] by a 2-D weight directly would broadcast the
 * weight over the batch, and the runtime's matmul backward then materializes a per-batch weight
 * gradient [batch, in, out] before summing it (262 MB for Baby Llama's LM head at B = 8, past
 * lavapipe's 128 MB buffer limit).
 */
function rows(x: Tensor, w: Tensor): Tensor {
  return x.rank === 2 ? x.matmul(w) : x.reshape([-1, x.shape[x.rank - 1]]).matmul(w);
}

function unfold(y: Tensor, x: Tensor): Tensor {
  return x.rank === 2 ? y : y.reshape([...x.shape.slice(0, -1), y.shape[1]]);
}

/**
 * torch.nn.Linear: `x @ w^T (+ b)` with w stored [out, in] (LLaMA's layout).
 * x: [..., in] -> [..., out]. The transpose is a view; matmul reads it without a copy.
 */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const y = unfold(rows(x, w.transpose()), x); // [..., out]
  return b ? y.add(b) : y;
}

/**
 * transformers' Conv1D (GPT-2): `x @ w + b` with w stored [in, out].
 * x: [..., in] -> [..., out].
 */
export function conv1d(x: Tensor, w: Tensor, b: Tensor): Tensor {
  return unfold(rows(x, w), x).add(b); // [..., out]
}
