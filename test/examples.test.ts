/**
 * Every example script runs to the end in its smoke preset, under the runtime running this test
 * (so `npm test` covers Node and Deno): the Baby Llama recipe, DistilLlama-style distillation,
 * the loss sweep, on-policy distillation.
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

function runExample(script: string, extra: string[] = []) {
  const out = mkdtempSync(join(tmpdir(), 'kdgpu-example-'));
  const cmd = isDeno ? 'npx' : process.execPath;
  const argv = isDeno
    ? ['--no-install', 'deno', 'run', '-A', '--node-modules-dir=manual', `examples/${script}`, '--preset', 'smoke', '--out', out, ...extra]
    : ['--import', 'tsx', `examples/${script}`, '--preset', 'smoke', '--out', out, ...extra];
  const r = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', timeout: 600_000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  assert.equal(r.status, 0, `${script} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return { out, stdout: r.stdout };
}

test('examples/baby-llama.ts (smoke): four models trained and evaluated, table, JSON and plot', () => {
  const { out, stdout } = runExample('baby-llama.ts');
  assert.match(stdout, /\| student-distilled \|/);
  assert.match(stdout, /The distilled student (beat|did not beat) the student trained without distillation/);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  assert.equal(results.table.length, 4);
  for (const row of results.table) assert.ok(Number.isFinite(row['val loss']), JSON.stringify(row));
  const svg = readFileSync(join(out, 'loss.svg'), 'utf8');
  for (const name of ['GPT-2 teacher', 'LLaMA teacher', 'student, distilled', 'student, no KD']) assert.ok(svg.includes(`data-series="${name}: losses train"`), `loss.svg draws ${name}`);
  assert.ok(svg.includes('data-series="student, distilled: losses kd"'), 'the distilled run\'s KD part');
});

test('examples/distil-llama.ts (smoke): teacher and student evaluated', () => {
  const { stdout } = runExample('distil-llama.ts');
  assert.match(stdout, /\| teacher \|/);
  assert.match(stdout, /\| student \|/);
});

test('examples/loss-sweep.ts (smoke): every divergence of the sweep', () => {
  const { out } = runExample('loss-sweep.ts');
  const sweep = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
  assert.equal(sweep.rows.length, 9);
  for (const r of sweep.rows) assert.ok(Number.isFinite(r.valLoss), JSON.stringify(r));
  const svg = readFileSync(join(out, 'sweep.svg'), 'utf8');
  for (const r of sweep.rows) assert.ok(svg.includes(`data-series="${r.loss}: losses train"`), `sweep.svg draws ${r.loss}`);
});

test('examples/cross-tokenizer.ts (smoke): ULD student and no-KD student across two tokenizers', () => {
  const { stdout } = runExample('cross-tokenizer.ts');
  assert.match(stdout, /\| student-uld \|/);
  assert.match(stdout, /\| student-no-kd \|/);
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
