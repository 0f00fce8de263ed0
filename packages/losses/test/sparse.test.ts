import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { init, KdgpuError, memoryStats, randn, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import { createLoss, LOSSES, type LossName, logitMSE, forwardKL, sparseFromArrays, sparseTopK, type MissingMass } from '../src/index.ts';
import { closeness } from './helpers.ts';

// With k = V the sparse teacher lists every token: each missing-mass mode must then give exactly the
// dense loss (the tail is -inf, so there is no mass to place), values and gradients.
const SUPPORTED: Array<[Exclude<LossName, 'uld'>, Record<string, unknown>]> = [
  ['forwardKL', {}],
  ['forwardKL', { form: 'crossEntropy' }],
  ['reverseKL', {}],
  ['symmetricKL', { ratio: 0.3 }],
  ['jsDivergence', {}],
  ['generalizedJSD', { beta: 0.2 }],
  ['skewForwardKL', { alpha: 0.1 }],
  ['skewForwardKL', { alpha: 0.2, form: 'crossEntropy' }],
  ['skewReverseKL', { alpha: 0.1 }],
  ['totalVariation', {}],
  ['nllSoft', {}],
];
const MODES: MissingMass[] = ['tail-bucket', 'uniform', 'zero'];
// Tight: the only differences are float32 rounding (sums in another order, one more log-softmax).
const ATOL = 2e-6;
const RTOL = 2e-5;

async function run(loss: Exclude<LossName, 'uld'>, student: number[], shape: number[], teacher: unknown, labels: Tensor, opts: object) {
  const s = tensor(new Float32Array(student), { shape, requiresGrad: true });
  const l = LOSSES[loss](s, teacher as Tensor, labels, opts as never);
  // reduction 'none': backpropagate Σ_t w_t·ℓ_t with distinct weights.
  const root = l.rank === 0 ? l : tidy(() => l.mul(tensor(new Float32Array(l.size).map((_, i) => 0.5 + i / 7), { shape: l.shape })).sum());
  root.backward();
  if (root !== l) root.dispose();
  const out = { value: Array.from(await l.data()), grad: Array.from(await s.grad!.data()) };
  s.dispose();
  l.dispose();
  return out;
}

describe('sparse teachers', () => {
  before(async () => {
    await init();
  });

  for (const shape of [[7, 9], [2, 3, 9]]) {
    for (const [loss, own] of SUPPORTED) {
      for (const mode of MODES) {
        test(`k = V: ${loss} ${JSON.stringify(own)} ${mode} equals the dense loss on ${JSON.stringify(shape)}`, async () => {
          const live = memoryStats().liveTensors;
          const r = randn(shape, { seed: 3 });
          const student = Array.from(await r.data(), (x) => 2 * x);
          r.dispose();
          const t = tidy(() => randn(shape, { seed: 4 }).mul(2));
          const lead = shape.slice(0, -1);
          const n = lead.reduce((a, b) => a * b);
          const labels = tensor(new Int32Array(Array.from({ length: n }, (_, i) => (i % 4 === 2 ? -100 : i % 9))), { shape: lead });
          const sparse = sparseTopK(t, shape[shape.length - 1]);
          for (const extra of [{}, { temperature: 2 }, { temperature: 2, teacherTemperature: 1.5, chunks: 3 }, { reduction: 'none' }]) {
            const dense = await run(loss, student, shape, t, labels, { ...own, ...extra, ...(loss === 'nllSoft' ? { topP: 1, topK: 0 } : {}) });
            const sp = await run(loss, student, shape, sparse, labels, { ...own, ...extra, missingMass: mode });
            const v = closeness(sp.value, dense.value, ATOL, RTOL);
            assert.ok(v.worst <= 1, `${JSON.stringify(extra)}: value ${sp.value} vs dense ${dense.value}`);
            const g = closeness(sp.grad, dense.grad, ATOL, RTOL);
            assert.ok(g.worst <= 1, `${JSON.stringify(extra)}: gradient element ${g.at}: ${sp.grad[g.at]} vs dense ${dense.grad[g.at]}`);
          }
          sparse.dispose();
          t.dispose();
          labels.dispose();
          assert.equal(memoryStats().liveTensors, live);
        });
      }
    }
  }

  test('k = V with -inf teacher logits (a padded vocabulary) equals the dense loss', async () => {
    const shape = [4, 6];
    const student = Array.from(await randn(shape, { seed: 5 }).data());
    const z = Array.from(await randn(shape, { seed: 6 }).data());
    z[2] = -Infinity;
    z[9] = -Infinity;
    z[23] = -Infinity;
    const t = tensor(new Float32Array(z), { shape });
    const labels = tensor([0, 1, 2, 3], { dtype: 'i32' });
    const sparse = sparseTopK(t, 6);
    for (const [loss, own] of SUPPORTED) {
      for (const mode of MODES) {
        const dense = await run(loss, student, shape, t, labels, { ...own, ...(loss === 'nllSoft' ? { topP: 1, topK: 0 } : {}) });
        const sp = await run(loss, student, shape, sparse, labels, { ...own, missingMass: mode });
        assert.ok(closeness(sp.value, dense.value, ATOL, RTOL).worst <= 1, `${loss} ${mode}: ${sp.value} vs ${dense.value}`);
        assert.ok(closeness(sp.grad, dense.grad, ATOL, RTOL).worst <= 1, `${loss} ${mode}: gradient`);
      }
    }
  });

  test("'zero' equals the dense loss on a top-k truncated teacher", async () => {
    const shape = [5, 12];
    const student = Array.from(await randn(shape, { seed: 7 }).data());
    const t = randn(shape, { seed: 8 }).mul(3);
    const labels = tensor([0, 1, -100, 3, 4], { dtype: 'i32' });
    const sparse = sparseTopK(t, 4);
    for (const [loss, own] of SUPPORTED) {
      const dense = await run(loss, student, shape, t, labels, { ...own, topK: 4, ...(loss === 'nllSoft' ? { topP: 1 } : {}), temperature: 2 });
      const sp = await run(loss, student, shape, sparse, labels, { ...own, missingMass: 'zero', temperature: 2 });
      assert.ok(closeness(sp.value, dense.value, 1e-5, 1e-4).worst <= 1, `${loss}: ${sp.value} vs ${dense.value}`);
      assert.ok(closeness(sp.grad, dense.grad, 1e-5, 1e-4).worst <= 1, `${loss}: gradient`);
    }
  });

  test('sparseTopK: the top k ids, their log-softmax, and the log of the rest', async () => {
    const z = [[1, 5, 2, 4, 3], [0, 0, 1, -1, 2]];
    const sp = sparseTopK(tensor(z), 2);
    assert.deepEqual(await sp.ids.toArray(), [[1, 3], [4, 2]]);
    const lp = (await sp.logprobs.data()) as Float32Array;
    const tail = (await sp.tail.data()) as Float32Array;
    for (const [r, row] of z.entries()) {
      const lse = Math.log(row.reduce((a, x) => a + Math.exp(x), 0));
      const sorted = [...row].sort((a, b) => b - a);
      assert.ok(Math.abs(lp[2 * r] - (sorted[0] - lse)) < 1e-6 && Math.abs(lp[2 * r + 1] - (sorted[1] - lse)) < 1e-6);
      const rest = Math.log(sorted.slice(2).reduce((a, x) => a + Math.exp(x), 0)) - lse;
      assert.ok(Math.abs(tail[r] - rest) < 1e-6, `tail ${tail[r]} vs ${rest}`);
    }
    assert.equal(sp.k, 2);
    assert.deepEqual(sp.positions, [2]);
    const arrays = await sp.toArrays();
    assert.deepEqual(arrays.shape, [2, 2]);
    assert.equal(arrays.vocabSize, 5);
    sp.dispose();
  });

  test('sparseFromArrays computes a missing tail and rejects bad input with the source, position and fix', () => {
    const base = { ids: new Int32Array([0, 2, 1, -1]), logprobs: new Float32Array([Math.log(0.5), Math.log(0.25), Math.log(0.9), -Infinity]), shape: [2, 2], vocabSize: 4 };
    const ok = sparseFromArrays(base);
    ok.dispose();
    const bad = (patch: object, re: RegExp) =>
      assert.throws(() => sparseFromArrays({ ...base, ...patch }, { source: 'run.kdl' }), (e: Error) => e instanceof KdgpuError && /run\.kdl/.test(e.message) && re.test(e.message), re.source);
    bad({ ids: new Int32Array([0, 4, 1, -1]) }, /position \[0\] slot 1 has token id 4, outside the vocabulary \[0, 4\)/);
    bad({ ids: new Int32Array([0, 0, 1, -1]) }, /lists token id 0 twice/);
    bad({ logprobs: new Float32Array([NaN, -1, -1, -Infinity]) }, /logprob NaN/);
    bad({ logprobs: new Float32Array([0.5, -1, -1, -Infinity]) }, /must be ≤ 0/);
    bad({ logprobs: new Float32Array([-0.1, -0.2, -1, -Infinity]) }, /mass 1\.7\d+ .* > 1 \+ 0\.001.*not raw logits/);
    bad({ logprobs: new Float32Array([-1, -1, -1, -2]) }, /slot 1 is unused \(id -1\) but its logprob is -2/);
    bad({ tail: new Float32Array([Math.log(0.5), 0]) }, /mass 1\.25/);
    bad({ tail: new Float32Array([0.1, -1]) }, /tail 0\.1/);
    bad({ tail: new Float32Array([-1]) }, /tail must be a Float32Array of 2 entries/);
    bad({ shape: [2, 3] }, /ids must be an Int32Array of 6/);
    bad({ shape: [4] }, /shape must be \[N, K\] or \[B, T, K\]/);
    bad({ vocabSize: 0 }, /vocabSize must be a positive integer/);
  });

  test('a missing tail is log(1 - Σ p); a row listing every token gets tail -inf', async () => {
    assert.throws(() => sparseFromArrays({ ids: new Int32Array([0, 2]), logprobs: new Float32Array([-1, -1]), shape: [1, 2], vocabSize: 2 }), /outside the vocabulary \[0, 2\)/);
    const s2 = sparseFromArrays({ ids: new Int32Array([0, 2, 1, 0]), logprobs: new Float32Array([Math.log(0.5), Math.log(0.25), Math.log(0.7), Math.log(0.3) + 1e-4]), shape: [2, 2], vocabSize: 3 });
    const tail = (await s2.tail.data()) as Float32Array;
    assert.ok(Math.abs(tail[0] - Math.log(0.25)) < 1e-6, `${tail[0]}`);
    assert.equal(tail[1], -Infinity, 'mass over 1 within the tolerance: no tail');
    s2.dispose();
    const full = sparseFromArrays({ ids: new Int32Array([1, 0]), logprobs: new Float32Array([Math.log(0.5), Math.log(0.4)]), shape: [1, 2], vocabSize: 2 });
    assert.equal(((await full.tail.data()) as Float32Array)[0], -Infinity, 'all V listed');
    full.dispose();
  });

  test('losses refuse what a sparse teacher cannot give, and missingMass on a dense teacher', async () => {
    const s = randn([3, 5], { seed: 1 });
    const t = randn([3, 5], { seed: 2 });
    const sp = sparseTopK(t, 2);
    const labels = tensor([0, 1, 2], { dtype: 'i32' });
    assert.throws(() => logitMSE(s, sp, labels), /logitMSE: cannot take a sparse \(top-k\) teacher/);
    assert.throws(() => forwardKL(s, sp, labels, { topK: 2 }), /topK does not apply to a sparse teacher/);
    assert.throws(() => forwardKL(s, sp, labels, { ensemble: 'probs' }), /ensemble does not apply/);
    assert.throws(() => forwardKL(s, t, labels, { missingMass: 'zero' }), /missingMass applies to a sparse \(top-k\) teacher only/);
    assert.throws(() => forwardKL(s, sp, labels, { missingMass: 'bucket' as never }), /missingMass must be one of 'tail-bucket', 'uniform', 'zero'/);
    assert.throws(() => forwardKL(randn([3, 6]), sp, labels), /vocabulary of 5 tokens, the student logits \[3,6\] one of 6/);
    assert.throws(() => forwardKL(randn([4, 5]), sp, tensor([0, 1, 2, 3], { dtype: 'i32' })), /positions \[3\].*need \[4\]/);
    // nllSoft's default truncation does not apply to a sparse teacher; through the registry too.
    assert.ok(Number.isFinite(await createLoss('nllSoft')(s, sp, labels).item()));
    assert.ok(Number.isFinite(await createLoss('reverseKL', { missingMass: 'uniform' })(s, sp, labels).item()));
    assert.throws(() => createLoss('reverseKL', { missingMass: 'uniform' })(s, t, labels), /missingMass applies to a sparse/);
  });
});
