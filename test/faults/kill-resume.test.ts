/**
 * Faults during training, through the CLI: a run SIGKILLed at seeded random moments (at least 10
 * times) and resumed each time ends with the same final weights, bit for bit, as an uninterrupted
 * run, and every checkpoint on disk loads after every kill; Ctrl-C (SIGINT) saves a checkpoint and
 * exits cleanly, and --resume finishes the run identically.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertCheckpointsReadable, isDeno, kdgpu, latestStep, seeded, startKdgpu, tinyConfig } from './cli.ts';

const STEPS = 40;
const KILLS = 10;
const work = mkdtempSync(join(tmpdir(), 'kdgpu-kill-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const finalWeights = (name: string) => readFileSync(join(work, name, 'final', 'model.safetensors'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let reference: Buffer | null = null;
function referenceWeights(): Buffer {
  if (!reference) {
    const r = kdgpu(['train', tinyConfig(work, 'reference', { maxSteps: STEPS, checkpointEvery: 1 }), '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    reference = finalWeights('reference');
  }
  return reference;
}

test(`SIGKILL at ${KILLS}+ random moments, resumed each time: final weights equal an uninterrupted run's, every checkpoint always loads`, { timeout: 600_000 }, async () => {
  const want = referenceWeights();
  const config = tinyConfig(work, 'killed', { maxSteps: STEPS, checkpointEvery: 1 });
  const ckptDir = join(work, 'killed', 'checkpoints');
  const random = seeded(2024);
  const log: string[] = [];
  let kills = 0;
  let completed = false;
  for (let attempt = 0; attempt < 60 && !(completed && kills >= KILLS); attempt++) {
    // Resume once a checkpoint exists; a run killed before its first checkpoint has nothing to
    // resume and starts over (moving aside whatever it left, e.g. its first metrics lines).
    const run = startKdgpu(['train', config, '--quiet', ...(latestStep(ckptDir) >= 0 ? ['--resume'] : attempt > 0 ? ['--overwrite'] : [])]);
    let exitedEarly = false;
    void run.exited.then(() => (exitedEarly = true));
    if (kills < KILLS) {
      const before = latestStep(ckptDir);
      const t0 = performance.now();
      if (random() < 0.25) {
        // Anywhere in start-up: loading the tokenizer and token cache, reading the checkpoint, or early steps.
        await sleep(200 + random() * 2500);
      } else {
        // Mid-training: once the checkpoint of a target step is in place (targets spread over the
        // whole run, the last ones into the final save), somewhere in the next steps or writes.
        const target = Math.min(STEPS, before + 1 + Math.floor(random() * Math.max(1, (STEPS - before) / (KILLS - kills))));
        while (!exitedEarly && latestStep(ckptDir) < target && performance.now() - t0 < 30_000) await sleep(10);
        await sleep(random() * 400);
      }
      if (!exitedEarly) run.child.kill('SIGKILL');
    }
    const end = await run.exited;
    if (end.signal === 'SIGKILL') {
      kills++;
      log.push(`kill ${kills}: latest step ${latestStep(ckptDir)}`);
      const steps = await assertCheckpointsReadable(ckptDir, `after kill ${kills}`);
      assert.ok(steps.length === 0 || steps.includes(latestStep(ckptDir)), `after kill ${kills}: latest.json names a checkpoint on disk`);
    } else {
      assert.equal(end.code, 0, `attempt ${attempt} failed:\n${end.stderr.slice(-3000)}`);
      completed = true;
      log.push(`completed (attempt ${attempt})`);
    }
  }
  console.log(log.join('; '));
  assert.ok(kills >= KILLS, `only ${kills} kills landed before the run finished: ${log.join('; ')}`);
  assert.ok(completed, `the run never completed: ${log.join('; ')}`);
  assert.equal(latestStep(ckptDir), STEPS);
  assert.ok(finalWeights('killed').equals(want), 'final model.safetensors equals the uninterrupted run byte for byte');
  await assertCheckpointsReadable(ckptDir, 'at the end');
});

test('SIGINT saves a checkpoint, exits cleanly (code 130), and --resume finishes identically', { timeout: 300_000 }, async () => {
  const want = referenceWeights();
  const config = tinyConfig(work, 'interrupted', { maxSteps: STEPS, checkpointEvery: 5 });
  const ckptDir = join(work, 'interrupted', 'checkpoints');
  const run = startKdgpu(['train', config]);
  // Interrupt once training is under way (the first periodic checkpoint is written), between checkpoints.
  const t0 = performance.now();
  while (latestStep(ckptDir) < 5 && performance.now() - t0 < 120_000) await sleep(10);
  await sleep(150);
  run.child.kill('SIGINT');
  const end = await run.exited;
  // The message is printed after the checkpoint, just before the command returns 130: the process
  // handled the signal and exited by itself. (Deno's child_process reports an exit code of 130 as
  // the signal SIGINT, so there the code is not distinguishable from the signal.)
  const m = /interrupted at step (\d+); resume with --resume/.exec(end.stdout);
  assert.ok(m, `stdout:\n${end.stdout.slice(-800)}\nstderr:\n${end.stderr.slice(-800)}`);
  if (isDeno) assert.ok(end.code === 130 || end.signal === 'SIGINT', `code ${end.code}, signal ${end.signal}`);
  else assert.deepEqual([end.code, end.signal], [130, null], end.stderr);
  const step = Number(m[1]);
  assert.ok(step > 0 && step < STEPS);
  assert.equal(latestStep(ckptDir), step, 'the interrupt checkpoint is the latest');
  assert.ok(!existsSync(join(work, 'interrupted', 'final')), 'no final model for an interrupted run');
  await assertCheckpointsReadable(ckptDir, 'after SIGINT');
  const r = kdgpu(['train', config, '--resume', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(finalWeights('interrupted').equals(want), 'final model.safetensors equals the uninterrupted run byte for byte');
});
