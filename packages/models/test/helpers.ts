import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tensor, type Tensor } from '@kdgpu/tensor';

/** Absolute path of a fixture file or directory. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** Parsed JSON of a fixture file. */
export function readJson<T>(name: string): T {
  return JSON.parse(readFileSync(fixture(name), 'utf8')) as T;
}

/** i32 ids tensor [B, T]. */
export function ids(rows: number[][]): Tensor {
  return tensor(rows, { dtype: 'i32' });
}

/**
 * Causal-LM cross-entropy as transformers computes it: logits[:, :-1] predict ids[:, 1:], mean over
 * positions of -log softmax(logits)[label]. logits [B, T, V], ids i32 [B, T] -> scalar.
 */
export function causalLmLoss(logits: Tensor, ids: Tensor): Tensor {
  const [B, T, V] = logits.shape;
  const lp = logits.slice(1, 0, T - 1).logSoftmax(-1); // [B, T-1, V]
  const labels = ids.slice(1, 1, T).contiguous().reshape([B, T - 1, 1]); // [B, T-1, 1]
  void V;
  return lp.gather(2, labels).mean().neg();
}

/** Asserts |a - b| <= atol + rtol * |b| elementwise, reporting the worst element. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what: string): number {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  let worst = -1;
  let worstExcess = -Infinity;
  let maxAbs = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    maxAbs = Math.max(maxAbs, d);
    const excess = d - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= worstExcess) || Number.isNaN(d)) {
      worstExcess = Number.isNaN(d) ? Infinity : excess;
      worst = i;
    }
  }
  assert.ok(worstExcess <= 0, `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (atol ${atol}, rtol ${rtol}); max |diff| ${maxAbs}`);
  return maxAbs;
}

/** Max |a - b|. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
