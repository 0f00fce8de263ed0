import { cat, tensor, type Tensor } from '@kdgpu/tensor';

/**
 * Rotary position embeddings in the rotate-half layout of transformers' LLaMA (not Meta's
 * interleaved pairs): channel i pairs with channel i + D/2.
 */

/**
 * cos and sin tables [n, D] for positions `start .. start+n-1`, computed as transformers does in
 * f32: inv_freq[i] = 1 / theta^(2i/D), angle = pos * inv_freq, tables = cat(angles, angles).
 */
export function rotaryTables(headDim: number, theta: number, start: number, n: number): { cos: Tensor; sin: Tensor } {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.fround(theta ** Math.fround((2 * i) / headDim));
  const cos = new Float32Array(n * headDim);
  const sin = new Float32Array(n * headDim);
  for (let p = 0; p < n; p++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround((start + p) * inv[i]);
      const c = Math.cos(a);
      const s = Math.sin(a);
      cos[p * headDim + i] = cos[p * headDim + half + i] = c;
      sin[p * headDim + i] = sin[p * headDim + half + i] = s;
    }
  }
  return { cos: tensor(cos, { shape: [n, headDim] }), sin: tensor(sin, { shape: [n, headDim] }) };
}

/** `cat(-x2, x1)` of the last axis's two halves. x: [..., D] -> [..., D]. */
export function rotateHalf(x: Tensor): Tensor {
  const h = x.shape[x.rank - 1] / 2;
  return cat([x.slice(-1, h).neg(), x.slice(-1, 0, h)], -1);
}

/** Rotates queries or keys x [B, H, T, D] by the tables cos, sin [T, D]: `x cos + rotateHalf(x) sin`. */
export function applyRotary(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return x.mul(cos).add(rotateHalf(x).mul(sin));
}
