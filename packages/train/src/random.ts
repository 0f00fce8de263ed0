/**
 * Small seeded random numbers that give the same sequence in every JS runtime (pure 32-bit integer
 * arithmetic, no `Math.random`), for data order and sampling that must survive a resume.
 * @module
 */

/** A generator of uniform unsigned 32-bit integers. */
export type Rng = () => number;

/** MurmurHash3's 32-bit finalizer: a bijective avalanche mix of a uint32. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Combines integers (each a safe integer, possibly negative or above 2^32) into one well-mixed
 * uint32 seed; order matters. Used for per-epoch seeds (`mixSeed(seed, epoch)`) and counter-based
 * draws (`mixSeed(seed, epoch, block)`).
 */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    if (!Number.isSafeInteger(p)) throw new Error(`mixSeed: ${p} is not a safe integer`);
    const lo = p >>> 0;
    const hi = Math.floor(p / 0x100000000) >>> 0;
    h = fmix32(Math.imul(h ^ fmix32(lo), 0x9e3779b1) ^ fmix32(hi + 0x7f4a7c15));
  }
  return h;
}

/** mulberry32: a tiny, fast 32-bit PRNG (period 2^32) seeded with a uint32. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A uniform integer in `[0, n)` for `1 <= n <= 2^32`, unbiased (rejection sampling). */
export function randomInt(rng: Rng, n: number): number {
  if (!(Number.isInteger(n) && n >= 1 && n <= 0x100000000)) throw new Error(`randomInt: n must be an integer in [1, 2^32], got ${n}`);
  const limit = 0x100000000 - (0x100000000 % n);
  for (;;) {
    const x = rng();
    if (x < limit) return x % n;
  }
}

/** A seeded uniform random permutation of `0..n-1` (Fisher–Yates). */
export function permutation(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rng = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/** A seeded uniform sample of `min(k, n)` distinct integers from `0..n-1`, sorted ascending. */
export function sampleSorted(n: number, k: number, seed: number): Uint32Array {
  if (k >= n) return Uint32Array.from({ length: n }, (_, i) => i);
  // Partial Fisher–Yates: the first k slots of a shuffle are a uniform k-subset.
  const pool = new Uint32Array(n);
  for (let i = 0; i < n; i++) pool[i] = i;
  const rng = mulberry32(seed);
  for (let i = 0; i < k; i++) {
    const j = i + randomInt(rng, n - i);
    const t = pool[i]!;
    pool[i] = pool[j]!;
    pool[j] = t;
  }
  return pool.slice(0, k).sort();
}
