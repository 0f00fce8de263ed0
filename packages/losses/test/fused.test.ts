import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { init, KdgpuError, memoryStats, randn, resetPeakBytes, sync, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import { crossEntropy, forwardKL, fusedHeadLoss, jsDivergence, reverseKL, sparseTopK, type DefinedLoss, type DistillOptions } from '../src/index.ts';
import { closeness } from './helpers.ts';

// The fused head + loss (row blocks, gradients accumulated per block) against the unfused path
// (full logits = hidden @ Wᵀ, then the loss), values and the gradients of hidden and W.
const ATOL = 1e-5;
const RTOL = 1e-4;

interface Case {
  name: string;
  lead: number[];
  kd?: DefinedLoss<DistillOptions>;
  kdOptions?: DistillOptions;
  kdRatio: number;
  sparseK?: number;
  rows: number;
  reduction: 'mean' | 'sum' | 'batchmean';
  labelSmoothing?: number;
}

const V = 37;
const D = 8;
const CASES: Case[] = [
  { name: 'forward KL τ = 2 + CE, dense teacher', lead: [10], kd: forwardKL as never, kdOptions: { temperature: 2 }, kdRatio: 0.5, rows: 3, reduction: 'mean' },
  { name: 'reverse KL, sparse teacher (tail-bucket), [B, T, d]', lead: [2, 5], kd: reverseKL as never, kdOptions: { missingMass: 'tail-bucket' } as DistillOptions, kdRatio: 1, sparseK: 5, rows: 4, reduction: 'mean' },
  { name: 'JSD + CE, sparse teacher (uniform), sum', lead: [9], kd: jsDivergence as never, kdOptions: { missingMass: 'uniform', temperature: 1.5 } as DistillOptions, kdRatio: 0.3, sparseK: 4, rows: 2, reduction: 'sum' },
  { name: 'forward KL (zero) + CE, batchmean, [B, T, d]', lead: [3, 4], kd: forwardKL as never, kdOptions: { missingMass: 'zero' } as DistillOptions, kdRatio: 0.7, sparseK: 6, rows: 5, reduction: 'batchmean' },
  { name: 'CE alone with label smoothing, one block', lead: [7], kdRatio: 0, rows: 64, reduction: 'mean', labelSmoothing: 0.1 },
];

async function arr(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

describe('fused head + loss', () => {
  before(async () => {
    await init();
  });

  for (const c of CASES) {
    test(`${c.name}: equals the unfused path (value, d hidden, d W)`, async () => {
      const live = memoryStats().liveTensors;
      const n = c.lead.reduce((a, b) => a * b);
      const hid = randn([...c.lead, D], { seed: 11 });
      const w = tidy(() => randn([V, D], { seed: 12 }).mul(0.7));
      const teacherLogits = tidy(() => randn([...c.lead, V], { seed: 13 }).mul(2));
      const labels = tensor(new Int32Array(Array.from({ length: n }, (_, i) => (i % 5 === 3 ? -100 : (i * 7) % V))), { shape: c.lead });
      const teacher = c.kdRatio === 0 ? null : c.sparseK ? sparseTopK(teacherLogits, c.sparseK) : teacherLogits;

      const run = async (fused: boolean) => {
        const h = hid.detach();
        h.requiresGrad = true;
        const W = w.detach();
        W.requiresGrad = true;
        const loss = fused
          ? fusedHeadLoss(h, W, teacher, labels, { kd: c.kd, kdOptions: c.kdOptions, kdRatio: c.kdRatio, rows: c.rows, reduction: c.reduction, labelSmoothing: c.labelSmoothing })
          : tidy(() => {
              const logits = h.matmul(W.transpose());
              const ce = crossEntropy(logits, null, labels, { reduction: c.reduction, labelSmoothing: c.labelSmoothing });
              if (c.kdRatio === 0) return ce;
              const kd = c.kd!(logits, teacher, labels, { ...c.kdOptions, reduction: c.reduction });
              return kd.mul(c.kdRatio).add(ce.mul(1 - c.kdRatio));
            });
        loss.backward();
        const out = { value: await arr(loss), dh: await arr(h.grad!), dw: await arr(W.grad!) };
        assert.deepEqual(h.grad!.shape, hid.shape);
        for (const t of [h, W, loss]) t.dispose();
        return out;
      };
      const a = await run(true);
      const b = await run(false);
      assert.ok(closeness(a.value, b.value, ATOL, RTOL).worst <= 1, `value ${a.value} vs unfused ${b.value}`);
      const gh = closeness(a.dh, b.dh, ATOL, RTOL);
      assert.ok(gh.worst <= 1, `d hidden element ${gh.at}: ${a.dh[gh.at]} vs unfused ${b.dh[gh.at]}`);
      const gw = closeness(a.dw, b.dw, ATOL, RTOL);
      assert.ok(gw.worst <= 1, `d W element ${gw.at}: ${a.dw[gw.at]} vs unfused ${b.dw[gw.at]}`);

      if (teacher !== teacherLogits && teacher !== null) (teacher as { dispose(): void }).dispose();
      for (const t of [hid, w, teacherLogits, labels]) t.dispose();
      assert.equal(memoryStats().liveTensors, live, 'every tensor the fused loss made is freed');
    });
  }

  test('a scaled upstream gradient scales both gradients; no grad mode gives the value only', async () => {
    const h = randn([6, D], { seed: 1 });
    h.requiresGrad = true;
    const W = randn([V, D], { seed: 2 });
    W.requiresGrad = true;
    const t = randn([6, V], { seed: 3 });
    const labels = tensor([1, 2, 3, -100, 5, 6], { dtype: 'i32' });
    const loss = fusedHeadLoss(h, W, t, labels, { kd: forwardKL as never, kdRatio: 0.5, rows: 4 });
    const v = await loss.item();
    const root = loss.mul(3);
    root.backward();
    const g3 = await arr(h.grad!);
    h.zeroGrad();
    const loss1 = fusedHeadLoss(h, W, t, labels, { kd: forwardKL as never, kdRatio: 0.5, rows: 4 });
    loss1.backward();
    const g1 = await arr(h.grad!);
    assert.ok(closeness(g3, g1.map((x) => 3 * x), 1e-6, 1e-5).worst <= 1);
    const plain = tidy(() => {
      const hd = h.detach();
      const Wd = W.detach();
      return fusedHeadLoss(hd, Wd, t, labels, { kd: forwardKL as never, kdRatio: 0.5, rows: 4 });
    });
    assert.ok(Math.abs((await plain.item()) - v) < 1e-6);
    for (const x of [h, W, t, labels, loss, root, loss1, plain]) x.dispose();
  });

  test('peak memory: one block of logits at a time (at most 1/4 of the unfused peak at 16 blocks)', async () => {
    const [n, v, d] = [512, 3000, 32];
    const h = tidy(() => randn([n, d], { seed: 1 }).mul(0.5));
    h.requiresGrad = true;
    const W = tidy(() => randn([v, d], { seed: 2 }).mul(0.2));
    W.requiresGrad = true;
    const t = tidy(() => randn([n, v], { seed: 3 }).mul(2));
    const labels = tensor(Int32Array.from({ length: n }, (_, i) => (i * 13) % v));
    const peakOf = async (f: () => Tensor) => {
      h.zeroGrad();
      W.zeroGrad();
      await sync();
      resetPeakBytes();
      const before = memoryStats().liveBytes;
      const loss = f();
      loss.backward();
      await sync();
      loss.dispose();
      return memoryStats().peakBytes - before;
    };
    const fused = await peakOf(() => fusedHeadLoss(h, W, t, labels, { kd: forwardKL, kdOptions: { temperature: 2 }, kdRatio: 0.5, rows: 32 }));
    const unfused = await peakOf(() =>
      tidy(() => {
        const logits = h.matmul(W.transpose());
        return forwardKL(logits, t, labels, { temperature: 2 }).mul(0.5).add(crossEntropy(logits, null, labels).mul(0.5));
      }),
    );
    const NV = n * v * 4;
    assert.ok(unfused >= 4 * NV, `unfused peak ${unfused} should hold several [N, V] buffers (${NV} bytes each)`);
    assert.ok(fused * 4 <= unfused, `fused peak ${fused} vs unfused ${unfused}`);
    assert.ok(fused < NV, `fused peak ${fused} is below one [N, V] buffer (${NV})`);
    for (const x of [h, W, t, labels]) x.dispose();
  });

  test('bad input is refused before any work', () => {
    const h = randn([4, D]);
    const W = randn([V, D]);
    const labels = tensor([1, 2, 3, 4], { dtype: 'i32' });
    assert.throws(() => fusedHeadLoss(h, randn([V, D + 1]), null, labels, { kdRatio: 0 }), (e: Error) => e instanceof KdgpuError && /\[37,9\] \[V, d\] with the same d/.test(e.message));
    assert.throws(() => fusedHeadLoss(h, W, null, labels, { kdRatio: 0.5 }), /needs a teacher/);
    assert.throws(() => fusedHeadLoss(h, W, randn([4, V]), labels, { kdRatio: 0.5 }), /needs opts\.kd/);
    assert.throws(() => fusedHeadLoss(h, W, randn([5, V]), labels, { kd: forwardKL as never }), /teacher \[5,37\] must have the positions \[4\]/);
    assert.throws(() => fusedHeadLoss(h, W, null, labels, { kdRatio: 0, rows: 0 }), /rows must be a positive integer/);
    assert.throws(() => fusedHeadLoss(h, W, null, null, { kdRatio: 0 }), /needs labels/);
  });
});
