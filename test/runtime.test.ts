/**
 * Runtime behaviour: memory stays flat over a long training loop, a training step reads nothing
 * back, scopes free what they should, and bad input fails before any GPU work with a message that
 * names the op and the shapes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engineStats, init, KdgpuError, keep, memoryStats, noGrad, profileDispatches, randn, sync, type Tensor, tensor, tidy, zeros } from '@kdgpu/tensor';

function mlp(seed: number) {
  const w1 = randn([16, 32], { seed, std: 0.3 });
  const w2 = randn([32, 4], { seed: seed + 1, std: 0.3 });
  const b1 = zeros([32]);
  for (const p of [w1, w2, b1]) p.requiresGrad = true;
  return [w1, b1, w2];
}

function step(params: Tensor[], x: Tensor, y: Tensor, lr: number): Tensor {
  const [w1, b1, w2] = params;
  return tidy(() => {
    const loss = x.matmul(w1).add(b1).relu().matmul(w2).sub(y).pow(2).mean();
    loss.backward();
    noGrad(() => {
      for (const p of params) {
        p.assign(p.sub(p.grad!.mul(lr)));
        p.zeroGrad();
      }
    });
    return loss;
  });
}

test('a 1,000-step training loop holds live GPU memory flat and learns', async () => {
  await init();
  const params = mlp(1);
  const x = randn([64, 16], { seed: 10 });
  const y = tidy(() => x.slice(1, 0, 4).mul(2).tanh());
  let first = NaN;
  let at10: ReturnType<typeof memoryStats> | null = null;
  for (let i = 0; i < 1000; i++) {
    const loss = step(params, x, y, 0.1);
    if (i === 0) first = await loss.item();
    if (i === 999) {
      const last = await loss.item();
      assert.ok(last < first * 0.5, `loss fell from ${first} to ${last}`);
    }
    loss.dispose();
    if (i === 10) at10 = memoryStats();
  }
  const end = memoryStats();
  assert.equal(end.liveTensors, at10!.liveTensors, 'live tensors');
  assert.equal(end.liveBuffers, at10!.liveBuffers, 'live buffers');
  assert.equal(end.liveBytes, at10!.liveBytes, 'live bytes');
  // The pool does not grow either: buffers are reused step after step.
  assert.equal(end.pooledBytes + end.liveBytes, at10!.pooledBytes + at10!.liveBytes, 'pool + live bytes');
  for (const t of [...params, x, y]) t.dispose();
});

test('a forward + backward + update step issues no readback', async () => {
  await init();
  const params = mlp(3);
  const x = randn([8, 16], { seed: 11 });
  const y = randn([8, 4], { seed: 12 });
  const before = engineStats();
  for (let i = 0; i < 3; i++) step(params, x, y, 0.05).dispose();
  const after = engineStats();
  assert.equal(after.readbacks, before.readbacks, 'readbacks during training steps');
  assert.ok(after.dispatches > before.dispatches, 'work was recorded');
  for (const t of [...params, x, y]) t.dispose();
});

test('engineStats counts tensor handles: one per op output, one per view, none for a rejected op', async () => {
  await init();
  const a = randn([4, 6], { seed: 1 });
  const b = randn([4, 6], { seed: 2 });
  const s0 = engineStats().tensorsCreated;
  const c = a.add(b);
  assert.equal(engineStats().tensorsCreated - s0, 1, 'a.add(b) creates its output');
  const v = c.reshape([6, 4]);
  assert.equal(engineStats().tensorsCreated - s0, 2, 'a view is a handle too');
  assert.throws(() => a.matmul(b));
  assert.equal(engineStats().tensorsCreated - s0, 2, 'nothing for a rejected op');
  for (const t of [a, b, c, v]) t.dispose();
});

test('waiting for the GPU does not spin the event loop (dawn.node polls through setImmediate)', async () => {
  await init();
  // Unthrottled, dawn.node ticks ~130 times per ms of wait and holds a CPU core the software
  // adapter's threads need (seen: 85k-102k calls in a 660-700 ms wait; throttled: <= 140 in 330-490 ms).
  const a = randn([512, 512], { seed: 1 });
  const g = globalThis as { setImmediate?: (fn: (...args: unknown[]) => void, ...args: unknown[]) => unknown };
  const native = g.setImmediate;
  let calls = 0;
  if (native) g.setImmediate = (fn, ...args) => (calls++, native(fn, ...args));
  const counting = g.setImmediate;
  try {
    for (let j = 0; j < 30; j++) tidy(() => void a.matmul(a));
    const t0 = performance.now();
    await sync();
    const ms = performance.now() - t0;
    assert.ok(calls <= 20 + 5 * ms, `${calls} setImmediate calls in a ${ms.toFixed(0)} ms wait`);
    assert.equal(g.setImmediate, counting, 'the global is restored after the wait');
  } finally {
    g.setImmediate = native;
    a.dispose();
  }
});

test('profileDispatches: GPU time per kernel of the work a function records, largest first', async () => {
  await init();
  const a = randn([256, 256], { seed: 3 });
  const prof = await profileDispatches(() => {
    tidy(() => {
      a.matmul(a).matmul(a);
      a.add(a);
    });
  });
  const mm = prof.find((k) => k.kernel.startsWith('matmul:'));
  const add = prof.find((k) => k.kernel.includes(':add:'));
  assert.ok(mm && add, `kernels seen: ${prof.map((k) => k.kernel).join(', ')}`);
  assert.equal(mm.count, 2);
  assert.equal(add.count, 1);
  assert.equal(prof.reduce((n, k) => n + k.count, 0), 3, 'one entry per dispatch, nothing else');
  for (let i = 1; i < prof.length; i++) assert.ok(prof[i - 1]!.ms >= prof[i]!.ms, 'sorted by time');
  assert.ok(mm.ms > add.ms, `two 256³ matmuls (${mm.ms.toFixed(3)} ms) take longer than one add (${add.ms.toFixed(3)} ms)`);
  const byGrid = await profileDispatches(() => tidy(() => void a.matmul(a)), { byGrid: true });
  assert.match(byGrid[0]!.kernel, /^matmul:.* \[\d+x\d+x1\] \(256,256,256,/);
  a.dispose();
});

test('tidy disposes intermediates but keeps what it returns and what was kept', async () => {
  await init();
  const base = memoryStats().liveTensors;
  let kept: Tensor | null = null;
  const out = tidy(() => {
    const a = tensor([1, 2, 3]);
    const b = a.mul(2);
    kept = keep(b.add(1));
    return { sum: b.sum(), list: [b.neg()] };
  });
  assert.equal(memoryStats().liveTensors, base + 3);
  assert.equal(await out.sum.item(), 12);
  assert.deepEqual(await out.list[0].toArray(), [-2, -4, -6]);
  assert.deepEqual(await kept!.toArray(), [3, 5, 7]);
  for (const t of [out.sum, out.list[0], kept!]) t.dispose();
  assert.equal(memoryStats().liveTensors, base);
});

test('backward after tidy works; a second backward through a freed graph is refused', async () => {
  await init();
  const w = tensor([1, 2, 3], { requiresGrad: true });
  const loss = tidy(() => w.mul(w).sum());
  loss.backward();
  assert.deepEqual(await w.grad!.toArray(), [2, 4, 6]);
  assert.throws(() => loss.backward(), /a second time/);
  w.dispose();
  loss.dispose();
});

test('gradients accumulate across backward calls and flow through shared subexpressions', async () => {
  await init();
  const x = tensor([[1, -2], [3, 4]], { requiresGrad: true });
  for (let i = 0; i < 2; i++) {
    const y = x.mul(3);
    y.add(y).sum().backward();
  }
  assert.deepEqual(await x.grad!.toArray(), [[12, 12], [12, 12]]);
  x.dispose();
});

test('shape and dtype errors name the op and both shapes, before any GPU work', async () => {
  await init();
  const a = tensor([[1, 2, 3], [4, 5, 6]]);
  const b = tensor([[1, 2], [3, 4]]);
  const before = engineStats().dispatches;
  assert.throws(() => a.matmul(a), (e: Error) => e instanceof KdgpuError && /matmul: shapes \[2,3\] and \[2,3\] do not agree on the inner dimension \(3 vs 2\)/.test(e.message));
  assert.throws(() => a.add(b), /add: shapes \[2,3\] and \[2,2\] cannot be broadcast/);
  assert.throws(() => a.reshape([4, 2]), /reshape: cannot reshape \[2,3\] \(6 elements\) to \[4,2\]/);
  assert.throws(() => a.sum(2), /sum: axis 2 is out of range for a tensor of rank 2/);
  assert.throws(() => a.gather(1, tensor([[0]])), /gather: indices must be i32/);
  assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
  assert.equal(engineStats().dispatches, before, 'no dispatch for rejected ops');
  a.dispose();
  assert.throws(() => a.add(1), /disposed tensor \[2,3\]/);
  b.dispose();
});

test('requiresGrad only on float leaves', async () => {
  await init();
  const i = tensor([1, 2], { dtype: 'i32' });
  assert.throws(() => (i.requiresGrad = true), /float tensor/);
  const w = tensor([1], { requiresGrad: true });
  const y = w.mul(2);
  assert.throws(() => (y.requiresGrad = false), /leaf/);
  assert.equal(noGrad(() => w.mul(2)).requiresGrad, false);
  for (const t of [i, w, y]) t.dispose();
});

test('reshape is a view (no kernel) whenever the strides allow it', async () => {
  await init();
  const x = randn([8, 4, 3, 2, 5], { seed: 1 });
  const s = x.slice(2, 0, 1);
  const before = engineStats().dispatches;
  const v = s.reshape([8, 4, 2, 5]);
  const w = x.transpose(0, 1).reshape([4, 8, 30]);
  assert.equal(engineStats().dispatches, before, 'no copy kernel');
  assert.equal(v.storage, x.storage);
  assert.equal(w.storage, x.storage);
  const m = x.transpose(3, 4).reshape([-1]);
  assert.notEqual(m.storage, x.storage, 'an incompatible layout is copied');
  for (const t of [x, s, v, w, m]) t.dispose();
});

test('softmax and log-softmax of a row of -inf give NaN, as PyTorch', async () => {
  await init();
  const x = tensor([[-Infinity, -Infinity], [0, -Infinity]]);
  const p = await x.softmax(-1).data();
  const l = await x.logSoftmax(-1).data();
  assert.ok(Number.isNaN(p[0]) && Number.isNaN(p[1]));
  assert.deepEqual([p[2], p[3]], [1, 0]);
  assert.ok(Number.isNaN(l[0]) && Number.isNaN(l[1]));
  assert.deepEqual([l[2], l[3]], [0, -Infinity]);
  x.dispose();
});

test('transposed copies (4x4-block kernel and the general path) match the reference', async () => {
  await init();
  // [.., R, C] views of contiguous [.., C, R] tensors: multiples of 4 take the block kernel,
  // others (and offsets not a multiple of 4) the general strided copy.
  for (const [shape, lo] of [[[8, 12], 0], [[2, 3, 16, 4], 0], [[3, 8, 4], 1], [[5, 8], 0], [[2, 6, 5], 1], [[1, 4, 8], 0]] as Array<[number[], number]>) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, (_, i) => i * 0.5 - 3);
    const base = tensor(data, { shape });
    const x = lo ? base.slice(0, lo) : base; // a slice along the first axis has an offset
    const y = x.transpose(-2, -1).contiguous();
    const [C, R] = x.shape.slice(-2);
    const got = (await y.data()) as Float32Array;
    const off = lo * (n / shape[0]);
    const batch = x.size / (R * C);
    const want: number[] = [];
    for (let b = 0; b < batch; b++) for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) want.push(data[off + b * C * R + c * R + r]);
    assert.deepEqual([...got], want, `shape ${JSON.stringify(shape)} from ${lo}`);
    for (const t of [base, x, y]) t.dispose();
  }
});
