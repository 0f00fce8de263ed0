import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init, memoryStats, tensor } from '@kdgpu/tensor';
import { continuationLengths, cumsumLast, decodeOnDevice, generate, generateBatch, sampleOnDevice } from '@kdgpu/models';
import { loadModel } from '@kdgpu/models/node';
import { fixture } from './helpers.ts';

test('cumsumLast: inclusive prefix sums along the last axis (float64 reference)', async () => {
  await init();
  for (const V of [1, 2, 5, 16, 37]) {
    const x = Array.from({ length: 3 * V }, (_, i) => Math.sin(i * 1.7) + 0.5);
    const y = await cumsumLast(tensor(Float32Array.from(x), { shape: [3, V] })).toArray() as number[][];
    for (let b = 0; b < 3; b++) {
      let s = 0;
      for (let v = 0; v < V; v++) {
        s += x[b * V + v];
        assert.ok(Math.abs(y[b][v] - s) < 1e-5, `V=${V} [${b}, ${v}]: ${y[b][v]} vs ${s}`);
      }
    }
  }
});

test('sampleOnDevice: frequencies follow softmax(z/τ); top-p keeps only the nucleus; greedy is argmax', async () => {
  await init();
  const row = [1, 3, 2, 3, -1, 0.5];
  const R = 4096;
  const logits = tensor(Float32Array.from({ length: R * row.length }, (_, i) => row[i % row.length]), { shape: [R, row.length] });
  for (const tau of [1, 0.7]) {
    const ids = Array.from(await sampleOnDevice(logits, { temperature: tau }, 11).data());
    const z = row.reduce((a, l) => a + Math.exp(l / tau), 0);
    const counts = new Array(row.length).fill(0);
    for (const id of ids) counts[id]++;
    // 4096 draws: a standard error of at most 0.008 per frequency; 0.03 is ~4 sigma.
    counts.forEach((c, i) => assert.ok(Math.abs(c / R - Math.exp(row[i] / tau) / z) < 0.03, `τ=${tau} token ${i}: ${c / R} vs ${Math.exp(row[i] / tau) / z}`));
  }
  // Probabilities at τ = 1: ids 1 and 3 hold 0.384 each, id 2 0.141: top-p 0.5 keeps {1, 3}, 0.8 adds 2.
  const p50 = new Set(await sampleOnDevice(logits, { temperature: 1, topP: 0.5 }, 3).data());
  assert.deepEqual([...p50].sort(), [1, 3]);
  const p65 = new Set(await sampleOnDevice(logits, { temperature: 1, topP: 0.8 }, 3).data());
  assert.deepEqual([...p65].sort(), [1, 2, 3]);
  const greedy = new Set(await sampleOnDevice(logits, { temperature: 0 }, 3).data());
  assert.deepEqual([...greedy], [1], 'greedy takes the first maximum');
  assert.throws(() => sampleOnDevice(logits, { topP: 0 }, 1), /topP/);
  assert.throws(() => sampleOnDevice(logits, { temperature: -1 }, 1), /temperature/);
  logits.dispose();
});

test('decodeOnDevice: greedy equals generate(); sampling is seeded; one readback; no leak', async () => {
  await init();
  const model = await loadModel(fixture('tiny-llama'));
  try {
    const prompts = [[5, 6, 7], [8, 9, 10], [1, 2, 3]];
    await generate(model, prompts, { maxNewTokens: 2 }); // builds the rotary table the model keeps
    const ref = await generate(model, prompts, { maxNewTokens: 6, eosTokenId: null });
    const live = memoryStats().liveTensors;
    const flat = Int32Array.from(prompts.flat());
    const g = await generateBatch(model, flat, [3, 3], { maxNewTokens: 6, temperature: 0 });
    assert.deepEqual(g.shape, [3, 9]);
    for (let b = 0; b < 3; b++) assert.deepEqual(Array.from(g.ids.subarray(b * 9, b * 9 + 9)), ref.sequences[b]);
    const s1 = await generateBatch(model, flat, [3, 3], { maxNewTokens: 6, temperature: 1, topP: 0.9, seed: 5 });
    const s2 = await generateBatch(model, flat, [3, 3], { maxNewTokens: 6, temperature: 1, topP: 0.9, seed: 5 });
    const s3 = await generateBatch(model, flat, [3, 3], { maxNewTokens: 6, temperature: 1, topP: 0.9, seed: 6 });
    assert.deepEqual(s1.ids, s2.ids);
    assert.notDeepEqual(s1.ids, s3.ids);
    assert.equal(memoryStats().liveTensors, live, 'decoding leaves no live tensors');
    // Mixing with itself (any α) samples the same distribution; α = 0 is exactly the plain draw.
    const m0 = await generateBatch(model, flat, [3, 3], { maxNewTokens: 6, temperature: 1, seed: 5, mix: { model, alpha: 0 } });
    const plain = await generateBatch(model, flat, [3, 3], { maxNewTokens: 6, temperature: 1, seed: 5 });
    let same = 0;
    for (let i = 0; i < m0.ids.length; i++) same += m0.ids[i] === plain.ids[i] ? 1 : 0;
    assert.ok(same >= m0.ids.length - 2, `α = 0 mixing draws the student's tokens (${same}/${m0.ids.length} equal; f32 rounding of log-softmax may flip a near-tie)`);
    // eos: after the first eos a row keeps emitting it.
    const first = g.ids[3]; // row 0's first new token under greedy
    const e = await generateBatch(model, flat, [3, 3], { maxNewTokens: 6, temperature: 0, eosTokenId: first });
    assert.deepEqual(Array.from(e.ids.subarray(3, 9)), new Array(6).fill(first));
    assert.deepEqual(continuationLengths(e.ids, [3, 9], 3, first)[0], 1);
    assert.throws(() => decodeOnDevice(model, tensor([[1, 2]], { dtype: 'i32' }), { maxNewTokens: 100000 }), /positions/);
  } finally {
    model.dispose();
  }
});
