/**
 * The kdgpu CLI end to end on the fixture corpus: a config-driven run writes checkpoints, metrics
 * and the final model; a run killed with SIGKILL and resumed logs the same losses as an
 * uninterrupted one; a bad config fails with ajv's field-level message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/kdgpu.mjs', import.meta.url));
const corpus = fileURLToPath(new URL('./fixtures/corpus', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'kdgpu-cli-'));
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
// The bin is a Node entry (tsx); under Deno's test runner spawn Node for it.
const nodeBin = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined' ? 'node' : process.execPath;

function cfg(name: string, extra: Record<string, unknown> = {}) {
  const c = {
    run: { name, outDir: work, seed: 11 },
    data: { dir: corpus, blockSize: 32, batchSize: 8, maxEvalBlocks: 16 },
    tokenizer: { train: { vocabSize: 300, minFrequency: 2, specialTokens: ['<pad>', '<s>', '</s>'] } },
    model: { type: 'llama', preset: 'tinyLlama', config: { max_position_embeddings: 64 } },
    optimizer: { lr: 5e-3 },
    schedule: { type: 'cosine', warmupSteps: 2 },
    train: { maxSteps: 12, logEvery: 1, evalEvery: 6, checkpointEvery: 2 },
    ...extra,
  };
  const path = join(work, `${name}.json`);
  writeFileSync(path, JSON.stringify(c));
  return path;
}

function run(args: string[]) {
  return spawnSync(nodeBin, [bin, ...args], { encoding: 'utf8', env, timeout: 300_000 });
}

const losses = (name: string) =>
  readFileSync(join(work, name, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.split === 'train').map((r): [number, number] => [r.step, r.loss]);

test('kdgpu train writes checkpoints, metrics, tokenizer and the final model', () => {
  const r = run(['train', cfg('plain'), '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['tokenizer.json', 'metrics.jsonl', 'config.resolved.json', 'final/config.json', 'final/model.safetensors', 'checkpoints/latest.json', 'checkpoints/best.json']) {
    assert.ok(existsSync(join(work, 'plain', f)), `${f} exists`);
  }
  assert.equal(losses('plain').length, 12);
});

test('a run killed with SIGKILL and resumed logs the same losses as an uninterrupted run', async () => {
  const path = cfg('killed');
  const latest = join(work, 'killed', 'checkpoints', 'latest.json');
  // Kill as soon as the checkpoint after step 6 is in place.
  await new Promise<void>((resolve, reject) => {
    const child = spawn(nodeBin, [bin, 'train', path, '--quiet'], { env, stdio: 'ignore' });
    const timer = setInterval(() => {
      try {
        if (JSON.parse(readFileSync(latest, 'utf8')).step >= 6) child.kill('SIGKILL');
      } catch {
        // not written yet
      }
    }, 20);
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`the run ended (code ${code}) before it could be killed`));
    });
  });
  const r = run(['train', path, '--resume', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const resumed = new Map(losses('killed'));
  for (const [step, loss] of losses('plain')) assert.equal(resumed.get(step), loss, `step ${step}`);
});

test('a bad config fails with a field-level error and exit code 1', () => {
  const bad = join(work, 'bad.json');
  writeFileSync(bad, JSON.stringify({ ...JSON.parse(readFileSync(cfg('bad0'), 'utf8')), optimizer: { lr: -1 } }));
  const r = run(['train', bad]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /optimizer\.lr: must be > 0/);
  const o = run(['train', cfg('bad1'), 'optimizer.lrr=3']);
  assert.equal(o.status, 1);
  assert.match(o.stderr, /optimizer\.lrr/);
});
