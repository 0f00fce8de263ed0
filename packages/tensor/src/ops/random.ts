import type { Tensor } from '../tensor.ts';
import { mapElementwise } from './kernel-elementwise.ts';

/**
 * Counter-based random numbers computed on the GPU: Threefry-2x32 with 20 rounds (Salmon et al.
 * 2011, the generator JAX uses), keyed by the seed, with the element index as the counter. The
 * same seed gives the same tensor on every run and every adapter; no state lives on the GPU.
 */

const R = [13, 15, 26, 6, 17, 29, 16, 24];

function threefryWgsl(): string {
  let body = '';
  const inject = [
    ['k1', 'k2', 1],
    ['k2', 'k0', 2],
    ['k0', 'k1', 3],
    ['k1', 'k2', 4],
    ['k2', 'k0', 5],
  ] as const;
  for (let g = 0; g < 5; g++) {
    for (let r = 0; r < 4; r++) {
      const rot = R[(g % 2) * 4 + r];
      body += `  x0 += x1; x1 = (x1 << ${rot}u) | (x1 >> ${32 - rot}u); x1 ^= x0;\n`;
    }
    const [a, b, c] = inject[g];
    body += `  x0 += ${a}; x1 += ${b} + ${c}u;\n`;
  }
  return `fn threefry(k0: u32, k1: u32, c0: u32, c1: u32) -> vec2u {
  let k2 = k0 ^ k1 ^ 0x1BD11BDAu;
  var x0 = c0 + k0;
  var x1 = c1 + k1;
${body}  return vec2u(x0, x1);
}
fn unit(x: u32) -> f32 { return f32(x >> 8u) * 5.9604644775390625e-8; }`;
}

/** WGSL for `threefry(k0, k1, c0, c1) -> vec2u` and `unit(u32) -> f32` in [0, 1). */
export const RNG_WGSL = threefryWgsl();

let globalSeed = 0x5eed;
let calls = 0;

/** Sets the seed used by `rand`/`randn` calls that do not pass one. */
export function manualSeed(seed: number): void {
  globalSeed = seed >>> 0;
  calls = 0;
}

function key(seed: number | undefined): [number, number, number] {
  if (seed === undefined) return [globalSeed, 0x243f6a88, ++calls];
  return [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, 0];
}

/** Uniform samples in [low, high). */
export function rand(shape: readonly number[], opts: { seed?: number; low?: number; high?: number } = {}): Tensor {
  const [k0, k1, c1] = key(opts.seed);
  const low = opts.low ?? 0;
  const high = opts.high ?? 1;
  // v0..v2: the key and stream; v3, v4: the range.
  return mapElementwise(
    'rand',
    [{ u32: k0 }, { u32: k1 }, { u32: c1 }, { f32: low }, { f32: high - low }],
    shape,
    'f32',
    'f32',
    `v3 + v4 * unit(threefry(v0, v1, i, v2).x)`,
    RNG_WGSL,
  );
}

/** Normal samples with the given mean and standard deviation (Box-Muller). */
export function randn(shape: readonly number[], opts: { seed?: number; mean?: number; std?: number } = {}): Tensor {
  const [k0, k1, c1] = key(opts.seed);
  return mapElementwise(
    'randn',
    [{ u32: k0 }, { u32: k1 }, { u32: c1 }, { f32: opts.mean ?? 0 }, { f32: opts.std ?? 1 }],
    shape,
    'f32',
    'f32',
    `v3 + v4 * boxMuller(threefry(v0, v1, i, v2))`,
    `${RNG_WGSL}
fn boxMuller(r: vec2u) -> f32 {
  let u1 = (f32(r.x >> 8u) + 1.0) * 5.9604644775390625e-8;
  let u2 = unit(r.y);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}`,
  );
}
