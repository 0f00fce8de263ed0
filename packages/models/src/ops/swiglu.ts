import type { Tensor } from '@kdgpu/tensor';

/** SiLU (swish): `x * sigmoid(x)`. Elementwise. */
export function silu(x: Tensor): Tensor {
  return x.mul(x.sigmoid());
}

/** The SwiGLU gate of LLaMA's MLP: `silu(gate) * up`, both [..., I]. */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  return silu(gate).mul(up);
}
