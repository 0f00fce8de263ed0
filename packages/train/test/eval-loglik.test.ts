/**
 * Continuation log-likelihoods: the harness' tokenization rule, and batched scoring on a tiny
 * random model against a direct computation (one forward of the whole sequence, log-softmax read
 * back, summed by hand).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { init, memoryStats, noGrad, tensor } from '@kdgpu/tensor';
import { type CausalLM, createModel, tinyLlama } from '@kdgpu/models';
import { trainBpe } from '@kdgpu/tokenizer';
import { encodePair, type EvalTokenizer, type LoglikRequest, scoreContinuations } from '../src/eval-loglik.ts';

const pairsText = readFileSync(new URL('../data/minimal-pairs.jsonl', import.meta.url), 'utf8');
const corpus = pairsText.split('\n').filter(Boolean).flatMap((l) => {
  const p = JSON.parse(l) as { sentence_good: string; sentence_bad: string };
  return [p.sentence_good, p.sentence_bad];
}).join('\n');

/** One id per UTF-16 unit: makes the split visible. */
const charTok: EvalTokenizer = {
  encode: (text) => ({ ids: Array.from(text, (c) => c.charCodeAt(0)) }),
  decode: (ids) => String.fromCharCode(...ids),
};

/** Greedy longest match over a fixed vocabulary, so "ab" is one token but "a" and "b" alone are two. */
function greedyTok(vocab: string[]): EvalTokenizer {
  return {
    encode(text) {
      const ids: number[] = [];
      for (let i = 0; i < text.length;) {
        let best = -1;
        vocab.forEach((v, id) => {
          if (text.startsWith(v, i) && (best < 0 || v.length > vocab[best]!.length)) best = id;
        });
        if (best < 0) throw new Error(`no token for ${text.slice(i)}`);
        ids.push(best);
        i += vocab[best]!.length;
      }
      return { ids };
    },
    decode: (ids) => ids.map((i) => vocab[i]).join(''),
  };
}

test('encodePair: trailing whitespace of the context moves to the continuation', () => {
  const sp = ' '.charCodeAt(0);
  assert.deepEqual(encodePair(charTok, 'ab  ', 'c'), { context: [97, 98], continuation: [sp, sp, 99] });
  assert.deepEqual(encodePair(charTok, 'ab\n', 'c'), { context: [97, 98], continuation: [10, 99] }, 'any whitespace, as str.rstrip()');
  assert.deepEqual(encodePair(charTok, 'ab', ' c'), { context: [97, 98], continuation: [sp, 99] });
  // Empty context: the prefix token, and the continuation encoded alone.
  assert.deepEqual(encodePair(charTok, '', ' c', 1), { context: [1], continuation: [sp, 99] });
  assert.deepEqual(encodePair(charTok, '  ', 'c', 1), { context: [1], continuation: [sp, sp, 99] });
  assert.throws(() => encodePair(charTok, '', 'c'), /prefix token/);
  // The whole text is encoded once and split at len(enc(context)): a merge across the boundary
  // belongs to the continuation.
  const g = greedyTok(['a', 'b', 'ab', 'c', ' ', ' c']);
  assert.deepEqual(encodePair(g, 'a', 'bc'), { context: [0], continuation: [3] }, '"abc" -> [ab, c]; the context had 1 token');
  assert.deepEqual(encodePair(g, 'ab ', 'c'), { context: [2], continuation: [5] }, '" c" is one token once the space moves');
});

test('encodePair with a BPE tokenizer equals enc(context + continuation) split at len(enc(context))', async () => {
  const tok = await trainBpe([corpus], { vocabSize: 300, showProgress: false });
  const enc = (s: string) => tok.encode(s, { addSpecialTokens: false }).ids;
  const p = encodePair(tok, 'The cat ', 'sleeps on the bed.');
  assert.deepEqual(p.context, enc('The cat'));
  assert.deepEqual(p.continuation, enc('The cat sleeps on the bed.').slice(enc('The cat').length));
  assert.equal(tok.decode(p.continuation), ' sleeps on the bed.');
});

