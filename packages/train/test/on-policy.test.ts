/**
 * On-policy distillation on the GPU: student samples batched as training windows with the prompt
 * masked, GKD with λ = 0 equal to off-policy distillation step for step, the MiniLLM estimator
 * against the exact gradient of a toy case summed over every sequence, and each method inside
 * `train()`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import { type CausalLM, createModel, tinyLlama } from '@kdgpu/models';
import {
  accumulateGradients, type Batch, buildObjective, distillm, generateWindow, gkd, minillm, minillmLoss, newGenerationStats, onPolicyMethod, train, trainingConfig,
} from '../src/index.ts';

const V = 40;
const cfg = () => tinyLlama({ vocab_size: V, max_position_embeddings: 32 });
// A token stream with some structure (so the models have something to learn).
const stream = Int32Array.from({ length: 4000 }, (_, i) => (i * 7 + ((i >> 3) % 5)) % V);

// Few log and eval points: every readback is a chance for the Deno stall (README, Known issues).
const config = (distill: Record<string, unknown>, steps = 3) =>
  trainingConfig({
    run: { seed: 3 }, data: { blockSize: 16, batchSize: 4, maxEvalBlocks: 4 }, optimizer: { gradAccumulation: 2, lr: 1e-3 },
    distill: { loss: 'forwardKL', kdRatio: 0.5, ...distill }, train: { maxSteps: steps, logEvery: 3, evalEvery: 3 }, schedule: { type: 'constant' },
  });

async function params(m: CausalLM): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const p of m.parameters().values()) out.push((await p.data()) as Float32Array);
  return out;
}

test('GKD with λ = 0 is the off-policy step exactly; λ = 1 trains on student samples', async () => {
  await init();
  const teacher = createModel(cfg(), { seed: 1 });
  const run = async (distill: Record<string, unknown>) => {
    const c = config(distill);
    const student = createModel(cfg(), { seed: 5 });
    const obj = buildObjective({ distill: c.distill!, student: { vocabSize: V }, teachers: [{ kind: 'model', model: teacher, name: 't' }] });
    const onPolicy = onPolicyMethod(c, student, obj);
    const s = await train({ model: student, data: { train: stream, eval: stream.subarray(0, 400) }, config: c, distill: obj, onPolicy });
    const w = await params(student);
    student.dispose();
    return { w, s, onPolicy };
  };
  const off = await run({});
  const g0 = await run({ method: 'gkd', loss: 'forwardKL', onPolicy: { lmbda: 0, promptLength: 4 } });
  assert.equal(g0.onPolicy!.stats.dataSteps, 3);
  assert.equal(g0.onPolicy!.stats.generation.calls, 0);
  off.w.forEach((a, i) => assert.deepEqual(g0.w[i], a, `parameter ${i} differs between off-policy and GKD λ = 0`));
  const g1 = await run({ method: 'gkd', onPolicy: { lmbda: 1, promptLength: 4 } });
  assert.equal(g1.onPolicy!.stats.generatedSteps, 3);
  assert.equal(g1.onPolicy!.stats.generation.calls, 3, 'one generation per window (2 micro-batches each)');
  assert.equal(g1.onPolicy!.stats.generation.tokens, 3 * 8 * 12);
  assert.ok(off.w.some((a, i) => a.some((x, j) => x !== g1.w[i]![j])), 'λ = 1 trains on other tokens');
  for (const r of g1.s.logged) assert.ok(Number.isFinite(r.loss), `loss ${r.loss}`);
  teacher.dispose();
});

test('generated windows keep the prompt, sample the rest, and the step counts continuation tokens only', async () => {
  await init();
  const student = createModel(cfg(), { seed: 5 });
  const teacher = createModel(cfg(), { seed: 1 });
  const mk = (row0: number, B: number): Batch => {
    const ids = new Int32Array(B * 16);
    for (let b = 0; b < B; b++) ids.set(stream.subarray((row0 + b) * 16, (row0 + b + 1) * 16), b * 16);
    return { ids, shape: [B, 16], blocks: new Uint32Array(B), starts: new Float64Array(B), next: { epoch: 0, position: 0 } };
  };
  const micro = [mk(0, 3), mk(3, 2)];
  const stats = newGenerationStats();
  const P = 5;
  const gen = await generateWindow(student, micro, { promptLength: P, temperature: 1, topP: 1 }, 7, stats);
  assert.deepEqual(gen.map((b) => b.shape), [[3, 16], [2, 16]]);
  assert.equal(stats.calls, 1);
  gen.forEach((b, i) => {
    for (let r = 0; r < b.shape[0]; r++) {
      assert.deepEqual(Array.from(b.ids.subarray(r * 16, r * 16 + P)), Array.from(micro[i]!.ids.subarray(r * 16, r * 16 + P)), 'the prompt is the data');
      for (let t = 0; t < 16; t++) assert.equal(b.labels![r * 16 + t], t >= P - 1 && t < 15 ? b.ids[r * 16 + t + 1] : -100);
    }
  });
  // CE of the step (kdRatio 0) against a float64 reference over the continuation positions only.
  const c = config({ kdRatio: 0 });
  const obj = buildObjective({ distill: c.distill!, student: { vocabSize: V }, teachers: [{ kind: 'model', model: teacher, name: 't' }] });
  const w = accumulateGradients({ model: student, micro: gen, kdRatio: 0, distill: obj });
  const ce = (await w.ce.data())[0]!;
  let sum = 0;
  let n = 0;
  for (const b of gen) {
    const logits = (await tidy(() => student.forward(tensor(b.ids, { shape: b.shape, dtype: 'i32' }))).data()) as Float32Array;
    for (let i = 0; i < b.shape[0] * 16; i++) {
      const y = b.labels![i]!;
      if (y === -100) continue;
      const row = logits.subarray(i * V, (i + 1) * V);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
      sum += lse - row[y]!;
      n++;
    }
  }
  assert.equal(n, 5 * (16 - P));
  assert.ok(Math.abs(ce - sum / n) < 1e-4, `CE over continuation tokens ${ce} vs reference ${sum / n}`);
  for (const t of [w.ce, w.total, w.kd]) t?.dispose();
  student.dispose();
  teacher.dispose();
});

test('MiniLLM estimator: its expectation over every sequence equals the exact gradient of the sequence reverse KL', async () => {
  await init();
  // Toy: vocabulary 3, prompt of 1 token, 3 sampled tokens: 27 sequences, enumerated.
  const toy = () => tinyLlama({ vocab_size: 3, hidden_size: 8, intermediate_size: 16, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 8 });
  const teacher = createModel(toy(), { seed: 11 });
  const seqs: number[] = [];
  for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < 3; c++) seqs.push(2, a, b, c);
  const B = 27;
  const T = 4;
  const labels = new Int32Array(B * T).fill(-100);
  for (let r = 0; r < B; r++) for (let t = 0; t < 3; t++) labels[r * T + t] = seqs[r * T + t + 1]!;
  const ids = tensor(Int32Array.from(seqs), { shape: [B, T], dtype: 'i32' });
  const idx = tensor(Int32Array.from(labels, (y) => Math.max(0, y)), { shape: [B, T, 1], dtype: 'i32' });
  const mask = tensor(Float32Array.from(labels, (y) => (y === -100 ? 0 : 1)), { shape: [B, T] });
  const tLogits = tidy(() => teacher.forward(ids).detach());
  // log q(y) of every sequence and its probability q(y) (they sum to 1).
  const seqLogProb = (logits: Tensor) => tidy(() => logits.logSoftmax(-1).gather(2, idx).reshape([B, T]).mul(mask).sum(-1)); // [B]
  const grads = async (m: CausalLM) => {
    const out: Float32Array[] = [];
    for (const p of m.parameters().values()) out.push((await p.grad!.data()) as Float32Array);
    return out;
  };
  const exact = createModel(toy(), { seed: 4 });
  // J = Σ_y q(y) Σ_t (log q(y_t) − log p(y_t)), differentiated through q(y) and the logs.
  tidy(() => {
    const lq = seqLogProb(exact.forward(ids));
    const lp = seqLogProb(tLogits);
    const J = lq.exp().mul(lq.sub(lp)).sum();
    J.backward();
  });
  const gExact = await grads(exact);
  const total = (await tidy(() => seqLogProb(exact.forward(ids)).exp().sum()).data())[0]!;
  assert.ok(Math.abs(total - 1) < 1e-5, `the 27 sequences hold probability ${total}`);
  const check = async (opts: Parameters<typeof minillmLoss>[3], expectEqual: boolean) => {
    const est = createModel(toy(), { seed: 4 });
    // E_{y~q}[∇surrogate(y)] = Σ_y q(y)·∇surrogate(y), q(y) held constant.
    tidy(() => {
      const logits = est.forward(ids);
      const qy = seqLogProb(logits).exp().detach();
      const { surrogate } = minillmLoss(logits, tLogits, labels, opts);
      surrogate.mul(qy).sum().backward();
    });
    const g = await grads(est);
    let maxDiff = 0;
    let scale = 0;
    g.forEach((a, i) => a.forEach((x, j) => {
      maxDiff = Math.max(maxDiff, Math.abs(x - gExact[i]![j]!));
      scale = Math.max(scale, Math.abs(gExact[i]![j]!));
    }));
    est.dispose();
    // f32 on 27 sequences: agreement to 1e-4 of the largest gradient entry.
    if (expectEqual) assert.ok(maxDiff <= 1e-4 * scale, `estimator vs exact gradient: max difference ${maxDiff}, largest entry ${scale}`);
    else assert.ok(maxDiff > 1e-3 * scale, `a biased setting must differ (difference ${maxDiff}, scale ${scale})`);
  };
  await check({ gamma: 1, lengthNorm: false }, true);
  // Length normalisation and discounting change the objective: the check can tell.
  await check({ gamma: 1, lengthNorm: true }, false);
  await check({ gamma: 0.5, lengthNorm: false }, false);
  for (const t of [ids, idx, mask, tLogits]) t.dispose();
  exact.dispose();
  teacher.dispose();
});

test('DistiLLM and MiniLLM train inside train(): the schedule, the replay buffer and teacher-mixed samples', async () => {
  await init();
  const teacher = createModel(cfg(), { seed: 1 });
  // DistiLLM with threshold 1: the first step fills the 8-row buffer, later steps generate or replay.
  {
    const c = config({ method: 'distillm', loss: 'skewForwardKL', onPolicy: { initThreshold: 1, capacity: 8, promptLength: 4 } }, 6);
    const student = createModel(cfg(), { seed: 5 });
    const obj = buildObjective({ distill: c.distill!, student: { vocabSize: V }, teachers: [{ kind: 'model', model: teacher, name: 't' }] });
    const m = onPolicyMethod(c, student, obj) as ReturnType<typeof distillm>;
    const s = await train({ model: student, data: { train: stream, eval: stream.subarray(0, 400) }, config: c, distill: obj, onPolicy: m });
    assert.equal(m.stats.generatedSteps + m.stats.replaySteps, 6);
    assert.ok(m.stats.generatedSteps >= 1 && m.stats.replaySteps >= 1, `generated ${m.stats.generatedSteps}, replayed ${m.stats.replaySteps}`);
    assert.equal(m.buffer.size, 8);
    for (const r of s.logged) assert.ok(Number.isFinite(r.loss));
    student.dispose();
  }
  {
    const c = config({ method: 'minillm', onPolicy: { promptLength: 4 } }, 2);
    const student = createModel(cfg(), { seed: 5 });
    const obj = buildObjective({ distill: c.distill!, student: { vocabSize: V }, teachers: [{ kind: 'model', model: teacher, name: 't' }] });
    const m = onPolicyMethod(c, student, obj)!;
    assert.equal(m.name, 'minillm');
    const s = await train({ model: student, data: { train: stream, eval: stream.subarray(0, 400) }, config: c, distill: obj, onPolicy: m });
    assert.equal(m.stats.generation.calls, 2);
    for (const r of s.logged) assert.ok(Number.isFinite(r.loss) && r.kd >= 0, `loss ${r.loss}, reverse KL ${r.kd}`);
    student.dispose();
  }
  // Errors before any step.
  const c = config({ method: 'gkd', onPolicy: { promptLength: 16 } });
  const student = createModel(cfg(), { seed: 5 });
  const obj = buildObjective({ distill: c.distill!, student: { vocabSize: V }, teachers: [{ kind: 'model', model: teacher, name: 't' }] });
  assert.throws(() => onPolicyMethod(c, student, obj), /distill\.onPolicy\.promptLength \(16\) must be below data\.blockSize \(16\)/);
  assert.throws(() => gkd(student, { lmbda: 2, promptLength: 4, temperature: 1, topP: 1, seed: 0 }), /lmbda/);
  assert.throws(() => minillm(student, createModel(tinyLlama({ vocab_size: 41 }), { seed: 1 }), { promptLength: 4, temperature: 1, topP: 1, seed: 0, mixAlpha: 0.2, ptLoss: true }), /vocabulary/);
  student.dispose();
  teacher.dispose();
});
