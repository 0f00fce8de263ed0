import type { Tensor } from '@kdgpu/tensor';

const K = Math.sqrt(2 / Math.PI);

/**
 * GELU with the tanh approximation (transformers' "gelu_new", torch's gelu(approximate="tanh")):
 * `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`. Elementwise.
 */
export function geluTanh(x: Tensor): Tensor {
  const inner = x.mul(x).mul(x).mul(0.044715).add(x).mul(K);
  return inner.tanh().add(1).mul(x).mul(0.5);
}
