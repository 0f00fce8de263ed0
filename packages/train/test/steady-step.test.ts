/**
 * A steady training step creates nothing: after a few warm-up steps, 20 distillation steps of a
 * student from two teachers (LLaMA and GPT-2), with a log-point readback every 10 steps as the
 * trainer does, create no GPU buffers, bind groups or pipelines (engineStats). Creations cost
 * ~130 µs each on lavapipe and used to run at 100+ per step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engineStats, init, nn } from '@kdgpu/tensor';
import { createLoss } from '@kdgpu/losses';
import { createModel, tinyGPT2, tinyLlama } from '@kdgpu/models';
import { type Batch, disposeAccumulators, newAccumulators, readSums, trainStep } from '../src/index.ts';



test('20 steady distillation steps with two teachers create no buffers, bind groups or pipelines', async () => {
  await init();
  const V = 64;
  const [B, T] = [4, 16];
  const student = createModel(tinyLlama({ vocab_size: V }), { seed: 1 });
  const teachers = [createModel(tinyLlama({ vocab_size: V, hidden_size: 48 }), { seed: 2 }), createModel(tinyGPT2({ vocab_size: V }), { seed: 3 })];
  const opt = new nn.AdamW([...student.parameters().values()], { lr: 1e-3, weightDecay: 0.1 });
  const acc = newAccumulators();
  const loss = createLoss('forwardKL', { temperature: 2, reduction: 'none' });
  const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 37 + 5) % V);
  const batch: Batch = { ids, shape: [B, T], blocks: new Uint32Array(B), starts: new Float64Array(B), next: { epoch: 0, position: 0 } };
  const step = () =>
    trainStep({ model: student, optimizer: opt, micro: [batch], kdRatio: 0.5, distill: { loss, teachers: { kind: 'models', models: teachers }, reduction: 'batchmean' }, clipGradNorm: 1, acc });
  try {
    for (let i = 0; i < 4; i++) step();
    await readSums(acc);
    const before = engineStats();
    for (let i = 1; i <= 20; i++) {
      step();
      if (i % 10 === 0) await readSums(acc);
    }
    const after = engineStats();
    const made = {
      buffers: after.buffersCreated - before.buffersCreated,
      bindGroups: after.bindGroupsCreated - before.bindGroupsCreated,
      pipelines: after.pipelinesCreated - before.pipelinesCreated,
    };
    assert.ok(after.dispatches - before.dispatches > 20 * 100, 'the steps ran');
    assert.deepEqual(made, { buffers: 0, bindGroups: 0, pipelines: 0 });
    const sums = await readSums(acc);
    assert.equal(sums.steps, 24);
    assert.ok(Number.isFinite(sums.loss) && sums.loss > 0);
  } finally {
    for (const m of [student, ...teachers]) m.dispose();
    opt.dispose();
    disposeAccumulators(acc);
  }
});
