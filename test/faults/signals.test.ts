/**
 * Stopping a run by signal, through the CLI under the runtime running the test: SIGTERM (docker
 * stop, Slurm, timeout) checkpoints like Ctrl-C, and the first signal is acknowledged at once with
 * what happens next; a second signal stops at once without saving, leaving no partial checkpoint
 * and no temporary folder, and every checkpoint on disk still loads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertCheckpointsReadable, isDeno, kdgpu, latestStep, startKdgpu, tinyConfig } from './cli.ts';

const work = mkdtempSync(join(tmpdir(), 'kdgpu-signals-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const temps = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('.')) : []);

/** Starts a long run and waits until it has trained `steps` steps (its plain progress lines, logEvery 1). */
async function started(name: string, steps: number) {
  const run = startKdgpu(['train', tinyConfig(work, name, { maxSteps: 40, checkpointEvery: 2 })]);
  let out = '';
  run.child.stdout!.on('data', (d) => (out += d));
  let err = '';
  run.child.stderr!.on('data', (d) => (err += d));
  const t0 = performance.now();
  while (!new RegExp(`step ${steps}/40`).test(out) && performance.now() - t0 < 120_000) await sleep(10);
  return { ...run, stdout: () => out, stderr: () => err };
}

test('SIGTERM is acknowledged at once, finishes the step, saves a checkpoint and exits with 143', { timeout: 300_000 }, async () => {
  const run = await started('term', 5);
  const ckptDir = join(work, 'term', 'checkpoints');
  const sent = performance.now();
  run.child.kill('SIGTERM');
  let ackMs = -1;
  while (performance.now() - sent < 60_000) {
    if (/SIGTERM: finishing step \d+, then saving a checkpoint; press Ctrl-C again to stop without saving/.test(run.stderr())) {
      ackMs = performance.now() - sent;
      break;
    }
    await sleep(5);
  }
  const end = await run.exited;
  console.log(`SIGTERM acknowledged after ${ackMs.toFixed(0)} ms`);
  assert.ok(ackMs >= 0, `acknowledged: ${end.stderr.slice(-500)}`);
  // Within a step: the run yields once per step (a tiny step takes milliseconds; allow for a busy machine).
  assert.ok(ackMs < 10_000, `acknowledged after ${ackMs} ms`);
  const m = /interrupted at step (\d+); resume with --resume/.exec(end.stdout);
  assert.ok(m, end.stdout.slice(-500));
  const step = Number(m[1]);
  assert.equal(Number(/finishing step (\d+)/.exec(end.stderr)![1]), step, 'the acknowledged step is the one saved');
  if (isDeno) assert.ok(end.code === 143 || end.signal === 'SIGTERM', `code ${end.code}, signal ${end.signal}`);
  else assert.deepEqual([end.code, end.signal], [143, null], end.stderr);
  assert.equal(latestStep(ckptDir), step);
  assert.deepEqual(temps(ckptDir), []);
  await assertCheckpointsReadable(ckptDir, 'after SIGTERM');
  const resumed = kdgpu(['train', tinyConfig(work, 'term', { maxSteps: 40, checkpointEvery: 2 }), '--resume', '--quiet']);
  assert.equal(resumed.status, 0, resumed.stderr);
});

test('a second signal stops at once without saving: no partial checkpoint, no temporary folder', { timeout: 300_000 }, async () => {
  const run = await started('twice', 5);
  const ckptDir = join(work, 'twice', 'checkpoints');
  // Both at once: the second must win over the save the first one started (the process handles
  // them in the same turn of its event loop, long before a checkpoint is written).
  // (process.kill, not child.kill: Deno's ChildProcess ignores a second kill() call.)
  process.kill(run.child.pid!, 'SIGTERM');
  process.kill(run.child.pid!, 'SIGINT');
  const end = await run.exited;
  // Which of the two the process sees first is up to the kernel; the other one is the second.
  const first = /kdgpu: (SIGINT|SIGTERM): finishing step/.exec(end.stderr)?.[1];
  const second = first === 'SIGINT' ? 'SIGTERM' : 'SIGINT';
  assert.ok(first, end.stderr);
  assert.match(end.stderr, new RegExp(`${second}, a second signal: stopped without saving\\. (The last checkpoint is .*step-\\d+ \\(step \\d+\\); --resume continues from it|No checkpoint was written)\\.`));
  const code = second === 'SIGINT' ? 130 : 143;
  if (isDeno) assert.ok(end.code === code || end.signal === second, `code ${end.code}, signal ${end.signal}`);
  else assert.deepEqual([end.code, end.signal], [code, null], end.stderr);
  assert.doesNotMatch(end.stdout, /interrupted at step/, 'not saved');
  assert.deepEqual(temps(ckptDir), [], 'no temporary folder left');
  const steps = await assertCheckpointsReadable(ckptDir, 'after two signals');
  assert.ok(steps.includes(latestStep(ckptDir)));
});
