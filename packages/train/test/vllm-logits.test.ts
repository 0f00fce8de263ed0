/**
 * The vLLM `prompt_logprobs` reader on fixtures written to the documented response layout (no vLLM
 * ran here; fixtures/vllm/make-fixtures.ts writes them from a seeded synthetic teacher, whose
 * numbers the test recomputes): conversion into a sparse file, both line layouts, and the refusals
 * (another tokenizer, other data or order, missing fields, a non-τ=1 server).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tokenizerFromJson } from '@kdgpu/tokenizer';
import { tokenizerKey } from '../src/objective.ts';
import { tokensKey } from '../src/offline-logits-node.ts';
import { LOGPROB_STEP } from '../src/sparse-logits.ts';
import { SparseLogitsFile } from '../src/sparse-logits-node.ts';
import { parseVllmLine, vllmBlock } from '../src/vllm-logits.ts';
import { convertVllmLogits, writeVllmRequests } from '../src/vllm-logits-node.ts';
import { BLOCKS, fixtureTokens, K, T, teacherLogProbs } from './fixtures/vllm/make-fixtures.ts';

const fx = (f: string) => fileURLToPath(new URL(`./fixtures/vllm/${f}`, import.meta.url));
const tok = tokenizerFromJson(fs.readFileSync(fx('tokenizer.json'), 'utf8'));
const V = 300;
const dir = fs.mkdtempSync(join(tmpdir(), 'kdgpu-vllm-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function stream(extra = 0): Promise<Int32Array> {
  // The fixture's blocks, plus `extra` tokens so that the stream has exactly BLOCKS blocks and the token after the last.
  return Int32Array.from((await fixtureTokens(tok)).slice(0, BLOCKS * T + 1 + extra));
}

async function convert(file: string, out: string, tokens?: Int32Array, topK = K) {
  const ids = tokens ?? (await stream());
  return convertVllmLogits(fx(file), ids, out, { blockSize: T, topK, vocabSize: V, tokenizer: tok, tokensKey: tokensKey(ids), tokenizerKey: tokenizerKey(tok), journalEvery: 0 });
}

test('vLLM responses become a sparse file: the top-k of each position as the server listed them, the tail 1 - their mass', async () => {
  for (const file of ['responses.jsonl', 'run-batch.jsonl']) {
    const out = join(dir, `${file}.sl`);
    const footer = await convert(file, out);
    assert.equal(footer.source, 'vllm');
    assert.equal(footer.records.length, BLOCKS);
    const f = new SparseLogitsFile(out);
    try {
      for (let b = 0; b < BLOCKS; b++) {
        const blk = f.block(b);
        for (let t = 0; t < T; t++) {
          // Position t of the block predicts prompt token t + 1: the teacher's distribution there.
          const lp = teacherLogProbs(b, t + 1, V);
          const order = lp.map((_, v) => v).sort((x, y) => lp[y]! - lp[x]! || x - y);
          assert.equal(blk.counts[t], K, `${file} block ${b} position ${t}`);
          assert.deepEqual(Array.from(blk.ids.subarray(t * K, (t + 1) * K)), order.slice(0, K), 'the K most likely, most likely first (the prompt token, listed beyond the top k, is dropped)');
          for (let j = 0; j < K; j++) assert.ok(Math.abs(blk.logProbs[t * K + j]! - lp[order[j]!]!) <= LOGPROB_STEP / 2 + 1e-6);
          const rest = order.slice(K).reduce((a, v) => a + Math.exp(lp[v]!), 0);
          assert.ok(Math.abs(blk.tail[t]! - Math.log(rest)) <= LOGPROB_STEP / 2 + 1e-5, `tail ${blk.tail[t]} vs ${Math.log(rest)}`);
        }
      }
    } finally {
      f.close();
    }
  }
});

test('a server with another tokenizer is refused, naming the line, the position, both texts and the fix', async () => {
  await assert.rejects(
    convert('other-tokenizer.jsonl', join(dir, 'other.sl')),
    /vllm logits: .*other-tokenizer\.jsonl line \d+: position \d+: the server decodes token id \d+ as ".*", kdgpu's tokenizer as ".*": the teacher's tokenizer is not the student's.*use the teacher's tokenizer\.json as tokenizer\.path/,
  );
  assert.ok(!fs.existsSync(join(dir, 'other.sl')), 'nothing written at the path');
});

test('responses for other data, in another order, too few or too many are refused before the file is written', async () => {
  const lines = fs.readFileSync(fx('responses.jsonl'), 'utf8').trim().split('\n');
  const write = (name: string, ls: string[]) => {
    fs.writeFileSync(join(dir, name), `${ls.join('\n')}\n`);
    return name;
  };
  const run = (name: string, tokens?: Int32Array) => convertVllmLogits(join(dir, name), tokens ?? ids, join(dir, `${name}.sl`), { blockSize: T, topK: K, vocabSize: V, tokenizer: tok, tokensKey: 'k', tokenizerKey: 'k' });
  const ids = await stream();
  await assert.rejects(run(write('swapped.jsonl', [lines[1]!, lines[0]!, lines[2]!])), /swapped\.jsonl line 1: prompt token \d+ is id \d+, kdgpu's block 0 has \d+: the responses are not in the order of the requests/);
  await assert.rejects(run(write('short.jsonl', lines.slice(0, 2))), /short\.jsonl has 2 responses, the training data has 3 blocks of 8/);
  await assert.rejects(run(write('long.jsonl', [...lines, lines[2]!])), /long\.jsonl line 4: more responses than the 3 blocks/);
  const shifted = Int32Array.from(ids, (x, i) => (i === 5 ? (x + 1) % V : x));
  await assert.rejects(run(write('data.jsonl', lines), shifted), /data\.jsonl line 1: prompt token 5 is id/);
  const batch = fs.readFileSync(fx('run-batch.jsonl'), 'utf8').trim().split('\n');
  await assert.rejects(run(write('batch.jsonl', [batch[0]!, batch[2]!, batch[1]!])), /batch\.jsonl line 2: custom_id is "block-2", the line for block 1 was expected: put the lines in request order/);
  for (const n of ['swapped', 'short', 'long', 'data', 'batch']) assert.ok(!fs.existsSync(join(dir, `${n}.jsonl.sl`)));
});

test('malformed lines are named with the field: no prompt ids, no prompt_logprobs, an error answer, a bad entry, mass above 1', () => {
  const line = JSON.parse(fs.readFileSync(fx('responses.jsonl'), 'utf8').split('\n')[0]!);
  const bad = (f: (j: any) => void) => {
    const j = structuredClone(line);
    f(j);
    return JSON.stringify(j);
  };
  assert.throws(() => parseVllmLine('{"id":', 'r.jsonl line 3'), /^Error: vllm logits: r\.jsonl line 3: not JSON/);
  assert.throws(() => parseVllmLine(bad((j) => delete j.prompt_token_ids), 'w'), /no prompt_token_ids \(add them as the documented request loop does, or pass "return_token_ids": true\)/);
  assert.throws(() => parseVllmLine(bad((j) => delete j.choices[0].prompt_logprobs), 'w'), /choices\[0\]\.prompt_logprobs is missing: send "prompt_logprobs": K/);
  assert.throws(() => parseVllmLine('{"object":"error","message":"max_logprobs 20","type":"BadRequestError","code":400,"error":{"message":"x"}}', 'w'), /the server answered an error/);
  assert.throws(() => parseVllmLine(bad((j) => (j.choices[0].prompt_logprobs[2] = null)), 'w'), /prompt_logprobs\[2\] is null \(only the first may be\)/);
  assert.throws(() => parseVllmLine(bad((j) => (j.choices[0].prompt_logprobs[1] = { abc: { logprob: -1 } })), 'w'), /has key "abc", not a token id/);
  assert.throws(() => parseVllmLine(bad((j) => (Object.values(j.choices[0].prompt_logprobs[1])[0] as any).logprob = 2), 'w'), /\.logprob is 2, not a log-probability/);
  assert.throws(() => parseVllmLine(bad((j) => j.prompt_token_ids.pop()), 'w'), /has 9 entries for a prompt of 8 tokens/);
  // Logits rather than log-probabilities (a server not at τ = 1 / raw_logprobs): the mass exceeds 1.
  const hot = parseVllmLine(bad((j) => { for (const e of Object.values(j.choices[0].prompt_logprobs[3]) as any[]) e.logprob = -0.1; }), 'w');
  assert.throws(() => vllmBlock(hot, hot.promptIds.slice(0, T), hot.promptIds[T], { topK: K, vocabSize: V, tokenizer: tok, where: 'w', block: 0 }), /position 3: the listed probabilities sum to .* > 1: .*--logprobs-mode raw_logprobs/);
  const big = parseVllmLine(bad((j) => (j.choices[0].prompt_logprobs[1]['300'] = { logprob: -20, rank: 299, decoded_token: 'x' })), 'w');
  assert.throws(() => vllmBlock(big, big.promptIds.slice(0, T), big.promptIds[T], { topK: K, vocabSize: V, tokenizer: tok, where: 'w', block: 0 }), /lists token id 300, outside kdgpu's vocabulary of 300/);
});

test('a stream ending at a block boundary: the last position of the last block has no prediction and keeps all mass in the tail', async () => {
  const ids = (await stream()).slice(0, BLOCKS * T);
  const lines = fs.readFileSync(fx('responses.jsonl'), 'utf8').trim().split('\n');
  const last = JSON.parse(lines[BLOCKS - 1]!);
  last.prompt_token_ids.pop();
  last.choices[0].prompt_logprobs.pop();
  lines[BLOCKS - 1] = JSON.stringify(last);
  fs.writeFileSync(join(dir, 'end.jsonl'), `${lines.join('\n')}\n`);
  await convertVllmLogits(join(dir, 'end.jsonl'), ids, join(dir, 'end.sl'), { blockSize: T, topK: K, vocabSize: V, tokenizer: tok, tokensKey: 'k', tokenizerKey: 'k' });
  const f = new SparseLogitsFile(join(dir, 'end.sl'));
  const b = f.block(BLOCKS - 1);
  f.close();
  assert.equal(b.counts[T - 1], 0);
  assert.equal(b.tail[T - 1], 0);
  assert.equal(b.counts[T - 2], K);
});

test('the request file: one run-batch line per block, the block and the next token as a token-id prompt', async () => {
  const ids = await stream();
  const path = join(dir, 'requests.jsonl');
  assert.equal(await writeVllmRequests(path, ids, T, 'meta-llama/Llama-3.1-70B', 64), BLOCKS);
  const lines = fs.readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, BLOCKS);
  assert.deepEqual(lines[1], {
    custom_id: 'block-1', method: 'POST', url: '/v1/completions',
    body: { model: 'meta-llama/Llama-3.1-70B', prompt: Array.from(ids.subarray(T, 2 * T + 1)), max_tokens: 1, temperature: 0, prompt_logprobs: 64, return_token_ids: true },
  });
});
