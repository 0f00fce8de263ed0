/**
 * Next-token choice on the CPU from one row of logits, in transformers' order: temperature, then
 * top-k, then top-p (nucleus), then a draw from the softmax. Temperature 0 is greedy (argmax;
 * ties go to the lowest id).
 */

/** Sampling settings. */
export interface SamplingOptions {
  /** Divides the logits; 0 means greedy. Default 0. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or undefined: all). */
  topP?: number;
}

/** A small seeded PRNG (mulberry32): uniform numbers in [0, 1), the same sequence for a seed everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Index of the largest value (first on ties). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Picks a token id from `logits` [V]. `random` supplies uniforms in [0, 1). */
export function sampleToken(logits: ArrayLike<number>, opts: SamplingOptions, random: () => number): number {
  const temperature = opts.temperature ?? 0;
  if (temperature < 0 || !Number.isFinite(temperature)) throw new Error(`sampling: temperature must be a finite number >= 0, got ${temperature}`);
  if (temperature === 0) return argmax(logits);
  const V = logits.length;
  // Candidates sorted by logit, descending (stable: lower id first on ties).
  let ids = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  const k = opts.topK ?? 0;
  if (k < 0 || !Number.isInteger(k)) throw new Error(`sampling: topK must be a non-negative integer, got ${k}`);
  if (k > 0 && k < V) ids = ids.slice(0, k);
  const m = logits[ids[0]] / temperature;
  let probs = ids.map((i) => Math.exp(logits[i] / temperature - m));
  let z = probs.reduce((a, b) => a + b, 0);
  const p = opts.topP ?? 1;
  if (!(p > 0 && p <= 1)) throw new Error(`sampling: topP must be in (0, 1], got ${p}`);
  if (p < 1) {
    let cum = 0;
    let keep = 0;
    while (keep < probs.length) {
      cum += probs[keep] / z;
      keep++;
      if (cum >= p) break;
    }
    ids = ids.slice(0, keep);
    probs = probs.slice(0, keep);
    z = probs.reduce((a, b) => a + b, 0);
  }
  let r = random() * z;
  for (let j = 0; j < ids.length; j++) {
    r -= probs[j];
    if (r < 0) return ids[j];
  }
  return ids[ids.length - 1];
}
