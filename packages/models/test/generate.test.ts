import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init, memoryStats } from '@kdgpu/tensor';
import { generate, sampleToken, seededRandom, type TextCodec } from '@kdgpu/models';
import { loadModel } from '@kdgpu/models/node';
import { fixture } from './helpers.ts';

test('sampleToken: greedy, top-k, top-p and temperature', () => {
  const logits = Float32Array.from([1, 3, 2, 3, -1]);
  const rnd = seededRandom(1);
  assert.equal(sampleToken(logits, {}, rnd), 1, 'greedy takes the first maximum');
  for (let i = 0; i < 20; i++) assert.equal(sampleToken(logits, { temperature: 1, topK: 1 }, rnd), 1);
  for (let i = 0; i < 20; i++) assert.equal(sampleToken(logits, { temperature: 1, topP: 0.01 }, rnd), 1);
  // top-k 2 keeps ids 1 and 3 (tied at 3) with equal probability.
  const seen = new Set<number>();
  for (let i = 0; i < 100; i++) seen.add(sampleToken(logits, { temperature: 1, topK: 2 }, rnd));
  assert.deepEqual([...seen].sort(), [1, 3]);
  // At temperature 1 the frequencies follow softmax(logits).
  const counts = new Array(5).fill(0);
  const r2 = seededRandom(7);
  for (let i = 0; i < 20000; i++) counts[sampleToken(logits, { temperature: 1 }, r2)]++;
  const z = [...logits].reduce((a, l) => a + Math.exp(l), 0);
  counts.forEach((c, i) => assert.ok(Math.abs(c / 20000 - Math.exp(logits[i]) / z) < 0.015, `token ${i}: ${c / 20000}`));
  assert.throws(() => sampleToken(logits, { temperature: -1 }, rnd), /temperature/);
  assert.throws(() => sampleToken(logits, { temperature: 1, topP: 0 }, rnd), /topP/);
  const a = seededRandom(42);
  const b = seededRandom(42);
  for (let i = 0; i < 5; i++) assert.equal(a(), b());
});

test('sampled generation is reproducible by seed, with or without the KV cache', async () => {
  await init();
  const model = await loadModel(fixture('tiny-llama'));
  try {
    const opts = { maxNewTokens: 10, temperature: 1.0, topK: 20, topP: 0.95, seed: 123, eosTokenId: null };
    await generate(model, [[5, 6, 7]], { maxNewTokens: 2 }); // builds the rotary table the model keeps
    const live = memoryStats().liveTensors;
    const a = await generate(model, [[5, 6, 7], [8, 9, 10]], opts);
    const b = await generate(model, [[5, 6, 7], [8, 9, 10]], opts);
    const c = await generate(model, [[5, 6, 7], [8, 9, 10]], { ...opts, useCache: false });
    const d = await generate(model, [[5, 6, 7], [8, 9, 10]], { ...opts, seed: 124 });
    assert.deepEqual(a.tokens, b.tokens);
    assert.deepEqual(a.tokens, c.tokens);
    assert.notDeepEqual(a.tokens, d.tokens);
    assert.equal(a.tokens[0].length, 10);
    assert.deepEqual(a.sequences[1].slice(0, 3), [8, 9, 10]);
    assert.equal(memoryStats().liveTensors, live, 'generate frees everything it creates, the KV cache included');
  } finally {
    model.dispose();
  }
});

test('generation stops at the end-of-sequence token, per row', async () => {
  await init();
  const model = await loadModel(fixture('tiny-gpt2'));
  try {
    const free = await generate(model, [[3, 4], [9, 1]], { maxNewTokens: 6, eosTokenId: null });
    const stopAt = free.tokens[0][2];
    const stopped = await generate(model, [[3, 4], [9, 1]], { maxNewTokens: 6, eosTokenId: stopAt });
    const cut = (row: number[]) => (row.includes(stopAt) ? row.slice(0, row.indexOf(stopAt) + 1) : row);
    assert.deepEqual(stopped.tokens, free.tokens.map(cut));
    assert.ok(stopped.tokens[0].length <= 3);
  } finally {
    model.dispose();
  }
});

test('generation accepts any tokenizer with encode/decode and streams tokens', async () => {
  await init();
  const model = await loadModel(fixture('tiny-llama'));
  // A toy character tokenizer: 'a'..'z' <-> 3..28.
  const codec: TextCodec = {
    encode: (text) => ({ ids: [...text].map((ch) => (ch.charCodeAt(0) - 97 + 26) % 26 + 3) }),
    decode: (ids) => ids.map((id) => String.fromCharCode(97 + ((id - 3 + 67) % 67) % 26)).join(''),
  };
  try {
    const events: Array<{ step: number; id: number; text?: string }> = [];
    const out = await generate(model, codec, { prompt: 'hello', maxNewTokens: 5, eosTokenId: null, onToken: (e) => void events.push(e) });
    assert.equal(events.length, 5);
    assert.deepEqual(events.map((e) => e.id), out.tokens[0]);
    assert.equal(events.map((e) => e.text).join(''), out.text![0]);
    assert.deepEqual(out.sequences[0].slice(0, 5), [...codec.encode('hello').ids]);
    assert.ok(out.timing.prefillMs > 0);
    await assert.rejects(generate(model, codec, { maxNewTokens: 1 }), /pass opts.prompt/);
    await assert.rejects(generate(model, [[1, 2], [3]], { maxNewTokens: 1 }), /equal lengths/);
    await assert.rejects(generate(model, [], { maxNewTokens: 1 }), /prompt is empty/);
  } finally {
    model.dispose();
  }
});
