import { record } from '../autograd.ts';
import { KdgpuError } from '../errors.ts';
import { mapElementwise } from '../ops/kernel-elementwise.ts';
import { RNG_WGSL } from '../ops/random.ts';
import type { Tensor } from '../tensor.ts';

/**
 * Inverted dropout with a counter-based mask: element i is kept when threefry(seed, i) >= p, and
 * scaled by 1/(1-p). The backward regenerates the same mask from the seed instead of storing it,
 * so the same seed always gives the same mask and no [N] mask buffer is kept for backward.
 */
export function dropout(x: Tensor, p: number, seed: number): Tensor {
  x._assertLive('dropout');
  if (!(p >= 0 && p < 1)) throw new KdgpuError(`dropout: p must be in [0, 1), got ${p}`);
  if (p === 0) return x;
  const k0 = seed >>> 0;
  const k1 = Math.floor(seed / 2 ** 32) >>> 0;
  const scale = 1 / (1 - p);
  const expr = (v: string) => `select(0.0, ${v} * v3, unit(threefry(v1, v2, i, 0x44524f50u).x) >= v4)`;
  const mask = (t: Tensor, name: string) => mapElementwise(name, [t, { u32: k0 }, { u32: k1 }, { f32: scale }, { f32: p }], t.shape, 'f32', 'f32', expr('v0'), RNG_WGSL);
  const y = mask(x, 'dropout');
  return record(y, 'dropout', [x], [], (g) => [mask(g, 'dropout_bw')]);
}
