/**
 * The evaluators end to end on tiny random models: query metrics with greedy generation and the
 * model's own embeddings, minimal pairs and multiple choice through the model scorer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { init } from '@kdgpu/tensor';
import { createModel, generate, tinyGPT2, tinyLlama } from '@kdgpu/models';
import { trainBpe } from '@kdgpu/tokenizer';
import { modelScorer } from '../src/eval-loglik.ts';
import { evaluateMinimalPairs, parseMinimalPairs } from '../src/eval-minimal-pairs.ts';
import { evaluateMultipleChoice, parseMultipleChoice } from '../src/eval-multiple-choice.ts';
import { evaluateQueries, generateContinuations, modelEmbedder, parseQueries, scoreResponses } from '../src/eval-queries.ts';

const data = (f: string) => readFileSync(new URL(`../data/${f}`, import.meta.url), 'utf8');

async function tokenizer() {
  const text = [data('minimal-pairs.jsonl'), data('multiple-choice.jsonl'), data('queries.jsonl')].join('\n');
  return await trainBpe([text], { vocabSize: 300, showProgress: false });
}

test('modelEmbedder: identical texts have cosine 1, for LLaMA and GPT-2 embeddings', async () => {
  await init();
  const tok = await tokenizer();
  for (const cfg of [tinyLlama({ vocab_size: tok.vocabSize }), tinyGPT2({ vocab_size: tok.vocabSize })]) {
    const model = createModel(cfg, { seed: 2 });
    try {
      const [a, b, c, empty] = await modelEmbedder(model, tok)(['The capital of France is Paris.', 'The capital of France is Paris.', 'Bees make honey.', '']);
      assert.equal(a!.length, cfg.model_type === 'llama' ? cfg.hidden_size : cfg.n_embd);
      assert.deepEqual(a, b);
      const items = [{ query: 'q', keyword: 'Paris', reference: 'The capital of France is Paris.' }];
      const same = await scoreResponses(items, ['The capital of France is Paris.'], modelEmbedder(model, tok));
      assert.ok(Math.abs(same.items[0]!.cosine - 1) < 1e-9, `${cfg.model_type}: ${same.items[0]!.cosine}`);
      const other = await scoreResponses(items, ['Bees make honey.'], modelEmbedder(model, tok));
      assert.ok(other.items[0]!.cosine < 0.999);
      assert.ok(c!.some((x, i) => x !== a![i]));
      assert.ok(empty!.every((x) => x === 0));
    } finally {
      model.dispose();
    }
  }
});

test('evaluateQueries: greedy continuations as generate gives them, scored per item', async () => {
  await init();
  const tok = await tokenizer();
  const model = createModel(tinyLlama({ vocab_size: tok.vocabSize }), { seed: 3 });
  try {
    const items = parseQueries(data('queries.jsonl')).slice(0, 4);
    const r = await evaluateQueries(model, tok, items, { maxNewTokens: 4, eosTokenId: null, batchSize: 2 });
    assert.equal(r.n, 4);
    for (let i = 0; i < items.length; i++) {
      const it = r.items[i]!;
      const prompt = tok.encode(items[i]!.query, { addSpecialTokens: false }).ids;
      const want = await generate(model, prompt, { maxNewTokens: 4, temperature: 0, eosTokenId: null });
      assert.deepEqual(it.tokens, want.tokens[0], `query ${i}`);
      assert.equal(it.continuation, tok.decode(it.tokens));
      assert.ok(it.cosine >= -1 && it.cosine <= 1 && it.rougeL.f >= 0 && it.rougeL.f <= 1);
    }
    assert.equal(r.em, r.items.reduce((a, i) => a + i.em, 0) / 4);
    // An end-of-sequence token ends the continuation and is dropped.
    const first = r.items[0]!.tokens[0]!;
    const cut = await generateContinuations(model, tok, [items[0]!.query], { maxNewTokens: 4, eosTokenId: first });
    assert.deepEqual(cut.tokens[0], []);
    await assert.rejects(generateContinuations(model, tok, ['x'], { maxNewTokens: 64 }), /maxNewTokens/);
  } finally {
    model.dispose();
  }
});

test('minimal pairs and multiple choice run through the model scorer', async () => {
  await init();
  const tok = await tokenizer();
  const model = createModel(tinyLlama({ vocab_size: tok.vocabSize }), { seed: 4 });
  try {
    const scorer = modelScorer(model, tok, { batchSize: 8 });
    const pairs = parseMinimalPairs(data('minimal-pairs.jsonl')).filter((_, i) => i % 10 === 0); // one per phenomenon
    const mp = await evaluateMinimalPairs(scorer, pairs);
    assert.equal(mp.groups.length, 8);
    assert.ok(mp.items.every((i) => i.good < 0 && i.bad < 0));
    assert.ok(mp.mean >= 0 && mp.mean <= 1);
    const mc = await evaluateMultipleChoice(scorer, parseMultipleChoice(data('multiple-choice.jsonl')).slice(0, 4));
    assert.equal(mc.n, 4);
    assert.ok(mc.items.every((i) => i.loglik.every((l) => l < 0)));
  } finally {
    model.dispose();
  }
});