/** log P(continuation | context) by one forward of the whole (window of the) sequence. */
async function direct(model: CausalLM, ctx: number[], cont: number[], maxLength = Infinity): Promise<number> {
  const whole = [...ctx, ...cont].slice(-(maxLength + 1));
  const input = whole.slice(0, -1);
  const V = model.config.vocab_size;
  const lp = noGrad(() => model.forward(tensor(Int32Array.from(input), { shape: [1, input.length], dtype: 'i32' })).logSoftmax(-1));
  const flat = await lp.data();
  lp.dispose();
  let s = 0;
  for (let t = whole.length - cont.length; t < whole.length; t++) s += flat[(t - 1) * V + whole[t]!]!;
  return s;
}

test('scoreContinuations equals a direct computation, batched or not, empty context and truncation included', async () => {
  await init();
  const tok = await trainBpe([corpus], { vocabSize: 300, showProgress: false });
  const model = createModel(tinyLlama({ vocab_size: tok.vocabSize, max_position_embeddings: 64 }), { seed: 1 });
  try {
    const requests: LoglikRequest[] = [
      { context: 'The dog', continuation: ' runs in the park.' },
      { context: '', continuation: ' The cat sleeps on the bed.' },
      { context: 'I bought these ', continuation: 'books.' },
      { context: 'Yesterday she went home. Then she saw a bird in the tree and it flew away.', continuation: ' He came home late.' },
      { context: 'There is', continuation: ' a cat' },
      { context: 'The dog', continuation: ' runs in the park.' }, // a repeat
    ];
    const one = await scoreContinuations(model, tok, requests, { batchSize: 1 });
    const live = memoryStats().liveTensors;
    const batched = await scoreContinuations(model, tok, requests, { batchSize: 4 });
    assert.equal(memoryStats().liveTensors, live, 'scoring frees what it creates');
    assert.equal(one.length, requests.length);
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      const p = encodePair(tok, r.context, r.continuation, model.config.bos_token_id!);
      const want = await direct(model, p.context, p.continuation);
      assert.ok(want < 0 && p.continuation.length > 0);
      assert.ok(Math.abs(one[i]! - want) < 1e-3, `request ${i}: one-by-one ${one[i]} vs direct ${want}`);
      assert.ok(Math.abs(batched[i]! - want) < 1e-3, `request ${i}: batched ${batched[i]} vs direct ${want}`);
    }
    assert.equal(one[5], one[0]);
    // The empty context conditions on BOS (id 1 in the config), or on bosId when given.
    const withBos7 = await scoreContinuations(model, tok, [requests[1]!], { bosId: 7 });
    const p7 = encodePair(tok, '', requests[1]!.continuation, 7);
    assert.ok(Math.abs(withBos7[0]! - (await direct(model, p7.context, p7.continuation))) < 1e-3);
    assert.notEqual(withBos7[0], one[1]);
    // A window shorter than the sequence drops its start (left truncation).
    const r = requests[3]!;
    const p = encodePair(tok, r.context, r.continuation);
    const short = 12;
    assert.ok(p.context.length + p.continuation.length > short + 1 && p.continuation.length <= short);
    const [cut] = await scoreContinuations(model, tok, [r], { maxLength: short });
    const want = await direct(model, p.context, p.continuation, short);
    assert.ok(Math.abs(cut! - want) < 1e-3, `truncated: ${cut} vs ${want}`);
    assert.notEqual(cut, one[3]);
    await assert.rejects(scoreContinuations(model, tok, [r], { maxLength: 2 }), /more than the model's window/);
    await assert.rejects(scoreContinuations(model, tok, [r], { batchSize: 0 }), /batchSize/);
  } finally {
    model.dispose();
  }
});
