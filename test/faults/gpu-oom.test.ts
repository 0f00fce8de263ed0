/**
 * Out of GPU memory: a tensor larger than the adapter's per-buffer limit fails when it is created,
 * naming its shape, its bytes and the limit, before anything is allocated; an allocation the driver
 * refuses is reported at the next sync point naming the tensor; a training run whose logits do
 * not fit fails at its first step with that error and writes no checkpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getDevice, KdgpuError, matmul, memoryStats, setDevice, sync, tensor, zeros } from '@kdgpu/tensor';
import { kdgpu, tinyConfig } from './cli.ts';

const work = mkdtempSync(join(tmpdir(), 'kdgpu-oom-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/** The real device with some members replaced (methods of the rest bound to it). */
function proxied(real: GPUDevice, over: Record<string, unknown>): GPUDevice {
  return new Proxy(real, {
    get(target, prop) {
      if (typeof prop === 'string' && Object.hasOwn(over, prop)) return over[prop];
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

async function limit(): Promise<number> {
  const d = await getDevice();
  return Math.min(d.limits.maxStorageBufferBindingSize, d.limits.maxBufferSize);
}

test('a tensor over the per-buffer limit: KdgpuError with shape, bytes and limit, nothing allocated', async () => {
  const max = await limit();
  const rows = Math.floor(max / 4096) + 1;
  const before = memoryStats();
  assert.throws(() => zeros([rows, 1024]), (e: Error) => {
    assert.ok(e instanceof KdgpuError);
    assert.equal(e.message, `out of GPU memory limits: tensor [${rows},1024] f32 needs ${rows * 4096} bytes, but this adapter binds at most ${max} bytes per buffer; use smaller batches or chunk the computation`);
    return true;
  });
  // An op whose output is too big fails the same way while it is recorded; its inputs are intact.
  const n = Math.ceil(Math.sqrt(max / 4)) + 1;
  const a = zeros([n, 1]);
  const b = zeros([1, n]);
  assert.throws(() => matmul(a, b), new RegExp(`^KdgpuError: out of GPU memory limits: tensor \\[${n},${n}\\] f32 needs ${n * n * 4} bytes, but this adapter binds at most ${max} bytes`));
  a.dispose();
  b.dispose();
  assert.equal(memoryStats().liveBytes, before.liveBytes);
  assert.ok(memoryStats().peakBytes < max, 'the oversized buffer was never created');
});

test('a tensor just under a limit that is not a power of two is not pushed over it by size-class rounding', async () => {
  const real = await getDevice();
  const max = 100_000_000; // as adapters report, e.g. 2^32 - 4; a size class of 99,999,984 bytes is 100,663,296
  if (real.limits.maxStorageBufferBindingSize < max) return;
  const limits = new Proxy(real.limits, { get: (t, p) => (p === 'maxStorageBufferBindingSize' ? max : Reflect.get(t, p)) });
  setDevice(proxied(real, { limits }));
  try {
    const t = zeros([max / 4 - 4]);
    await sync();
    t.dispose();
    assert.throws(() => zeros([max / 4 + 1]), /needs 100000004 bytes, but this adapter binds at most 100000000 bytes per buffer/);
  } finally {
    setDevice(real);
  }
});

test('an allocation the driver refuses is reported at the next sync point, naming the tensor', async () => {
  const real = await getDevice();
  // A device whose driver "runs out of memory" for buffers over 1 MiB: the allocation succeeds as
  // an invalid object and the error arrives through the error scope, as a real OOM does.
  const scopes: Array<GPUError | null> = [];
  setDevice(proxied(real, {
    pushErrorScope: () => scopes.push(null),
    popErrorScope: () => Promise.resolve(scopes.pop() ?? null),
    createBuffer: (d: GPUBufferDescriptor) => {
      if (d.size > 1 << 20 && scopes.length > 0) scopes[scopes.length - 1] = { message: 'Out of memory (simulated)' } as GPUError;
      return real.createBuffer({ ...d, size: Math.min(d.size, 1 << 20) });
    },
  }));
  try {
    const t = zeros([512, 1024]); // 2 MiB
    await assert.rejects(sync(), (e: Error) => {
      assert.ok(e instanceof KdgpuError);
      assert.match(e.message, /^out of GPU memory: allocating 2097152 bytes for tensor \[512,1024\] f32 failed \(Out of memory \(simulated\)\); use smaller batches/);
      return true;
    });
    t.dispose();
  } finally {
    setDevice(real);
  }
  assert.deepEqual(await tensor([1, 2]).add(1).toArray(), [2, 3], 'the real device works again');
});

test('training whose logits exceed the limit fails at step 1 naming the tensor, with no checkpoint written', { timeout: 300_000 }, async () => {
  const max = await limit();
  // Logits [8, 32, V] over the limit while the embedding [V, 32] and its optimizer state fit.
  const V = Math.floor(max / (8 * 32 * 4)) + 64;
  if (V * 32 * 4 * 4 > 2 ** 31) return; // an adapter this large would need GiBs of weights for the test
  const config = tinyConfig(work, 'oom', { maxSteps: 4, checkpointEvery: 1 }, {
    model: { type: 'llama', preset: 'tinyLlama', config: { max_position_embeddings: 64, vocab_size: V } },
  });
  const r = kdgpu(['train', config, '--quiet']);
  assert.equal(r.status, 1, r.stderr);
  console.log(r.stderr.split('\n').filter((l) => l.startsWith('kdgpu:')).join('\n'));
  assert.match(r.stderr, new RegExp(`kdgpu: out of GPU memory limits: tensor \\[[0-9,]*${V}\\] f32 needs \\d+ bytes, but this adapter binds at most ${max} bytes per buffer`));
  const ckpt = join(work, 'oom', 'checkpoints');
  assert.deepEqual(existsSync(ckpt) ? readdirSync(ckpt) : [], [], 'no checkpoint, no pointer');
  assert.ok(!existsSync(join(work, 'oom', 'final')));
});
