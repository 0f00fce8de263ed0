import { rand, type Tensor } from '@kdgpu/tensor';

/**
 * Inverted dropout: zeroes each element with probability `p` and scales the rest by 1 / (1 - p),
 * as torch.nn.functional.dropout in training mode. The mask comes from the GPU counter-based RNG
 * keyed by `seed` (a non-negative integer below 2^53), so a seed reproduces it exactly.
 * `p = 0` returns `x` itself.
 */
export function dropout(x: Tensor, p: number, seed: number): Tensor {
  if (p === 0) return x;
  if (!(p > 0 && p < 1)) throw new Error(`dropout: probability must be in [0, 1), got ${p}`);
  const keep = rand(x.shape, { seed }).ge(p); // [...] 0/1
  return x.mul(keep).mul(1 / (1 - p));
}
