/**
 * Sparse offline logits end to end through the CLI, on the fixture corpus with a tiny teacher:
 * `kdgpu logits CONFIG --top-k 64` writes a sparse file (vocabulary 300, so K < V), `kdgpu distill
 * CONFIG` trains a student from it (tail-bucket missing mass); a killed logits run leaves no file
 * and `--resume` finishes it to the same bytes; a file for another block size, tokenizer or data
 * is refused naming the field and the fix; the vLLM request file and conversion round-trip through
 * the same CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';
const SKIP = { skip: isDeno && 'drives the Node CLI in child processes; test/faults runs the CLI under Deno' };
const bin = fileURLToPath(new URL('../bin/kdgpu.mjs', import.meta.url));
const corpus = fileURLToPath(new URL('./fixtures/corpus', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'kdgpu-cli-sparse-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
const kdgpu = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env, timeout: 300_000 });
const logits = join(work, 'teacher.sparse');

function cfg(name: string, extra: Record<string, unknown> = {}): string {
  const c = {
    run: { name, outDir: join(work, 'runs'), seed: 3 },
    data: { dir: corpus, blockSize: 32, batchSize: 8, maxEvalBlocks: 8, randomOffset: false },
    tokenizer: { path: join(work, 'runs', 'teacher', 'tokenizer.json') },
    model: { type: 'llama', preset: 'tinyLlama', config: { max_position_embeddings: 64 } },
    teachers: [{ path: join(work, 'runs', 'teacher', 'final') }],
    offlineLogits: { path: logits },
    distill: { loss: 'forwardKL', kdRatio: 0.5, temperature: 2, lossOptions: { missingMass: 'tail-bucket' } },
    optimizer: { lr: 5e-3 },
    schedule: { type: 'cosine', warmupSteps: 1 },
    train: { maxSteps: 4, logEvery: 2, evalEvery: 4 },
    ...extra,
  };
  const path = join(work, `${name}.json`);
  writeFileSync(path, JSON.stringify(c));
  return path;
}

test('kdgpu logits --top-k 64, then kdgpu distill from that file', SKIP, () => {
  const teacher = kdgpu('train', cfg('teacher', { tokenizer: { train: { vocabSize: 300, minFrequency: 2 } }, teachers: [], offlineLogits: undefined, distill: undefined }), '--quiet');
  assert.equal(teacher.status, 0, teacher.stderr);
  const student = cfg('student');
  const w = kdgpu('logits', student, '--top-k', '64', '--quiet');
  assert.equal(w.status, 0, w.stderr);
  assert.match(w.stdout, /wrote .*teacher\.sparse: \d+ blocks of 32, top 64 \+ tail per position/);
  const again = kdgpu('logits', student, '--top-k', '64', '--quiet');
  assert.notEqual(again.status, 0);
  assert.match(again.stderr, /offlineLogits\.path: .* already exists; pass --overwrite/);

  const d = kdgpu('distill', student, '--quiet');
  assert.equal(d.status, 0, d.stderr);
  const metrics = readFileSync(join(work, 'runs', 'student', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const trainRows = metrics.filter((m) => m.split === 'train');
  assert.ok(trainRows.length > 0 && trainRows.every((m) => Number.isFinite(m.loss) && Number.isFinite(m.losses.kd) && m.losses.kd > 0), JSON.stringify(trainRows));
  assert.ok(existsSync(join(work, 'runs', 'student', 'final', 'model.safetensors')));

  // The missing-mass mode is a loss option; on dense stored logits it is refused before training.
  const dense = join(work, 'teacher.dense');
  const wd = kdgpu('logits', cfg('dense', { offlineLogits: { path: dense, topK: 16 } }), '--quiet');
  assert.equal(wd.status, 0, wd.stderr);
  const bad = kdgpu('distill', cfg('dense-mm', { offlineLogits: { path: dense } }), '--quiet');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /distill\.lossOptions\.missingMass: applies to sparse stored logits only/);
});

test('a sparse file for another block size or data is refused by distill, naming the field and the fix', SKIP, () => {
  assert.ok(existsSync(logits), 'written by the first test');
  const block = kdgpu('distill', cfg('other-block', { data: { dir: corpus, blockSize: 16, batchSize: 8, maxEvalBlocks: 8, randomOffset: false }, model: { type: 'llama', preset: 'tinyLlama', config: { max_position_embeddings: 64 } } }), '--quiet');
  assert.notEqual(block.status, 0);
  assert.match(block.stderr, /offlineLogits\.path: .*teacher\.sparse holds blocks of 32 tokens but data\.blockSize is 16; set data\.blockSize to 32/);
  const data = kdgpu('distill', cfg('other-data', { data: { files: [join(corpus, 'fortunes.dev')], evalFiles: [join(corpus, 'fortunes.dev')], blockSize: 32, batchSize: 8, maxEvalBlocks: 8, randomOffset: false } }), '--quiet');
  assert.notEqual(data.status, 0);
  assert.match(data.stderr, /offlineLogits\.path: .*teacher\.sparse was computed on other data \(footer tokensKey \w+, this config's token stream \w+: other files or cleaning\); compute it again with `kdgpu logits CONFIG --top-k K --overwrite`/);
  assert.ok(!existsSync(join(work, 'runs', 'other-data', 'final')));
});

test('a killed sparse logits run leaves no file; --resume finishes it to the same bytes', SKIP, async () => {
  const path = join(work, 'resumed.sparse');
  const c = cfg('resume', { offlineLogits: { path } });
  // SIGKILL once the journal vouches for a first batch (journal after every batch for the test).
  const child = spawn(process.execPath, [bin, 'logits', c, '--top-k', '64', '--quiet'], { env: { ...env, KDGPU_LOGITS_JOURNAL_SECONDS: '0' }, stdio: 'ignore' });
  const journal = `${path}.partial.json`;
  const records = () => {
    try {
      return JSON.parse(readFileSync(journal, 'utf8')).records.length as number;
    } catch {
      return 0;
    }
  };
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  let killedAt = 0;
  while (child.exitCode === null) {
    if ((killedAt = records()) >= 8) {
      child.kill('SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await exited;
  assert.ok(killedAt >= 8, 'killed part way (the run did not finish first)');
  assert.ok(!existsSync(path), 'no file at the path');
  assert.ok(existsSync(`${path}.partial`) && existsSync(journal));
  const vouched = records();
  assert.ok(vouched >= 8);
  const plain = kdgpu('logits', c, '--top-k', '64', '--quiet');
  assert.notEqual(plain.status, 0);
  assert.match(plain.stderr, /an unfinished write of .* exists .*; pass --resume to continue it or --overwrite to start again/);
  const r = kdgpu('logits', c, '--top-k', '64', '--resume');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`logits: resuming at block ${vouched} of \\d+`));
  assert.deepEqual(readFileSync(path), readFileSync(logits), 'the same bytes as the uninterrupted run of the first test');
});

test('vLLM: the request file, and answers converted by kdgpu logits --from-vllm', SKIP, () => {
  const c = cfg('vllm', { offlineLogits: { path: join(work, 'vllm.sparse') } });
  const req = join(work, 'requests.jsonl');
  const r = kdgpu('logits', c, '--top-k', '4', '--vllm-requests', req, '--vllm-model', 'big/teacher', '--quiet');
  assert.equal(r.status, 0, r.stderr);
  const lines = readFileSync(req, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines[0].body.prompt.length, 33);
  assert.equal(lines[0].body.prompt_logprobs, 4);
  // A stand-in server: every position lists ids 0..3 with p = 0.1 each (the prompt token too, as vLLM does).
  const answers = lines.map((l) => {
    const prompt = l.body.prompt as number[];
    const pl = prompt.map((id, i) => (i === 0 ? null : Object.fromEntries([...new Set([0, 1, 2, 3, id])].map((v) => [String(v), { logprob: Math.log(v === id && v > 3 ? 0.05 : 0.1), rank: v === id && v > 3 ? 9 : v + 1, decoded_token: null }]))));
    return JSON.stringify({ custom_id: l.custom_id, response: { status_code: 200, body: { id: 'x', object: 'text_completion', choices: [{ index: 0, text: '', prompt_logprobs: pl, prompt_token_ids: prompt }] } }, error: null });
  });
  writeFileSync(join(work, 'answers.jsonl'), `${answers.join('\n')}\n`);
  const conv = kdgpu('logits', c, '--top-k', '4', '--from-vllm', join(work, 'answers.jsonl'), '--quiet');
  assert.equal(conv.status, 0, conv.stderr);
  assert.match(conv.stdout, /top 4 \+ tail per position, from vLLM/);
  const d = kdgpu('distill', c, '--quiet');
  assert.equal(d.status, 0, d.stderr);
});
