/**
 * Every example script runs to the end in its smoke preset, under the runtime running this test
 * (so `npm test` covers Node and Deno): the Baby Llama recipe, DistilLlama-style distillation,
 * the loss sweep, cross-tokenizer and on-policy distillation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';

function runExample(script: string, extra: string[] = [], outDir?: string) {
  const out = outDir ?? mkdtempSync(join(tmpdir(), 'kdgpu-example-'));
  const cmd = isDeno ? 'npx' : process.execPath;
  const argv = isDeno
    ? ['--no-install', 'deno', 'run', '-A', '--node-modules-dir=manual', `examples/${script}`, '--preset', 'smoke', '--out', out, ...extra]
    : ['--import', 'tsx', `examples/${script}`, '--preset', 'smoke', '--out', out, ...extra];
  const r = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', timeout: 1_200_000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  assert.equal(r.status, 0, `${script} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return { out, stdout: r.stdout };
}

test('examples/baby-llama.ts (smoke): teachers, students over two seeds, per-seed table with margins, JSON and plot; a re-run reuses the teachers', () => {
  const { out, stdout } = runExample('baby-llama.ts', ['--seeds', '2']);
  assert.match(stdout, /\| student-distilled \| 1 \|/);
  assert.match(stdout, /\| student-no-kd \| 2 \|/);
  assert.match(stdout, /distilled − no-KD validation loss per seed: seed 1 [−+]\d\.\d{3}, seed 2 [−+]\d\.\d{3}/);
  assert.match(stdout, /The distilled student (beat|did not beat) the student trained without distillation/);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  // 2 teachers + 2 seeds x (distilled, no-KD) + the single-best-teacher student of the first seed.
  assert.equal(results.table.length, 7);
  assert.deepEqual(results.table.map((r: { model: string }) => r.model).sort(), ['gpt2-teacher', 'llama-teacher', 'student-best-teacher', 'student-distilled', 'student-distilled', 'student-no-kd', 'student-no-kd']);
  for (const row of results.table) assert.ok(Number.isFinite(row['val loss']), JSON.stringify(row));
  assert.equal(results.margins.perSeed.length, 2);
  assert.equal(results.beatsTeachers.length, 2);
  const svg = readFileSync(join(out, 'loss.svg'), 'utf8');
  for (const name of ['GPT-2 teacher', 'LLaMA teacher', 'student, distilled', 'student, no KD']) assert.ok(svg.includes(`data-series="${name}: losses train"`), `loss.svg draws ${name}`);
  assert.ok(svg.includes('data-series="student, distilled: losses kd"'), 'the distilled run\'s KD part');
  // Another seed in the same folder: the teachers are reused, only the new students train.
  const again = runExample('baby-llama.ts', ['--seed', '7', '--seeds', '1'], out);
  assert.match(again.stdout, /gpt2-teacher: reusing the finished run/);
  assert.match(again.stdout, /llama-teacher: reusing the finished run/);
  assert.match(again.stdout, /\| student-distilled \| 7 \|/);
});

test('examples/distil-llama.ts (smoke): teacher and student evaluated', () => {
  const { stdout } = runExample('distil-llama.ts');
  assert.match(stdout, /\| teacher \|/);
  assert.match(stdout, /\| student \|/);
});

test('examples/loss-sweep.ts (smoke): every divergence of the sweep against no-KD', () => {
  const { out, stdout } = runExample('loss-sweep.ts');
  assert.match(stdout, /\| reverseKL \| \d\.\d{4} ± \d\.\d{4} \| [−+]\d\.\d{3} ± /);
  const sweep = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
  assert.equal(sweep.rows.length, 9);
  for (const r of sweep.rows) assert.ok(Number.isFinite(r.valLoss), JSON.stringify(r));
  const svg = readFileSync(join(out, 'sweep.svg'), 'utf8');
  for (const r of sweep.rows) assert.ok(svg.includes(`data-series="${r.loss}: losses train"`), `sweep.svg draws ${r.loss}`);
});

test('examples/cross-tokenizer.ts (smoke): ULD students and the no-KD student across two tokenizers, tabulated', () => {
  const { out, stdout } = runExample('cross-tokenizer.ts');
  assert.match(stdout, /\| no KD \| 1 \|/);
  assert.match(stdout, /\| ULD, r 0\.5 \(λ 1\), T 1 \| 1 \|/);
  assert.match(stdout, /\| ULD, r 0\.99 \(λ 99\), T 1 \| 1 \|/);
  const r = JSON.parse(readFileSync(join(out, 'cross-tokenizer.json'), 'utf8'));
  assert.notEqual(r.studentVocab, r.teacher.vocab);
  for (const row of r.rows) assert.ok(Number.isFinite(row.valLoss), JSON.stringify(row));
});

test('examples/on-policy.ts (smoke): off-policy, GKD, DistiLLM and MiniLLM distilled and judged on student samples', () => {
  const { out, stdout } = runExample('on-policy.ts');
  assert.match(stdout, /\| MiniLLM/);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  assert.equal(results.runs.length, 4);
  for (const r of results.runs) assert.ok(Number.isFinite(r.valLoss) && Number.isFinite(r.teacherNll) && r.teacherNll > 0, JSON.stringify(r));
  const minillm = results.runs.find((r: { method: string }) => r.method.startsWith('MiniLLM'));
  assert.ok(minillm.generatedTokens > 0 && minillm.onPolicySteps === results.preset_settings.studentSteps, 'MiniLLM samples at every step');
  assert.ok(readFileSync(join(out, 'results.md'), 'utf8').includes('| off-policy (forward KL) |'));
});
