/**
 * Gradient accumulation invariance: one optimizer window of 8 rows, whose ignored (-100) labels
 * are spread unevenly (a fully ignored row, a prompt, padding, a row with two valid labels),
 * split into 1, 2 and 4 micro-batches, gives the same gradients for the CE-only objective and for
 * (1 − r)·CE + r·KD with every loss of the zoo (and ULD across tokenizers) under each KD reduction.
 * The bug this guards against (TRL #6006/#6452, verl #7225) is averaging each micro-batch's own
 * mean: a negative control below checks the comparison sees it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cat, init, tidy } from '@kdgpu/tensor';
import { createLoss, lossNames, lossOptionKeys, type LossName, universalLogitDistillation } from '@kdgpu/losses';
import { type CausalLM, createModel, tinyGPT2, tinyLlama } from '@kdgpu/models';
import { accumulateGradients, type Batch, type DistillPart, KD_REDUCTIONS, type KdReduction, shiftLabels } from '../src/index.ts';

const B = 8;
const T = 12;
const V = 48;
const VT = 40; // the cross-tokenizer teacher's vocabulary
const T_TEACHER = 9; // ... and its (shorter) rows: ULD compares the first 9 positions only

/**
 * Tolerance: the largest gradient difference over all parameters, relative to the largest
 * gradient. Splitting only reorders f32 sums, so differences are ~1e-7; a wrong normalisation
 * moves gradients by tens of percent (see the negative control).
 */
const RTOL = 1e-5;

function windowRows(): { ids: Int32Array; labels: Int32Array } {
  let s = 12345;
  const ids = Int32Array.from({ length: B * T }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % V;
  });
  const labels = shiftLabels(ids, B, T);
  const ignore = (row: number, from: number, to: number) => labels.fill(-100, row * T + from, row * T + to);
  ignore(0, 0, T - 3); // two valid labels
  ignore(1, 0, T); // nothing counts
  ignore(2, 0, 6); // a prompt
  for (let t = 0; t < T; t += 2) labels[4 * T + t] = -100; // every other position
  ignore(5, T - 6, T); // padding
  return { ids, labels };
}

/** The window cut into `k` micro-batches of B/k rows. */
function split(k: number): Batch[] {
  const { ids, labels } = windowRows();
  const rows = B / k;
  return Array.from({ length: k }, (_, i) => ({
    ids: ids.slice(i * rows * T, (i + 1) * rows * T),
    labels: labels.slice(i * rows * T, (i + 1) * rows * T),
    shape: [rows, T] as [number, number],
    blocks: new Uint32Array(rows),
    starts: new Float64Array(rows),
    next: { epoch: 0, position: 0 },
  }));
}

let models: { student: CausalLM; teacher: CausalLM; crossTeacher: CausalLM } | null = null;
function setup() {
  models ??= {
    student: createModel(tinyLlama({ vocab_size: V, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1 }), { seed: 1 }),
    teacher: createModel(tinyLlama({ vocab_size: V, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1 }), { seed: 2 }),
    crossTeacher: createModel(tinyGPT2({ vocab_size: VT, n_embd: 16, n_layer: 1, n_head: 2, n_positions: 32 }), { seed: 3 }),
  };
  return models;
}

/** The teacher's own tokens for a batch: a fixed map of the ids, rows cut to T_TEACHER. */
function retokenize(batch: Batch): { ids: Int32Array; shape: [number, number] } {
  const [rows] = batch.shape;
  const ids = new Int32Array(rows * T_TEACHER);
  for (let r = 0; r < rows; r++) for (let t = 0; t < T_TEACHER; t++) ids[r * T_TEACHER + t] = (batch.ids[r * T + t] * 7 + t) % VT;
  return { ids, shape: [rows, T_TEACHER] };
}

function distillPart(loss: string, reduction: KdReduction): DistillPart {
  const m = setup();
  if (loss === 'uld') {
    return {
      loss: (s, t, l) => universalLogitDistillation(s, t as never, l, { temperature: 2, reduction: 'none' }),
      teachers: { kind: 'models', models: [m.crossTeacher], retokenize },
      reduction,
    };
  }
  const opts = { reduction: 'none', ...(lossOptionKeys(loss as LossName).includes('temperature') ? { temperature: 2 } : {}) };
  return { loss: createLoss(loss, opts), teachers: { kind: 'models', models: [m.teacher] }, reduction };
}

/** All parameter gradients after accumulating `micro` (each call to `window` is one accumulation), flattened. */
async function gradients(windows: Batch[][], distill: DistillPart | null, scale = 1): Promise<Float64Array> {
  const { student } = setup();
  const params = [...student.parameters().values()];
  for (const p of params) p.zeroGrad();
  for (const micro of windows) {
    const w = accumulateGradients({ model: student, micro, kdRatio: distill ? 0.5 : 0, distill });
    for (const t of [w.ce, w.kd, w.total]) t?.dispose();
  }
  // One readback for all of them (readbacks are the slow part, under Deno especially).
  const flat = tidy(() => cat(params.map((p) => p.grad!.reshape([-1])), 0));
  const out = Float64Array.from(await flat.data(), (g) => g * scale);
  flat.dispose();
  for (const p of params) p.zeroGrad();
  return out;
}

function relDiff(a: Float64Array, b: Float64Array): number {
  let diff = 0;
  let size = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    size = Math.max(size, Math.abs(a[i]));
  }
  return diff / size;
}

const zoo = lossNames().filter((n) => n !== 'crossEntropy');
const cases: Array<[string, () => DistillPart | null]> = [['CE only', () => null]];
for (const loss of [...zoo, 'uld']) for (const r of KD_REDUCTIONS) cases.push([`${loss}, ${r}`, () => distillPart(loss, r)]);

for (const [name, part] of cases) {
  test(`one window split into 1, 2, 4 micro-batches gives the same gradients: ${name}`, async () => {
    await init();
    const d = part();
    const whole = await gradients([split(1)], d);
    assert.ok(whole.some((g) => g !== 0) && whole.every(Number.isFinite), `${name}: gradients are finite and not all zero`);
    for (const k of [2, 4]) {
      const parts = await gradients([split(k)], d);
      const e = relDiff(whole, parts);
      assert.ok(e <= RTOL, `${name}: ${k} micro-batches differ from one by ${e.toExponential(2)} of the largest gradient (tolerance ${RTOL})`);
    }
  });
}

test('negative control: averaging each micro-batch\'s own mean (the classic accumulation bug) is caught', async () => {
  await init();
  for (const d of [null, distillPart('forwardKL', 'mean')]) {
    const whole = await gradients([split(1)], d);
    for (const k of [2, 4]) {
      // Each micro-batch normalised by its own valid tokens, the k results averaged.
      const naive = await gradients(split(k).map((b) => [b]), d, 1 / k);
      const e = relDiff(whole, naive);
      assert.ok(e > 100 * RTOL, `${d ? 'forwardKL' : 'CE'}, ${k} micro-batches: the wrong normalisation moved gradients by only ${e.toExponential(2)}`);
    }
  }
});

test('a KD loss bound with a reducing reduction is refused, naming the fix', async () => {
  await init();
  const { student, teacher } = setup();
  const distill: DistillPart = { loss: createLoss('forwardKL'), teachers: { kind: 'models', models: [teacher] }, reduction: 'mean' };
  assert.throws(() => accumulateGradients({ model: student, micro: split(1), kdRatio: 0.5, distill }), /returned shape \[\] for a \[8, 12\] batch.*reduction "none"/);
  for (const p of student.parameters().values()) p.zeroGrad();
});
