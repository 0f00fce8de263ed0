/**
 * Fuzzing `tokenizer.json` (tokenizerFromJson): mutated files either load into a tokenizer that
 * encodes and decodes, or fail with a TokenizerJsonError naming the field; deep nesting and
 * prototype keys are refused or harmless.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { babyLlamaTokenizerOptions, tokenizerFromJson, TokenizerJsonError, trainBpe } from '@kdgpu/tokenizer';
import { assertCoverage, fuzz, mutateJson, mutateJsonText, summary } from './fuzz.ts';

const fixture = (name: string) => readFileSync(new URL(`../../packages/tokenizer/test/fixtures/${name}`, import.meta.url), 'utf8');
const TEXT = 'Hello, world! Ünïcödé — 123 <s> tokens';

/** Two base files: the Baby Llama layout (normalizer, template post-processor, added tokens), and HF's oracle file. */
async function bases(): Promise<string[]> {
  const corpus = fixture('fortunes-sample.txt').slice(0, 20_000);
  const tok = await trainBpe([corpus], { ...babyLlamaTokenizerOptions({ vocabSize: 300, showProgress: false }) });
  return [tok.serialize(false), fixture('oracle-unicode-tokenizer.json')];
}

const isOwnError = (e: Error) => (e instanceof TokenizerJsonError || e.message.startsWith('tokenizer.json: ')) && !(e instanceof assert.AssertionError);

test('tokenizer.json: mutated files load and encode, or fail naming the field', async () => {
  const files = await bases();
  const parsed = files.map((f) => JSON.parse(f));
  const rep = await fuzz('tokenizer.json', {
    input: (r) => {
      const i = r.int(files.length);
      switch (r.int(3)) {
        case 0: return mutateJsonText(files[i]!, r);
        case 1: return JSON.stringify(mutateJson(parsed[i], r));
        default: return mutateJson(parsed[i], r, true) as object; // a parsed object may hold NaN/Infinity
      }
    },
    run: (input) => {
      const tok = tokenizerFromJson(input as string | object);
      // A tokenizer that loads must work: encode, decode, and serialize back to a loadable file.
      const enc = tok.encode(TEXT);
      assert.equal(typeof tok.decode(enc.ids), 'string');
      tokenizerFromJson(tok.serialize(false));
    },
    expected: isOwnError,
    sizeOf: (i) => (typeof i === 'string' ? i.length : 40_000),
  });
  console.log(summary('tokenizer.json', rep));
  assertCoverage(rep);
});

test('tokenizer.json: nesting deeper than any real file is refused with a clear error', () => {
  let normalizer: unknown = { type: 'Lowercase' };
  for (let i = 0; i < 100_000; i++) normalizer = { type: 'Sequence', normalizers: [normalizer] };
  const file = { model: { type: 'BPE', vocab: { a: 0 }, merges: [] }, normalizer };
  assert.throws(() => tokenizerFromJson(file), (e: Error) => e instanceof TokenizerJsonError && /nested more than \d+ levels deep/.test(e.message));
  const text = `{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"decoder":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
  assert.throws(() => tokenizerFromJson(text), TokenizerJsonError);
});

test('tokenizer.json: prototype keys are vocabulary entries, nothing more', () => {
  const text = '{"model":{"type":"BPE","vocab":{"__proto__":0,"constructor":1,"a":2},"merges":[]},"__proto__":{"polluted":true}}';
  const tok = tokenizerFromJson(text);
  assert.equal(tok.tokenToId('__proto__'), 0);
  assert.equal(tok.tokenToId('constructor'), 1);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('tokenizer.json: error messages stay short when a field holds a huge key', () => {
  const key = 'k'.repeat(1_000_000);
  assert.throws(() => tokenizerFromJson({ model: { type: 'BPE', vocab: { [key]: -1 }, merges: [] } }), (err: Error) => {
    assert.ok(err instanceof TokenizerJsonError);
    assert.ok(err.message.length < 1000, `message of ${err.message.length} chars`);
    assert.match(err.message, /^tokenizer\.json: model\.vocab\["kkk.*: expected a non-negative integer, found number -1$/);
    return true;
  });
});
