import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, test } from 'node:test';
import { init, memoryStats, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import { LOSSES, type LossName, sparseFromArrays } from '../src/index.ts';
import { closeness, flat, type Nested } from './helpers.ts';

// Every loss with a sparse (top-k) teacher, in each missing-mass mode, against float64 PyTorch
// references written from the README's definitions (fixtures/make_sparse.py), values and gradients,
// whole and in chunks.
interface SparseFixture {
  datasets: Record<string, { shape: number[]; vocab: number; student: Nested; ids: Nested; logprobs: Nested; tail: Nested; labels: Nested }>;
  cases: Array<{ loss: string; data: string; opts: Record<string, unknown>; value: Nested; grad: Nested; weights?: Nested }>;
}
const text = await readFile(new URL('./fixtures/sparse.json', import.meta.url), 'utf8');
const fixture = JSON.parse(text, (_k, v) => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === 'nan' ? NaN : v)) as SparseFixture;

const ATOL = 2e-5;
const RTOL = 2e-4;

describe('sparse-teacher losses match the PyTorch fixture', () => {
  before(async () => {
    await init();
  });

  for (const c of fixture.cases) {
    for (const chunks of [1, 3]) {
      test(`${c.loss} on ${c.data} ${JSON.stringify(c.opts)}${chunks > 1 ? ` in ${chunks} chunks` : ''}`, async () => {
        const d = fixture.datasets[c.data];
        const live = memoryStats().liveTensors;
        const student = tensor(new Float32Array(flat(d.student)), { shape: d.shape, requiresGrad: true });
        const K = (flat(d.ids).length / flat(d.tail).length) | 0;
        const teacher = sparseFromArrays({
          ids: new Int32Array(flat(d.ids)),
          logprobs: new Float32Array(flat(d.logprobs)),
          tail: new Float32Array(flat(d.tail)),
          shape: [...d.shape.slice(0, -1), K],
          vocabSize: d.vocab,
        });
        const labels = tensor(new Int32Array(flat(d.labels)), { shape: d.shape.slice(0, -1) });
        const loss = LOSSES[c.loss as Exclude<LossName, 'uld'>](student, teacher, labels, { ...c.opts, chunks } as never);
        let root: Tensor = loss;
        const w = c.weights;
        if (w !== undefined) root = tidy(() => loss.mul(tensor(new Float32Array(flat(w)), { shape: loss.shape })).sum());
        root.backward();

        const value = Array.from(await loss.data());
        const v = closeness(value, flat(c.value), ATOL, RTOL);
        assert.ok(v.worst <= 1, `value ${value} vs PyTorch ${JSON.stringify(c.value)}`);
        const grad = await student.grad!.data();
        const expected = flat(c.grad);
        const g = closeness(grad, expected, ATOL, RTOL);
        assert.ok(g.worst <= 1, `gradient element ${g.at}: ${grad[g.at]} vs PyTorch ${expected[g.at]} (${g.worst.toFixed(2)}x tolerance)`);

        teacher.dispose();
        for (const t of [student, labels, loss, root]) t.dispose();
        assert.equal(memoryStats().liveTensors, live, 'every tensor the loss made is freed');
      });
    }
  }
});
