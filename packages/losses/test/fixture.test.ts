import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { init, memoryStats, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import { LOSSES, type LossName } from '../src/index.ts';
import { closeness, type Fixture, flat, loadFixture } from './helpers.ts';

// Values and gradients of every loss against PyTorch (float64 references; fixtures/make_losses_fixture.py),
// whole and in sequence chunks (tensor_split semantics, including uneven splits).
const fixture: Fixture = await loadFixture();

const ATOL = 2e-5;
const RTOL = 2e-4;

describe('losses match the PyTorch fixture', () => {
  before(async () => {
    await init();
  });

  for (const c of fixture.cases) {
    const id = `${c.loss} on ${c.data} ${JSON.stringify(c.opts)}`;
    for (const chunks of [1, 5]) {
      test(`${id}${chunks > 1 ? ` in ${chunks} chunks` : ''}`, async () => {
        const d = fixture.datasets[c.data];
        const live = memoryStats().liveTensors;
        const student = tensor(new Float32Array(flat(d.student)), { shape: d.shape, requiresGrad: true });
        const k = c.opts.teachers ?? 1;
        const teachers = d.teachers.slice(0, k).map((t) => tensor(new Float32Array(flat(t)), { shape: d.shape }));
        const labels = tensor(new Int32Array(flat(d.labels)), { shape: d.shape.slice(0, -1) });
        const { teachers: _k, ...opts } = c.opts;
        // The fixture covers the same-vocabulary losses (ULD has its own, uld.json).
        const loss = LOSSES[c.loss as Exclude<LossName, 'uld'>](student, k === 1 ? teachers[0] : teachers, labels, { ...opts, chunks } as never);
        let root: Tensor = loss;
        // reduction 'none': backpropagate Σ_t w_t·ℓ_t, so that each token's upstream gradient differs.
        const w = c.weights;
        if (w !== undefined) root = tidy(() => loss.mul(tensor(new Float32Array(flat(w)), { shape: loss.shape })).sum());
        root.backward();

        const value = Array.from(await loss.data());
        const v = closeness(value, flat(c.value as number), ATOL, RTOL);
        assert.ok(v.worst <= 1, `value ${value} vs PyTorch ${JSON.stringify(c.value)}`);
        const grad = await student.grad!.data();
        const expected = flat(c.grad);
        const g = closeness(grad, expected, ATOL, RTOL);
        assert.ok(g.worst <= 1, `gradient element ${g.at}: ${grad[g.at]} vs PyTorch ${expected[g.at]} (${g.worst.toFixed(2)}x tolerance)`);

        for (const t of [student, ...teachers, labels, loss, root]) t.dispose();
        assert.equal(memoryStats().liveTensors, live, 'every tensor the loss made is freed');
      });
    }
  }
});
