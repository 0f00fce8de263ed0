/**
 * Universal Logit Distillation against a PyTorch float64 fixture (value and gradient w.r.t. the
 * student logits; different vocabularies and lengths, masked positions, two temperatures), and its
 * properties: 0 for identical distributions, independent of the order of the vocabulary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { init, randn, tensor } from '@kdgpu/tensor';
import { universalLogitDistillation } from '../src/index.ts';

interface Case { student: { shape: number[]; data: number[] }; teacher: { shape: number[]; data: number[] }; labels: number[]; temperature: number; loss: number; grad: number[] }
const fx = JSON.parse(await readFile(new URL('./fixtures/uld.json', import.meta.url), 'utf8')) as { cases: Case[] };

for (const [i, c] of fx.cases.entries()) {
  test(`ULD matches PyTorch (case ${i}: student [${c.student.shape}], teacher [${c.teacher.shape}], T=${c.temperature})`, async () => {
    await init();
    const s = tensor(c.student.data, { shape: c.student.shape, requiresGrad: true });
    const t = tensor(c.teacher.data, { shape: c.teacher.shape });
    const labels = tensor(Int32Array.from(c.labels), { shape: c.student.shape.slice(0, -1) });
    const loss = universalLogitDistillation(s, t, labels, { temperature: c.temperature });
    assert.ok(Math.abs((await loss.item()) - c.loss) <= 1e-5 + 1e-4 * Math.abs(c.loss), `loss ${await loss.item()} vs ${c.loss}`);
    loss.backward();
    const g = await s.grad!.data();
    c.grad.forEach((want, k) => assert.ok(Math.abs(g[k] - want) <= 1e-5 + 1e-3 * Math.abs(want), `grad[${k}] ${g[k]} vs ${want}`));
    for (const x of [s, t, labels, loss]) x.dispose();
  });
}

test('ULD is 0 for the same distribution, even with the vocabulary permuted and padded', async () => {
  await init();
  const s = randn([1, 3, 6], { seed: 4 });
  // The teacher: the same logits in reversed vocabulary order plus two -inf (zero-probability) rows.
  const data = Array.from(await s.data());
  const rows = [0, 1, 2].map((r) => [...data.slice(r * 6, r * 6 + 6).reverse(), -Infinity, -Infinity]);
  const t = tensor(rows.flat(), { shape: [1, 3, 8] });
  const v = await universalLogitDistillation(s, t, null).item();
  assert.ok(Math.abs(v) < 1e-6, `ULD ${v}`);
});
