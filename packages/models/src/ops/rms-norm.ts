import type { Tensor } from '@kdgpu/tensor';

/**
 * RMSNorm over the last axis, as transformers' LlamaRMSNorm: `w * x / sqrt(mean(x^2) + eps)`.
 * x: [..., C], w: [C] -> [..., C]. Composed from primitives; a fused kernel may replace it.
 */
export function rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor {
  const inv = x.mul(x).mean(-1, true).add(eps).rsqrt(); // [..., 1]
  return x.mul(inv).mul(w);
}
