import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { init, KdgpuError, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import {
  combineLosses,
  createLoss,
  crossEntropy,
  forwardKL,
  generalizedJSD,
  lossNames,
  lossOptionKeys,
  lossInfo,
  universalLogitDistillation,
  scheduleRatio,
  skewForwardKL,
  symmetricKL,
  teacherLogits,
} from '../src/index.ts';

const rows = (x: number[][]) => tensor(x);
const S = [[1, 2, 3, 4], [0, -1, 2, 0.5], [3, 1, 0, -2]];
const T = [[0.5, 2.5, 1, 4], [1, -1, 0, 0.25], [2, 2, 0, -1]];

describe('api', () => {
  before(async () => {
    await init();
  });

  test('shape and dtype errors name the shapes', () => {
    const s = rows(S);
    const wide = tensor([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]]);
    const labels = tensor([0, 1, -100], { dtype: 'i32' });
    assert.throws(() => forwardKL(s, wide, labels), (e: Error) => e instanceof KdgpuError && e.message.includes('[3,4]') && e.message.includes('[3,5]'));
    assert.throws(() => forwardKL(s, rows(T), tensor([0, 1, 2])), /labels must be integer \(i32\).*got f32/);
    assert.throws(() => forwardKL(s, rows(T), tensor([0, 1], { dtype: 'i32' })), /labels \[2\] must have shape \[3\]/);
    assert.throws(() => forwardKL(s, null, labels), /needs teacher logits of shape \[3,4\]/);
    assert.throws(() => forwardKL(tensor([1, 2]), tensor([1, 2]), null), /must be \[N, V\] or \[B, T, V\], got \[2\]/);
    assert.throws(() => crossEntropy(s, null, null), /crossEntropy: needs labels/);
  });

  test('option errors', () => {
    const s = rows(S);
    const t = rows(T);
    assert.throws(() => symmetricKL(s, t, null, { ratio: 1.5 }), /symmetricKL: ratio must be in \[0, 1\], got 1.5/);
    assert.throws(() => generalizedJSD(s, t, null, { beta: -0.1 }), /beta must be in \[0, 1\]/);
    assert.throws(() => skewForwardKL(s, t, null, { alpha: 2 }), /alpha must be in \[0, 1\]/);
    assert.throws(() => forwardKL(s, t, null, { temperature: 0 }), /temperature must be a positive number/);
    assert.throws(() => forwardKL(s, t, null, { chunks: 0 }), /chunks must be a positive integer/);
    assert.throws(() => forwardKL(s, t, null, { topP: 0 }), /topP must be in \(0, 1\]/);
    assert.throws(() => forwardKL(s, [t, t], null, { teacherWeights: [1] }), /teacherWeights has 1 entries for 2 teacher/);
    assert.throws(() => forwardKL(s, t, null, { reduction: 'avg' as never }), /reduction must be one of mean, sum, batchmean, none/);
  });

  test('registry: every loss by name, options checked when the loss is created', async () => {
    assert.deepEqual(lossNames(), [
      'crossEntropy', 'forwardKL', 'reverseKL', 'symmetricKL', 'jsDivergence', 'generalizedJSD',
      'skewForwardKL', 'skewReverseKL', 'totalVariation', 'logitMSE', 'nllSoft', 'uld',
    ]);
    // ULD is registered like the others; it is the one loss across vocabularies, with its own options.
    assert.deepEqual(lossInfo('uld'), { name: 'uld', options: ['ignoreIndex', 'reduction', 'temperature'], needsTeacher: true, usesTemperature: true, crossVocabulary: true, exactOnTruncatedTeacher: false });
    assert.equal(lossInfo('forwardKL').crossVocabulary, false);
    assert.throws(() => createLoss('uld', { topK: 5 }), /uld has no option "topK"; its options are ignoreIndex, reduction, temperature/);
    assert.throws(() => createLoss('uld', { temperature: 0 }), /uld: temperature must be a positive number/);
    assert.throws(() => lossInfo('kl'), /unknown loss "kl"; known: crossEntropy/);
    const viaRegistry = createLoss('uld', { temperature: 2 });
    const su = tensor(Array.from({ length: 10 }, (_, i) => Math.sin(i)), { shape: [2, 5] });
    const tu = tensor(Array.from({ length: 21 }, (_, i) => Math.cos(i)), { shape: [3, 7] });
    const [u1, u2] = tidy(() => [viaRegistry(su.reshape([1, 2, 5]), tu.reshape([1, 3, 7]), null), universalLogitDistillation(su.reshape([1, 2, 5]), tu.reshape([1, 3, 7]), null, { temperature: 2 })]);
    assert.equal(await u1.item(), await u2.item());
    assert.ok(lossOptionKeys('skewForwardKL').includes('alpha'));
    assert.ok(!lossOptionKeys('logitMSE').includes('temperature'));
    assert.throws(() => createLoss('kl'), /unknown loss "kl"; known: crossEntropy, forwardKL/);
    assert.throws(() => createLoss('forwardKL', { temprature: 2 }), /forwardKL has no option "temprature"/);
    assert.throws(() => createLoss('symmetricKL', { ratio: 2 }), /ratio must be in \[0, 1\]/);
    // A JSON config names the loss and its options.
    const cfg = JSON.parse('{ "name": "forwardKL", "options": { "temperature": 2, "form": "crossEntropy" } }');
    const fromConfig = createLoss(cfg.name, cfg.options);
    const s = rows(S);
    const t = rows(T);
    const [a, b] = tidy(() => [fromConfig(s, t, null), forwardKL(s, t, null, { temperature: 2, form: 'crossEntropy' })]);
    assert.equal(await a.item(), await b.item());
  });

  test('combineLosses: (1 - kdRatio)·CE + kdRatio·KD', async () => {
    const ce = tensor([2]).sum();
    const kd = tensor([4]).sum();
    assert.equal(await combineLosses({ ce, kd }, { kdRatio: 0.25 }).item(), 2.5);
    assert.equal(await combineLosses({ ce, kd: tensor([NaN]).sum() }, { kdRatio: 0 }).item(), 2);
    assert.throws(() => combineLosses({ ce, kd }, { kdRatio: 1.2 }), /kdRatio must be in \[0, 1\], got 1.2/);
  });

  test('kdRatio schedules: constant, linear, WSD', () => {
    assert.equal(scheduleRatio({ kind: 'constant', value: 0.5 }, 123), 0.5);
    const lin = { kind: 'linear' as const, from: 1, to: 0, steps: 100 };
    assert.deepEqual([0, 50, 100, 200].map((s) => scheduleRatio(lin, s)), [1, 0.5, 0, 0]);
    const wsd = { kind: 'wsd' as const, max: 0.9, warmupSteps: 10, decaySteps: 10, totalSteps: 100 };
    const v = [0, 5, 10, 50, 89, 90, 95, 100].map((s) => scheduleRatio(wsd, s));
    assert.deepEqual(v.map((x) => +x.toFixed(6)), [0, 0.45, 0.9, 0.9, 0.9, 0.9, 0.45, 0]);
    assert.throws(() => scheduleRatio({ kind: 'constant', value: 2 }, 0), /kdRatio must stay in \[0, 1\]/);
  });

  test('teacher truncation: top-k keeps k tokens, top-p the smallest set reaching p', async () => {
    // softmax of [4, 3, 2, 1, 0] ≈ [0.636, 0.234, 0.086, 0.032, 0.012]
    const z = tensor([[4, 3, 2, 1, 0], [0, 1, 2, 3, 4]]);
    const keep = async (o: object) => (await tidy(() => teacherLogits([z], o).gt(-Infinity)).toArray()) as number[][];
    assert.deepEqual(await keep({ topK: 2 }), [[1, 1, 0, 0, 0], [0, 0, 0, 1, 1]]);
    assert.deepEqual(await keep({ topK: 1 }), [[1, 0, 0, 0, 0], [0, 0, 0, 0, 1]]);
    assert.deepEqual(await keep({ topP: 0.6 }), [[1, 0, 0, 0, 0], [0, 0, 0, 0, 1]]);
    assert.deepEqual(await keep({ topP: 0.9 }), [[1, 1, 1, 0, 0], [0, 0, 1, 1, 1]]);
    assert.deepEqual(await keep({ topP: 0.9, topK: 2 }), [[1, 1, 0, 0, 0], [0, 0, 0, 1, 1]]);
    assert.deepEqual(await keep({ topK: 5 }), [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1]]);
    // Ties at the k-th value are all kept.
    const tied = tensor([[1, 3, 3, 0]]);
    assert.deepEqual(await tidy(() => teacherLogits([tied], { topK: 1 }).gt(-Infinity)).toArray(), [[0, 1, 1, 0]]);
    // Truncated probabilities renormalise over the kept tokens.
    const p = (await tidy(() => teacherLogits([z], { topK: 2 }).softmax(-1)).toArray()) as number[][];
    assert.ok(Math.abs(p[0][0] - Math.exp(4) / (Math.exp(4) + Math.exp(3))) < 1e-6);
  });

  test('gradients reach the student only; the teacher is a constant', () => {
    const s = tensor(S, { requiresGrad: true });
    const t = tensor(T, { requiresGrad: true });
    const loss = forwardKL(s, t, null, { temperature: 2 });
    loss.backward();
    assert.ok(s.grad !== null);
    assert.equal(t.grad, null);
    for (const x of [s, t, loss] as Tensor[]) x.dispose();
  });
});
