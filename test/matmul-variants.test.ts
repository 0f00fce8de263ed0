/**
 * Every matmul kernel the autotuner can pick gives the reference result on awkward shapes
 * (not multiples of any tile, transposed operands, broadcast batches), and all of them agree
 * with each other exactly, so the tuner's choice cannot change results.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, MATMUL_CANDIDATES, matmulVariant, setMatmulVariant, tensor } from '@kdgpu/tensor';
import * as R from './helpers/ref.ts';

const cases: Array<{ a: number[]; b: number[]; ta?: boolean; tb?: boolean }> = [
  { a: [1, 1], b: [1, 1] },
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
    const bv = c.tb ? b.transpose() : b;
    const ref = R.matmul(c.ta ? R.permute(A, [1, 0]) : A, c.tb ? R.permute(B, [1, 0]) : B);
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
