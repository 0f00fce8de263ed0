/**
 * Every matmul kernel the autotuner can pick gives the reference result on awkward shapes
 * (not multiples of any tile, transposed operands, broadcast batches), and all of them agree
 * with each other exactly, so the tuner's choice cannot change results.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, MATMUL_CANDIDATES, matmulVariant, setMatmulVariant, tensor } from '@kdgpu/tensor';
import * as R from './helpers/ref.ts';

// The vec4 kernels need B's rows contiguous and aligned (N, offsets and strides multiples of 4);
// the cases cover both sides of that line, and the few-rows path (M < 4).
const cases: Array<{ a: number[]; b: number[]; ta?: boolean; tb?: boolean; bCols?: [number, number] }> = [
  { a: [1, 1], b: [1, 1] },
  { a: [67, 36], b: [36, 72] },
  { a: [36, 67], b: [36, 72], ta: true },
  { a: [2, 3, 9, 12], b: [3, 12, 20] },
  { a: [3, 12], b: [12, 40] },
  { a: [2, 12], b: [12, 13] },
  { a: [37, 12], b: [12, 44], bCols: [4, 40] },
  { a: [37, 12], b: [12, 44], bCols: [1, 37] },
  // B a transposed view with K a multiple of 4: read in place along k (vec4bt) on CPU adapters.
  { a: [37, 12], b: [20, 12], tb: true },
  { a: [3, 9, 16], b: [3, 21, 16], tb: true },
  { a: [67, 33], b: [33, 71] },
  { a: [3, 5, 9], b: [9, 130] },
  { a: [2, 1, 17, 40], b: [3, 40, 5] },
  { a: [45, 19], b: [23, 45], ta: true, tb: true },
];

test('each matmul variant matches the reference, and all variants agree bit for bit', async () => {
  await init();
  const original = matmulVariant();
  const rnd = R.rng(5);
  for (const c of cases) {
    const mk = (shape: number[]) => R.nd(shape, Float32Array.from({ length: R.numel(shape) }, () => rnd() * 2 - 1));
    const A = mk(c.a);
    const B = mk(c.b);
    const a = tensor(Float32Array.from(A.data), { shape: A.shape });
    const b = tensor(Float32Array.from(B.data), { shape: B.shape });
    const av = c.ta ? a.transpose() : a;
    let bv = c.tb ? b.transpose() : b;
    const swapLast = (n: number) => [...Array(n - 2).keys(), n - 1, n - 2];
    let Bref = c.tb ? R.permute(B, swapLast(B.shape.length)) : B;
    if (c.bCols) {
      // A column slice: a strided view with an offset, read in place (aligned or not).
      const [lo, hi] = c.bCols;
      bv = bv.slice(1, lo, hi);
      const rows = Bref.shape[0];
      const w = Bref.shape[1];
      Bref = R.nd([rows, hi - lo], Float64Array.from({ length: rows * (hi - lo) }, (_, i) => Bref.data[Math.floor(i / (hi - lo)) * w + lo + (i % (hi - lo))]));
    }
    const ref = R.matmul(c.ta ? R.permute(A, [1, 0]) : A, Bref);
    let first: Float32Array | null = null;
    for (const v of MATMUL_CANDIDATES) {
      setMatmulVariant(v);
      const y = av.matmul(bv);
      assert.deepEqual([...y.shape], ref.shape, `${v.name} shape`);
      const d = (await y.data()) as Float32Array;
      for (let i = 0; i < d.length; i++) {
        assert.ok(Math.abs(d[i] - ref.data[i]) <= 1e-4 * (1 + Math.abs(ref.data[i])), `${v.name} ${JSON.stringify(c)}[${i}]: ${d[i]} vs ${ref.data[i]}`);
      }
      if (first) assert.deepEqual(d, first, `${v.name} differs from ${MATMUL_CANDIDATES[0].name} on ${JSON.stringify(c)}`);
      else first = d;
      y.dispose();
    }
    a.dispose();
    b.dispose();
  }
  setMatmulVariant(original);
});
