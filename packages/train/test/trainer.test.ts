/**
 * The training loop on a tiny model and corpus: a teacher learns (validation loss well below the
 * unigram entropy), distillation runs with every loss of the zoo, resume gives the same losses as
 * an uninterrupted run, offline teacher logits equal online ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { init, noGrad, tensor } from '@kdgpu/tensor';
import { createLoss, lossInfo, lossNames, lossOptionKeys, type LossName } from '@kdgpu/losses';
import { type CausalLM, createModel, tinyLlama } from '@kdgpu/models';
import { trainBpe } from '@kdgpu/tokenizer';
import { buildObjective, train, trainingConfig, type TrainingConfig, type TokenArray } from '../src/index.ts';

const text = (f: string) => readFileSync(new URL(`./fixtures/corpus/${f}`, import.meta.url), 'utf8');

let cached: { train: Int32Array; dev: Int32Array; vocab: number } | null = null;
async function corpus() {
  if (cached) return cached;
  const tok = await trainBpe([text('fortunes.train')], { vocabSize: 320, showProgress: false });
  const enc = (s: string) => Int32Array.from(tok.encode(s, { addSpecialTokens: false }).ids);
  cached = { train: enc(text('fortunes.train')), dev: enc(text('fortunes.dev')), vocab: tok.vocabSize };
  return cached;
}

// The loop's settings only: train() takes the data, tokenizer and models as values.
function config(over: Record<string, unknown> = {}): TrainingConfig {
  const base = {
    run: { seed: 7 },
    data: { blockSize: 32, batchSize: 8, maxEvalBlocks: 32 },
    optimizer: { lr: 3e-3, weightDecay: 0.01, clipGradNorm: 1 },
    schedule: { type: 'cosine', warmupSteps: 2 },
    train: { maxSteps: 20, logEvery: 5, evalEvery: 0 },
  };
  return trainingConfig(deepMerge(base, over));
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof a[k] === 'object' ? deepMerge(a[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

function unigramEntropy(ids: TokenArray, vocab: number): number {
  const counts = new Float64Array(vocab);
  for (const i of ids) counts[i]++;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / ids.length) * Math.log(c / ids.length);
  return h;
}

let teacher: CausalLM | null = null;
async function trainedTeacher() {
  if (teacher) return teacher;
  const { train: tr, dev, vocab } = await corpus();
  teacher = createModel(tinyLlama({ vocab_size: vocab, max_position_embeddings: 64, hidden_size: 64, intermediate_size: 128 }), { seed: 1 });
  const c = config({ train: { maxSteps: 150, logEvery: 50, evalEvery: 0 }, optimizer: { lr: 1e-2 }, schedule: { type: 'cosine', warmupSteps: 10 } });
  const s = await train({ model: teacher, data: { train: tr, eval: dev }, config: c });
  return Object.assign(teacher, { summary: s });
}

// "Well below": at least 0.5 nats under the unigram entropy, i.e. validation perplexity at most
// 60% of what a model that ignores context can reach.
test('a tiny teacher learns: validation loss falls well below the unigram entropy', async () => {
  await init();
  const { train: tr, vocab } = await corpus();
  const t = (await trainedTeacher()) as CausalLM & { summary: Awaited<ReturnType<typeof train>> };
  const h = unigramEntropy(tr, vocab);
  const val = t.summary.lastEval!.loss;
  assert.ok(Number.isFinite(val));
  assert.ok(val < h - 0.5, `validation loss ${val.toFixed(3)} vs unigram entropy ${h.toFixed(3)} nats`);
  assert.ok(t.summary.logged[0].loss > t.summary.logged.at(-1)!.loss, 'training loss fell');
});

for (const name of lossNames().filter((n) => n !== 'crossEntropy' && !lossInfo(n).crossVocabulary)) {
  test(`distillation runs with ${name}`, async () => {
    await init();
    const { train: tr, dev, vocab } = await corpus();
    const t = await trainedTeacher();
    const student = createModel(tinyLlama({ vocab_size: vocab, max_position_embeddings: 64 }), { seed: 3 });
    const c = config({ train: { maxSteps: 4, logEvery: 2, evalEvery: 0 }, distill: { loss: name, kdRatio: 0.5, temperature: 2 } });
    const s = await train({
      model: student, data: { train: tr, eval: dev.subarray(0, 32 * 8 + 1) }, config: c,
      // The objective as the CLI builds it (options from the config, checked by the registry).
      distill: buildObjective({ distill: c.distill!, student: { vocabSize: vocab }, teachers: [{ kind: 'model', model: t, name: 'teacher' }] }),
    });
    assert.equal(s.steps, 4);
    for (const l of s.logged) assert.ok(Number.isFinite(l.loss) && Number.isFinite(l.kd), `${name}: ${JSON.stringify(l)}`);
    assert.ok(s.logged.some((l) => l.kd !== 0), `${name}: the KD term was computed`);
    student.dispose();
  });
}

test('resume from a mid-run checkpoint gives the same losses as an uninterrupted run', async () => {
  await init();
  const { train: tr, vocab } = await corpus();
  const c = config({ train: { maxSteps: 8, logEvery: 1, evalEvery: 0, checkpointEvery: 3 }, data: { randomOffset: true } });
  const fresh = () => createModel(tinyLlama({ vocab_size: vocab, max_position_embeddings: 64 }), { seed: 5 });
  const full = await train({ model: fresh(), data: { train: tr }, config: c });
  // Run again, keep the checkpoint at step 3 in memory, then resume a new model from it.
  const m1 = fresh();
  type Saved = { state: unknown; weights: Map<string, Float32Array>; opt: { step: number; m: Float32Array[]; v: Float32Array[] } };
  const box: { saved: Saved | null } = { saved: null };
  const { snapshotOptimizer } = await import('../src/trainer.ts');
  await train({
    model: m1, data: { train: tr }, config: c,
    checkpoint: async (reason, state, opt) => {
      if (reason !== 'periodic' || box.saved) return;
      const weights = new Map<string, Float32Array>();
      for (const [k, p] of m1.parameters()) weights.set(k, (await p.data()) as Float32Array);
      box.saved = { state: structuredClone(state), weights, opt: await snapshotOptimizer(opt) };
    },
  });
  assert.ok(box.saved, 'a periodic checkpoint was taken');
  const s = box.saved;
  const m2 = fresh();
  for (const [k, p] of m2.parameters()) p.assign(tensor(s.weights.get(k)!, { shape: p.shape }));
  const resumed = await train({ model: m2, data: { train: tr }, config: c, resume: { state: s.state as never, optimizer: s.opt } });
  const tail = full.logged.filter((l) => l.step > 3);
  assert.deepEqual(resumed.logged, tail);
});

test('offline teacher logits (top-k) equal online distillation with the same truncation', async () => {
  await init();
  const { train: tr, vocab } = await corpus();
  const t = await trainedTeacher();
  const { writeOfflineLogits, offlineTeacher } = await import('../src/offline-logits-node.ts');
  const path = `/tmp/kdgpu-offline-${process.pid}.bin`;
  const stream = tr.subarray(0, 32 * 40);
  await writeOfflineLogits([t], stream, path, { blockSize: 32, batchSize: 8, topK: 8, topP: 1 });
  const c = config({ train: { maxSteps: 3, logEvery: 1, evalEvery: 0 }, data: { randomOffset: false }, distill: { loss: 'forwardKL', kdRatio: 1 } });
  const run = async (teachers: Parameters<typeof train>[0]['distill']) => {
    const m = createModel(tinyLlama({ vocab_size: vocab, max_position_embeddings: 64 }), { seed: 9 });
    const s = await train({ model: m, data: { train: stream }, config: c, distill: teachers });
    m.dispose();
    return s.logged;
  };
  const online = await run({ loss: createLoss('forwardKL', { topK: 8, reduction: 'none' }), teachers: { kind: 'models', models: [t] }, reduction: 'mean' });
  const offline = await run({ loss: createLoss('forwardKL', { reduction: 'none' }), teachers: { kind: 'offline', logits: await offlineTeacher(path, vocab, stream) }, reduction: 'mean' });
  assert.equal(online.length, 3);
  online.forEach((o, i) => assert.ok(Math.abs(o.kd - offline[i].kd) <= 1e-5 * (1 + Math.abs(o.kd)), `step ${o.step}: online ${o.kd} vs offline ${offline[i].kd}`));
  noGrad(() => 0);
});
