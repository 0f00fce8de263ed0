/**
 * GPU device lost mid-run (simulated with `device.destroy()` after a step): training stops with an
 * error naming the last good checkpoint, no checkpoint is written from the lost device, every
 * checkpoint on disk loads, and `--resume` in a fresh process finishes the run with the same final
 * weights as an uninterrupted run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getDevice, init, KdgpuError, memoryStats, tensor } from '@kdgpu/tensor';
import { validateConfig } from '@kdgpu/train';
import { runTraining } from '@kdgpu/train/node';
import { assertCheckpointsReadable, kdgpu, tinyConfig } from './cli.ts';

const work = mkdtempSync(join(tmpdir(), 'kdgpu-lost-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const TRAIN = { maxSteps: 12, checkpointEvery: 2 };

test('device lost after step 5: the error names checkpoint step 4, and --resume finishes identically', { timeout: 300_000 }, async () => {
  const ref = kdgpu(['train', tinyConfig(work, 'reference', TRAIN), '--quiet']);
  assert.equal(ref.status, 0, ref.stderr);

  const path = tinyConfig(work, 'lost', TRAIN);
  const config = validateConfig(JSON.parse(readFileSync(path, 'utf8')));
  const ckptDir = join(work, 'lost', 'checkpoints');
  await assert.rejects(
    runTraining(config, {
      quiet: true,
      onStep: async (step) => {
        if (step === 5) (await getDevice()).destroy();
      },
    }),
    (e: Error) => {
      assert.ok(e instanceof KdgpuError, `${e.name}: ${e.message}`);
      assert.match(e.message, /^training stopped after step 5: the GPU device was lost \(/);
      assert.ok(e.message.includes(`The last good checkpoint is ${join(ckptDir, 'step-000004')} (step 4): run the same command with --resume`), e.message);
      return true;
    },
  );
  const dirs = readdirSync(ckptDir).filter((n) => n.startsWith('step-'));
  assert.deepEqual(dirs.sort(), ['step-000002', 'step-000004'], 'nothing was checkpointed from the lost device');
  assert.ok(!existsSync(join(work, 'lost', 'final')));
  // getDevice() makes a new device after the loss: the checkpoints load on it.
  await assertCheckpointsReadable(ckptDir, 'after the device loss');

  const resumed = kdgpu(['train', path, '--resume', '--quiet']);
  assert.equal(resumed.status, 0, resumed.stderr);
  const a = readFileSync(join(work, 'reference', 'final', 'model.safetensors'));
  const b = readFileSync(join(work, 'lost', 'final', 'model.safetensors'));
  assert.ok(a.equals(b), 'final weights equal the uninterrupted run byte for byte');
});

test('after a device loss, pooled buffers of the old device are never handed out again', async () => {
  await init();
  const t = tensor([1, 2, 3, 4]);
  t.add(1).dispose(); // leaves a pooled buffer of this size
  (await getDevice()).destroy();
  await new Promise((r) => setTimeout(r, 50));
  await init(); // a new device
  assert.equal(memoryStats().pooledBytes, 0, 'the pool was emptied for the new device');
  const before = memoryStats();
  t.dispose(); // a tensor of the lost device: its buffer is dropped, not pooled
  assert.equal(memoryStats().pooledBytes, 0);
  assert.equal(memoryStats().liveBuffers, before.liveBuffers - 1);
  const u = tensor([5, 6, 7, 8]).add(1); // runs on new buffers (a reused old one is a validation error)
  u.dispose();
});

test('in-process resume after a device loss', async () => {
  await init();
  assert.deepEqual(await tensor([1, 2]).add(1).toArray(), [2, 3]); // leaves a staging buffer of this size
  (await getDevice()).destroy();
  await new Promise((r) => setTimeout(r, 50));
  await init();
  assert.deepEqual(await tensor([1, 2]).add(1).toArray(), [2, 3]);
});
