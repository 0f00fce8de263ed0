/**
 * What train() refuses before its first step (ids the model cannot embed, a tokenizer larger than
 * the model's vocabulary), and how a non-finite loss ends a run: with a NonFiniteLossError naming
 * the step, never a "done" with a loss of 0 or a NaN validation loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, tensor } from '@kdgpu/tensor';
import { createModel, tinyLlama } from '@kdgpu/models';
import { NonFiniteLossError, train, trainingConfig } from '../src/index.ts';

const V = 40;
const ids = Int32Array.from({ length: 32 * 8 * 4 }, (_, i) => (i * 7 + (i >> 3)) % V);
const config = (train: Record<string, unknown>, optimizer: Record<string, unknown> = {}) =>
  trainingConfig({ run: { seed: 1 }, data: { blockSize: 16, batchSize: 4, maxEvalBlocks: 4 }, optimizer, schedule: { type: 'constant' }, train });
const model = () => createModel(tinyLlama({ vocab_size: V, max_position_embeddings: 32 }), { seed: 2 });

test('train() refuses, before any step, data the model cannot embed', async () => {
  await init();
  const m = model();
  let steps = 0;
  const c = config({ maxSteps: 2 });
  await assert.rejects(train({ model: m, data: { train: Int32Array.from(ids, (x) => (x === 5 ? V + 3 : x)) }, config: c, onStep: () => void steps++ }), /the training data holds token id 43, outside the model's vocabulary of 40/);
  await assert.rejects(train({ model: m, data: { train: ids }, tokenizer: { vocabSize: V + 10 }, config: c, onStep: () => void steps++ }), /the model has a vocabulary of 40, smaller than the 50 tokens of the tokenizer/);
  assert.equal(steps, 0);
  m.dispose();
});

test('a diverging run stops with an error naming the steps, not "done" with a loss of 0', async () => {
  await init();
  const m = model();
  // A learning rate this large sends the weights to ~1e30 after one step: every later loss overflows.
  const c = config({ maxSteps: 8, logEvery: 1, maxNonFiniteSteps: 2 }, { lr: 1e30, clipGradNorm: 0 });
  await assert.rejects(train({ model: m, data: { train: ids }, config: c }), (e: Error) => {
    assert.ok(e instanceof NonFiniteLossError, `${e.name}: ${e.message}`);
    assert.match(e.message, /^training stopped at step 3: steps 2-3 \(2 in a row\) had a non-finite loss or gradient/);
    assert.equal((e as NonFiniteLossError).step, 3);
    return true;
  });
  m.dispose();
});

test('a non-finite validation loss ends the run naming the step', async () => {
  await init();
  const m = model();
  const p = m.parameters().get('model.norm.weight')!;
  p.assign(tensor(new Float32Array(p.shape[0]).fill(NaN), { shape: p.shape }));
  const records: unknown[] = [];
  await assert.rejects(
    train({ model: m, data: { train: ids, eval: ids }, config: config({ maxSteps: 2, logEvery: 1 }), metrics: { write: (r) => void records.push(r), close: async () => {} } }),
    (e: Error) => e instanceof NonFiniteLossError && /^training stopped at step 2: the validation loss is NaN/.test(e.message),
  );
  // The logged training loss of skipped steps is NaN (shown as such), not 0.
  assert.ok(records.some((r) => (r as { split: string; loss: number }).split === 'train' && Number.isNaN((r as { loss: number }).loss)));
  m.dispose();
});
