import type { Tensor } from '@kdgpu/tensor';

/**
 * LayerNorm over the last axis with the biased variance, as torch.nn.LayerNorm:
 * `(x - mean) / sqrt(var + eps) * w + b`. x: [..., C], w, b: [C] -> [..., C].
 */
export function layerNorm(x: Tensor, w: Tensor, b: Tensor, eps: number): Tensor {
  const xc = x.sub(x.mean(-1, true)); // [..., C]
  const inv = xc.mul(xc).mean(-1, true).add(eps).rsqrt(); // [..., 1]
  return xc.mul(inv).mul(w).add(b);
}
