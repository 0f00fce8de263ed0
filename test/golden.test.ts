/**
 * Composite expressions against PyTorch float64 golden values (test/fixtures/make_tensor_golden.py
 * writes the fixture; the test needs no Python). Tolerance: 1e-4 relative + 1e-5 absolute, the
 * f32 rounding of these short chains.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { init, type Tensor, tensor, tidy } from '@kdgpu/tensor';

interface Case {
  name: string;
  inputs: Record<string, { shape: number[]; data: number[] }>;
  output: number;
  grads: Record<string, number[]>;
  x?: { shape: number[]; data: number[] };
  labels?: number[];
}

const golden = JSON.parse(await readFile(new URL('./fixtures/tensor-golden.json', import.meta.url), 'utf8')) as { cases: Case[] };

const exprs: Record<string, (v: Record<string, Tensor>, c: Case) => Tensor> = {
  matmul_chain: ({ a, b, c }) => a.matmul(b).matmul(c).tanh().pow(2).sum(),
  softmax_large: ({ x, w }) => x.softmax(-1).mul(w).sum(),
  logsumexp_large: ({ x }) => x.logsumexp(1).sum(),
  log_softmax_axis0: ({ x, w }) => x.logSoftmax(0).mul(w).sum(),
  mlp_cross_entropy: ({ w1, b1, w2, b2 }, c) => {
    const x = tensor(c.x!.data, { shape: c.x!.shape });
    const labels = tensor(Int32Array.from(c.labels!), { shape: [c.labels!.length, 1] });
    const logits = x.matmul(w1).add(b1).relu().matmul(w2).add(b2);
    return logits.logSoftmax(-1).gather(1, labels).mean().neg();
  },
};

function close(got: number, want: number, what: string) {
  assert.ok(Math.abs(got - want) <= 1e-5 + 1e-4 * Math.abs(want), `${what}: ${got} vs torch ${want}`);
}

for (const c of golden.cases) {
  test(`golden ${c.name} matches PyTorch`, async () => {
    await init();
    const vars: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(c.inputs)) vars[k] = tensor(v.data, { shape: v.shape, requiresGrad: true });
    const out = tidy(() => exprs[c.name](vars, c));
    out.backward();
    close(await out.item(), c.output, `${c.name} value`);
    for (const [k, g] of Object.entries(c.grads)) {
      const got = await vars[k].grad!.data();
      g.forEach((want, i) => close(got[i], want, `${c.name} d/d${k}[${i}]`));
    }
    out.dispose();
    for (const t of Object.values(vars)) t.dispose();
  });
}

test('every golden case has an expression', () => {
  assert.deepEqual(golden.cases.map((c) => c.name).filter((n) => !exprs[n]), []);
});
