/**
 * The CPU building blocks of on-policy distillation: prompt/continuation labels, DistiLLM's replay
 * buffer and adaptive schedule (packages/train/src/on-policy/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveSgoSchedule, type Batch, continuationBatch, continuationLabels, promptsOf, ReplayBuffer, splitRows } from '../src/index.ts';
import { mulberry32 } from '../src/random.ts';

const batchOf = (ids: number[], shape: [number, number]): Batch => ({
  ids: Int32Array.from(ids), shape, blocks: new Uint32Array(shape[0]), starts: new Float64Array(shape[0]), next: { epoch: 0, position: shape[0] },
});

test('continuation labels: -100 wherever the predicted token is in the prompt or past the valid length', () => {
  const ids = Int32Array.from([10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25]);
  // P = 2: position t predicts ids[t + 1]; t = 0 predicts a prompt token, t = 5 has no next token.
  assert.deepEqual(Array.from(continuationLabels(ids, [2, 6], 2)), [-100, 12, 13, 14, 15, -100, -100, 22, 23, 24, 25, -100]);
  // Row 0 keeps 2 continuation tokens (e.g. up to an end-of-sequence), row 1 all 4.
  assert.deepEqual(Array.from(continuationLabels(ids, [2, 6], 2, [2, 4])), [-100, 12, 13, -100, -100, -100, -100, 22, 23, 24, 25, -100]);
  // P = 1: every next token is a continuation token.
  assert.deepEqual(Array.from(continuationLabels(ids.subarray(0, 6), [1, 6], 1)), [11, 12, 13, 14, 15, -100]);
  const b = batchOf([...ids], [2, 6]);
  assert.deepEqual(Array.from(promptsOf(b, 2)), [10, 11, 20, 21]);
  assert.throws(() => promptsOf(b, 6), /promptLength must be an integer in 1\.\.5/);
  assert.throws(() => promptsOf(b, 0), /promptLength/);
  const c = continuationBatch(ids, [2, 6], 3, b);
  assert.deepEqual(Array.from(c.labels!), [-100, -100, 13, 14, 15, -100, -100, -100, 23, 24, 25, -100]);
  const parts = splitRows(Int32Array.from([...ids, 30, 31, 32, 33, 34, 35]), 6, [b, batchOf([30, 31, 32, 33, 34, 35], [1, 6])]);
  assert.deepEqual(parts.map((p) => p.shape), [[2, 6], [1, 6]]);
  assert.deepEqual(Array.from(parts[1]!.ids), [30, 31, 32, 33, 34, 35]);
});

test('replay buffer: FIFO past capacity, samples rows without replacement with their labels', () => {
  const buf = new ReplayBuffer(4);
  const rows = (first: number, n: number) => continuationBatch(Int32Array.from({ length: n * 3 }, (_, i) => first * 100 + i), [n, 3], 1, batchOf(new Array(n * 3).fill(0), [n, 3]));
  buf.push(rows(1, 3));
  assert.equal(buf.size, 3);
  assert.equal(buf.full, false);
  buf.push(rows(2, 3)); // 6 rows pushed: the 2 oldest go
  assert.equal(buf.size, 4);
  assert.equal(buf.full, true);
  const rng = mulberry32(5);
  const like = batchOf(new Array(12).fill(0), [4, 3]);
  const s = buf.sample(4, rng, like);
  assert.deepEqual(s.shape, [4, 3]);
  const firsts = [0, 1, 2, 3].map((r) => s.ids[r * 3]!).sort((a, b) => a - b);
  assert.deepEqual(firsts, [106, 200, 203, 206], 'the four newest rows, each once');
  for (let r = 0; r < 4; r++) {
    assert.equal(s.labels![r * 3], s.ids[r * 3 + 1], 'labels travel with their row');
    assert.equal(s.labels![r * 3 + 2], -100);
  }
  assert.equal(buf.sample(9, rng, like).shape[0], 4, 'at most what it holds');
  // Uniform over rows: each of the 4 rows drawn about 1/4 of the time in samples of 1.
  const counts = new Map<number, number>();
  for (let i = 0; i < 4000; i++) {
    const id = buf.sample(1, rng, like).ids[0]!;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  for (const c of counts.values()) assert.ok(Math.abs(c / 4000 - 0.25) < 0.03, `row frequency ${c / 4000}`);
  assert.throws(() => new ReplayBuffer(4).sample(1, rng, like), /empty/);
  assert.throws(() => new ReplayBuffer(0), /capacity/);
});

test("adaptive SGO schedule: DistiLLM's threshold rule and per-step choice", () => {
  const s = new AdaptiveSgoSchedule();
  assert.equal(s.threshold, 0);
  for (const r of [0, 0.5, 0.99]) assert.equal(s.choose(r, 0, 100, false), 'data', 'threshold 0: always the data');
  assert.equal(s.observe(2.0), false, 'the first loss is the reference');
  assert.equal(s.observe(2.09), false, 'below reference + lossEps');
  assert.equal(s.observe(1.5), false, 'an improvement');
  assert.equal(s.observe(2.1), true, 'reference 2.0 + 0.1 reached');
  assert.ok(Math.abs(s.threshold - 0.1) < 1e-12);
  assert.equal(s.observe(2.15), false, 'the reference moved to 2.1');
  assert.equal(s.observe(2.2), true);
  assert.ok(Math.abs(s.threshold - 0.2) < 1e-12);
  for (let i = 0; i < 20; i++) s.observe(3 + i);
  assert.equal(s.threshold, 1, 'capped at 1');

  const t = new AdaptiveSgoSchedule({ initThreshold: 0.5 });
  // At step 50 of 100 the fresh-generation threshold is 0.5·(1 − 0.5) = 0.25.
  assert.equal(t.choose(0.2, 50, 100, true), 'generate');
  assert.equal(t.choose(0.3, 50, 100, false), 'generate', 'fills the buffer first');
  assert.equal(t.choose(0.3, 50, 100, true), 'replay');
  assert.equal(t.choose(0.6, 50, 100, true), 'data');
  assert.equal(t.choose(0.3, 0, 100, true), 'generate', 'at the start the whole threshold generates');
  assert.throws(() => new AdaptiveSgoSchedule({ initThreshold: 1.5 }), /initThreshold/);
});
