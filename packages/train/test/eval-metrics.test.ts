/**
 * The metric logic of the evaluators, without a model: acc / acc_norm and BLiMP scoring with a
 * stub scorer, ROUGE-L and keyword match on hand-computed examples, JSON Lines parsing and the
 * shipped data files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ContinuationScorer, LoglikRequest } from '../src/eval-loglik.ts';
import { parseJsonl } from '../src/eval-jsonl.ts';
import { argmaxFirst, charLength, evaluateMultipleChoice, parseMultipleChoice } from '../src/eval-multiple-choice.ts';
import { evaluateMinimalPairs, parseMinimalPairs } from '../src/eval-minimal-pairs.ts';
import { parseQueries, scoreResponses } from '../src/eval-queries.ts';
import { cosineSimilarity, keywordMatch, lcsLength, rougeL } from '../src/eval-text-metrics.ts';

const data = (f: string) => readFileSync(new URL(`../data/${f}`, import.meta.url), 'utf8');

/** A scorer that looks scores up by continuation, recording what it was asked. */
function stubScorer(table: Record<string, number>, seen: LoglikRequest[] = []): ContinuationScorer {
  return async (requests) => {
    seen.push(...requests);
    return requests.map((r) => {
      const v = table[r.continuation];
      if (v === undefined) throw new Error(`stub has no score for ${JSON.stringify(r.continuation)}`);
      return v;
    });
  };
}

test('argmaxFirst: the first maximum wins, NaN as np.argmax', () => {
  assert.equal(argmaxFirst([1, 3, 3]), 1);
  assert.equal(argmaxFirst([-2, -2]), 0);
  assert.equal(argmaxFirst([-Infinity, -5]), 1);
  assert.equal(argmaxFirst([0, NaN, 5]), 1);
  assert.throws(() => argmaxFirst([]), /empty/);
  assert.equal(charLength('café'), 4);
  assert.equal(charLength('😀a'), 2, 'code points, as Python len, not UTF-16 units');
});

test('multiple choice: acc takes the highest sum, acc_norm divides by the choice length in characters', async () => {
  // Choice "a" (1 char): -2 -> -2/char; "bbbb" (4 chars): -4 -> -1/char; "cc": -6 -> -3/char.
  const seen: LoglikRequest[] = [];
  const scorer = stubScorer({ ' a': -2, ' bbbb': -4, ' cc': -6, ' x': -1, ' y': -1 }, seen);
  const items = [
    { context: 'Q1:', choices: ['a', 'bbbb', 'cc'], gold: 0 },
    { context: 'Q2:', choices: ['a', 'bbbb', 'cc'], gold: 1 },
    { context: 'Q3:', choices: ['x', 'y'], gold: 1 }, // a tie goes to index 0
  ];
  const r = await evaluateMultipleChoice(scorer, items);
  assert.deepEqual(seen.slice(0, 3), [
    { context: 'Q1:', continuation: ' a' },
    { context: 'Q1:', continuation: ' bbbb' },
    { context: 'Q1:', continuation: ' cc' },
  ]);
  assert.deepEqual(r.items.map((i) => [i.pred, i.predNorm, i.acc, i.accNorm]), [
    [0, 1, 1, 0],
    [0, 1, 0, 1],
    [0, 0, 0, 0],
  ]);
  assert.deepEqual(r.items[0]!.loglik, [-2, -4, -6]);
  assert.equal(r.acc, 1 / 3);
  assert.equal(r.accNorm, 1 / 3);
  assert.equal(r.n, 3);
  const noDelim = await evaluateMultipleChoice(stubScorer({ a: -1, b: -2 }), [{ context: 'c', choices: ['a', 'b'], gold: 0 }], { targetDelimiter: '' });
  assert.equal(noDelim.acc, 1);
  await assert.rejects(evaluateMultipleChoice(scorer, []), /no items/);
  await assert.rejects(evaluateMultipleChoice(scorer, [{ context: 'c', choices: ['a'], gold: 1 }]), /gold/);
  await assert.rejects(evaluateMultipleChoice(scorer, [{ context: 'c', choices: ['a', ''], gold: 0 }]), /choices\[1\]/);
});

test('minimal pairs: empty context, " " + sentence, ties correct, accuracy per UID and the mean over UIDs', async () => {
  const seen: LoglikRequest[] = [];
  const scorer = stubScorer({ ' G1.': -5, ' B1.': -6, ' G2.': -7, ' B2.': -6, ' G3.': -3, ' B3.': -3, ' G4.': -1, ' B4.': -2 }, seen);
  const pairs = parseMinimalPairs(
    [
      '{"sentence_good": "G1.", "sentence_bad": "B1.", "UID": "agr", "field": "morphology", "linguistics_term": "agreement", "pair_id": 0}',
      '{"sentence_good": "G2.", "sentence_bad": "B2.", "UID": "agr"}',
      '{"sentence_good": "G3.", "sentence_bad": "B3.", "UID": "agr"}',
      '',
      '{"sentence_good": "G4.", "sentence_bad": "B4."}',
    ].join('\n'),
    'mine.jsonl',
  );
  assert.equal(pairs[0]!.field, 'morphology');
  const r = await evaluateMinimalPairs(scorer, pairs);
  assert.deepEqual(seen.slice(0, 2), [{ context: '', continuation: ' G1.' }, { context: '', continuation: ' B1.' }]);
  assert.deepEqual(r.items.map((i) => i.correct), [true, false, true, true], 'pair 3 is a tie: correct');
  assert.deepEqual(r.groups, [
    { name: 'agr', n: 3, correct: 2, accuracy: 2 / 3 },
    { name: 'mine.jsonl', n: 1, correct: 1, accuracy: 1 },
  ]);
  assert.equal(r.mean, (2 / 3 + 1) / 2);
  assert.equal(r.accuracy, 3 / 4);
  await assert.rejects(evaluateMinimalPairs(scorer, []), /no pairs/);
});

