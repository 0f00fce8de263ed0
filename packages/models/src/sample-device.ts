import { cat, KdgpuError, rand, sort, type Tensor, tidy, where, zeros } from '@kdgpu/tensor';

/**
 * Next-token sampling on the GPU, for batched decoding with no readback per token: the chosen ids
 * stay a tensor that the next forward reads. Temperature, then top-p (nucleus), then a draw by the
 * Gumbel-max trick: argmax(z/τ + g) with g = −log(−log u), u ~ U[0, 1), is a sample of
 * softmax(z/τ) (Gumbel 1954; the same distribution as `sampleToken`'s inverse-CDF draw, not the
 * same numbers for a seed). Top-p sorts each row (bitonic, on the GPU) and keeps the sorted
 * positions whose exclusive prefix sum of probability is below p (the smallest set reaching p,
 * as `sampleToken` and transformers).
 */

/** Sampling settings for {@link sampleOnDevice}. */
export interface DeviceSamplingOptions {
  /** Divides the logits; 0 means greedy (argmax). Default 1. */
  temperature?: number;
  /** Nucleus: keep the smallest set of most likely tokens whose probability reaches p (1: all). Default 1. */
  topP?: number;
}

/** Checks sampling settings; errors name the field and the fix. */
export function checkDeviceSampling(opts: DeviceSamplingOptions, who = 'sampling'): { temperature: number; topP: number } {
  const temperature = opts.temperature ?? 1;
  const topP = opts.topP ?? 1;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new KdgpuError(`${who}: temperature must be a finite number >= 0 (0 = greedy), got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new KdgpuError(`${who}: topP must be in (0, 1] (1 keeps every token), got ${topP}`);
  return { temperature, topP };
}

/**
 * Inclusive prefix sums along the last axis of [B, V] (Hillis-Steele: log2 V shifted adds, each a
 * cat with zeros and an add, O(B·V) memory, no kernel of its own).
 */
export function cumsumLast(x: Tensor): Tensor {
  return tidy(() => {
    const [B, V] = x.shape as [number, number];
    let y = x;
    for (let d = 1; d < V; d *= 2) {
      const shifted = cat([zeros([B, d]), y.slice(1, 0, V - d)], 1); // [B, V]
      y = y.add(shifted);
    }
    return y.mul(1); // a new tensor even when V = 1
  });
}

/** Gumbel noise −log(−log u) of shape [B, V] from a seeded uniform stream. */
function gumbel(shape: number[], seed: number): Tensor {
  return rand(shape, { seed }).log().neg().log().neg();
}

/**
 * Samples one token per row from `logits` [B, V] (f32) and returns the ids, i32 [B, 1], on the
 * GPU. `seed` keys the uniforms (a non-negative integer; use a new one per decoding step).
 * Temperature 0 is greedy. Records GPU work only; nothing is read back.
 */
export function sampleOnDevice(logits: Tensor, opts: DeviceSamplingOptions, seed: number): Tensor {
  const { temperature, topP } = checkDeviceSampling(opts);
  if (logits.rank !== 2) throw new KdgpuError(`sampleOnDevice: logits must be [B, V], got [${logits.shape.join(', ')}]`);
  const [B, V] = logits.shape as [number, number];
  return tidy(() => {
    if (temperature === 0) return logits.argmax(-1, true); // [B, 1]
    const z = logits.div(temperature); // [B, V]
    if (topP >= 1) return z.add(gumbel([B, V], seed)).argmax(-1, true); // [B, 1]
    const { values, indices } = sort(z, { axis: -1, descending: true }); // [B, V] each
    const probs = values.softmax(-1); // [B, V], descending
    const before = cumsumLast(probs).sub(probs); // exclusive prefix sums [B, V]
    // The first token is always kept (its prefix sum is 0 < p).
    const kept = where(before.lt(topP), values, -Infinity); // [B, V]
    const pos = kept.add(gumbel([B, V], seed)).argmax(-1, true); // [B, 1] position in sorted order
    return indices.gather(1, pos); // [B, 1] token id
  });
}