test('ROUGE-L and keyword match on hand-computed examples; cosine', () => {
  assert.equal(lcsLength(['a', 'b', 'c', 'd'], ['a', 'c', 'd', 'e']), 3);
  assert.equal(lcsLength([], ['a']), 0);
  // candidate 4 tokens, reference 6, LCS "is Paris." = 2 -> P 1/2, R 1/3, F 2/5.
  const r = rougeL(' is Paris. I think', 'The capital of France is Paris.');
  assert.equal(r.precision, 2 / 4);
  assert.equal(r.recall, 2 / 6);
  assert.ok(Math.abs(r.f - 0.4) < 1e-12);
  assert.deepEqual(rougeL('the cat', 'the cat'), { precision: 1, recall: 1, f: 1 });
  assert.deepEqual(rougeL('', 'the cat'), { precision: 0, recall: 0, f: 0 });
  assert.deepEqual(rougeL('dog', 'the cat'), { precision: 0, recall: 0, f: 0 });
  assert.equal(rougeL('Paris', 'paris').f, 0, 'case-sensitive');
  assert.equal(keywordMatch('Paris', ' Paris, of course.'), 1);
  assert.equal(keywordMatch('Paris', ' paris'), 0, 'case-sensitive');
  assert.equal(keywordMatch('Paris', ' London'), 0);
  assert.equal(cosineSimilarity([1, 2, 3], [2, 4, 6]), 1);
  assert.equal(cosineSimilarity([1, 0], [0, 1]), 0);
  assert.equal(cosineSimilarity([0, 0], [1, 1]), 0);
  assert.throws(() => cosineSimilarity([1], [1, 2]), /different lengths/);
});

test('scoreResponses: per-item scores and means, with a stub embedder', async () => {
  const items = [
    { query: 'The capital of France is', keyword: 'Paris', reference: 'The capital of France is Paris.' },
    { query: 'Bees make', keyword: 'honey', reference: 'Bees make honey.' },
  ];
  const embed = async (texts: readonly string[]) => texts.map((t) => [t.includes('Paris') ? 1 : 0, t.includes('honey') ? 1 : 0, 1]);
  const r = await scoreResponses(items, [' Paris.', ' bread.'], embed);
  assert.deepEqual(r.items.map((i) => i.em), [1, 0]);
  assert.equal(r.items[0]!.rougeL.precision, 1);
  assert.equal(r.items[0]!.rougeL.recall, 1 / 6);
  assert.equal(r.em, 0.5);
  assert.equal(r.items[0]!.cosine, 1);
  assert.ok(Math.abs(r.items[1]!.cosine - 1 / Math.sqrt(2)) < 1e-12);
  assert.equal(r.rougeL, (r.items[0]!.rougeL.f + 0) / 2);
  // includeQuery compares query + continuation.
  const q = await scoreResponses(items, [' Paris.', ' honey.'], embed, { includeQuery: true });
  assert.equal(q.items[1]!.rougeL.f, 1);
});

test('parseJsonl names the line; the shipped data files parse', () => {
  assert.throws(() => parseJsonl('{"a": 1}\n\n{"a": \n', 'x.jsonl'), /x\.jsonl:3: not valid JSON/);
  assert.throws(() => parseJsonl('[1]', 'x.jsonl'), /x\.jsonl:1: expected a JSON object/);
  assert.throws(() => parseMinimalPairs('{"sentence_good": "a"}', 'p.jsonl'), /p\.jsonl:1: field "sentence_bad" must be a string/);
  assert.throws(() => parseMultipleChoice('{"context": "c", "choices": ["a"], "gold": 2}', 'm.jsonl'), /m\.jsonl:1: "gold"/);
  assert.throws(() => parseQueries('\n{"query": "q", "keyword": "", "reference": "r"}', 'q.jsonl'), /q\.jsonl:2: field "keyword" is empty/);
  const pairs = parseMinimalPairs(data('minimal-pairs.jsonl'));
  const uids = new Set(pairs.map((p) => p.UID));
  assert.ok(pairs.length >= 60 && uids.size >= 6, `${pairs.length} pairs, ${uids.size} phenomena`);
  for (const p of pairs) assert.notEqual(p.sentence_good, p.sentence_bad);
  const mc = parseMultipleChoice(data('multiple-choice.jsonl'));
  assert.ok(mc.length >= 20);
  const qs = parseQueries(data('queries.jsonl'));
  assert.ok(qs.length >= 20);
  for (const q of qs) assert.equal(keywordMatch(q.keyword, q.reference), 1, q.reference);
});
