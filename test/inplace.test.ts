/**
 * customGrad (a tensor whose gradient a function defines, with saved tensors owned by the graph)
 * and the in-place ops (empty, writeSlice, scaleRows) that let a caller build a large result piece
 * by piece: values against plain-loop references, gradients, memory (saved tensors are released
 * after backward and when a graph is dropped without one), and the errors that keep in-place writes
 * away from anything autograd can see.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { customGrad, empty, init, KdgpuError, memoryStats, noGrad, randn, scaleRows, type Tensor, tensor, tidy, writeSlice } from '@kdgpu/tensor';
import * as R from './helpers/ref.ts';

/** Seeded floats in [-2, 2) of `shape`, as data and as a tensor. */
function data(shape: number[], seed: number): Float32Array {
  const r = R.rng(seed);
  return Float32Array.from({ length: R.numel(shape) }, () => Math.round((r() * 4 - 2) * 1000) / 1000);
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])), `${what}: element ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

const isKdgpu = (re: RegExp) => (e: unknown) => e instanceof KdgpuError && re.test(e.message);

// ---- customGrad ----

test('customGrad: the value of one tensor, the gradient of a function, for a leaf input', async () => {
  await init();
  const x = tensor(data([2, 3], 1), { shape: [2, 3], requiresGrad: true });
  const w = tensor(data([2, 3], 2), { shape: [2, 3] });
  const c = tensor(data([2, 3], 3), { shape: [2, 3] });
  const value = tensor([[10, 20, 30], [40, 50, 60]]);
  const y = customGrad(value, [x], [w], (g, [sw]) => [g.mul(sw)]);
  assert.ok(y.requiresGrad);
  assert.deepEqual(await y.toArray(), [[10, 20, 30], [40, 50, 60]]);
  tidy(() => y.mul(c).sum()).backward();
  const ref = Array.from(data([2, 3], 2), (v, i) => v * data([2, 3], 3)[i]);
  close((await x.grad!.data()) as Float32Array, ref, 'd/dx = c·w');
  for (const t of [x, w, c, value, y]) t.dispose();
});

test('customGrad: gradients flow on through a non-leaf input and accumulate over several uses', async () => {
  await init();
  const x = tensor([1, -2, 3], { requiresGrad: true });
  const h = x.mul(3); // not a leaf: the gradient must go on through mul's backward
  const value = tensor([0, 0, 0]);
  // h is used twice by one node (gradients g and 2g) and x once more outside it (5 per element).
  const y = customGrad(value, [h, h], [], (g) => [g, g.mul(2)]);
  tidy(() => y.sum().add(x.mul(5).sum())).backward();
  assert.deepEqual(await x.grad!.toArray(), [3 * 3 + 5, 3 * 3 + 5, 3 * 3 + 5]);
  // Two customGrad results over the same leaf, summed: their gradients add up.
  x.zeroGrad();
  const a = customGrad(value, [x], [], (g) => [g.mul(2)]);
  const b = customGrad(value, [x], [], (g) => [g.mul(-7)]);
  tidy(() => a.add(b).sum()).backward();
  assert.deepEqual(await x.grad!.toArray(), [-5, -5, -5]);
  // An input that needs no gradient gets none (a null from backward is fine too).
  const z = tensor([1, 1, 1]);
  const d = customGrad(value, [z, x], [], (g) => [null, g]);
  x.zeroGrad();
  d.sum().backward();
  assert.deepEqual(await x.grad!.toArray(), [1, 1, 1]);
  for (const t of [x, h, value, y, a, b, z, d]) t.dispose();
});

test('customGrad: saved tensors belong to the graph, released after backward or when it is dropped', async () => {
  await init();
  const x = tensor(data([64, 64], 4), { shape: [64, 64], requiresGrad: true });
  const base = memoryStats();
  const savedBytes = () => memoryStats().liveBytes - base.liveBytes;

  // Dropped without backward: disposing the result (and what was built on it) frees the saved tensor.
  {
    const s = randn([64, 64], { seed: 5 });
    const v = tensor([1]);
    const y = customGrad(v, [x], [s], (g, [k]) => [k.mul(g)]);
    s.dispose(); // the caller's handle; the node keeps its own
    v.dispose();
    assert.ok(savedBytes() >= 64 * 64 * 4, 'the saved tensor is still alive');
    const loss = y.mul(2);
    y.dispose();
    assert.ok(savedBytes() >= 64 * 64 * 4, 'still alive through the downstream graph');
    loss.dispose();
    const now = memoryStats();
    assert.equal(now.liveBytes, base.liveBytes, 'live bytes back to baseline');
    assert.equal(now.liveTensors, base.liveTensors, 'live tensors back to baseline');
  }
  // After backward the saved tensor is gone at once; only the gradient is left.
  {
    const s = randn([64, 64], { seed: 6 });
    const v = tensor([0]);
    const y = customGrad(v, [x], [s], (g, [k]) => [k.mul(g)]);
    s.dispose();
    v.dispose();
    y.backward();
    y.dispose();
    assert.equal(savedBytes(), 64 * 64 * 4, 'only x.grad is left');
    x.zeroGrad();
    assert.equal(memoryStats().liveBytes, base.liveBytes);
    assert.equal(memoryStats().liveTensors, base.liveTensors);
  }
  // Under noGrad nothing is recorded or saved.
  {
    const s = randn([64, 64], { seed: 7 });
    const v = tensor([0]);
    const y = noGrad(() => customGrad(v, [x], [s], () => [null]));
    assert.equal(y.requiresGrad, false);
    for (const t of [s, v, y]) t.dispose();
    assert.equal(memoryStats().liveBytes, base.liveBytes);
  }
  x.dispose();
});

test('customGrad: backward may return a saved tensor, modified in place, for one or several inputs', async () => {
  await init();
  const x = tensor(data([4, 5], 8), { shape: [4, 5], requiresGrad: true });
  const z = tensor(data([4, 5], 9), { shape: [4, 5], requiresGrad: true });
  const base = memoryStats();
  const G0 = data([4, 5], 10);
  const up = [1, -2, 0.5, 3];
  {
    // The chunked-loss pattern: per-row values whose gradient is upstream_row · G_row, G saved and
    // scaled in place in backward, then handed on as the gradient itself.
    const G = tensor(G0, { shape: [4, 5] });
    const v = tensor([1, 2, 3, 4]);
    const y = customGrad(v, [x], [G], (g, [k]) => [scaleRows(k, g)], 'rows');
    G.dispose();
    v.dispose();
    const loss = tidy(() => y.mul(tensor(up)).sum());
    loss.backward();
    for (const t of [loss, y]) t.dispose();
    close((await x.grad!.data()) as Float32Array, Array.from(G0, (g, i) => g * up[Math.floor(i / 5)]), 'x.grad = up·G');
    // The gradient is G's own buffer: nothing else is left alive.
    assert.equal(memoryStats().liveBytes - base.liveBytes, x.grad!.storage.buf.size);
  }
  {
    // One saved tensor returned for two inputs: each gets its own handle, and nothing is freed twice.
    const G = tensor(G0, { shape: [4, 5] });
    x.zeroGrad();
    const v = tensor([0]);
    const y = customGrad(v, [x, z], [G], (_g, [k]) => [k, k]);
    G.dispose();
    v.dispose();
    y.backward();
    y.dispose();
    close((await x.grad!.data()) as Float32Array, G0, 'x.grad = G');
    close((await z.grad!.data()) as Float32Array, G0, 'z.grad = G');
    x.zeroGrad();
    z.zeroGrad();
    assert.equal(memoryStats().liveBytes, base.liveBytes, 'no leak');
    assert.equal(memoryStats().liveTensors, base.liveTensors, 'no leaked handle');
  }
  for (const t of [x, z]) t.dispose();
});

test('customGrad: a wrong gradient shape or count, and a second backward, are errors', async () => {
  await init();
  const x = tensor([1, 2, 3], { requiresGrad: true });
  const v = tensor([0]);
  const bad = customGrad(v, [x], [], () => [tensor([1, 2])], 'myOp');
  assert.throws(() => bad.backward(), isKdgpu(/myOp: backward returned a gradient of shape \[2\] for input 0, whose shape is \[3\]/));
  const few = customGrad(v, [x], [], () => [], 'myOp');
  assert.throws(() => few.backward(), isKdgpu(/myOp: backward must return an array of 1 gradient/));
  const ok = customGrad(v, [x], [], (g) => [g.expand([3])], 'myOp');
  ok.backward();
  assert.throws(() => ok.backward(), /backward through "myOp" a second time/);
  for (const t of [x, v, bad, few, ok]) t.dispose();
});

// ---- in-place ops ----

/** Plain-loop reference of writeSlice on row-major data. */
function refWriteSlice(dst: Float32Array, shape: number[], axis: number, start: number, src: Float32Array, srcShape: number[]): Float32Array {
  const out = Float32Array.from(dst);
  const ds = R.strides(shape);
  const ss = R.strides(srcShape);
  for (let i = 0; i < src.length; i++) {
    let o = 0;
    for (let d = 0; d < shape.length; d++) {
      const c = Math.floor(i / ss[d]) % srcShape[d];
      o += (d === axis ? c + start : c) * ds[d];
    }
    out[o] = src[i];
  }
  return out;
}

test('writeSlice writes a slice along each axis of a 3-D tensor, from contiguous and strided sources', async () => {
  await init();
  const shape = [3, 4, 5];
  for (let axis = 0; axis < 3; axis++) {
    for (const [start, len] of [[0, 1], [1, 2], [shape[axis] - 2, 2]]) {
      for (const strided of [false, true]) {
        const srcShape = shape.map((d, i) => (i === axis ? len : d));
        const base = data(shape, 20 + axis);
        const srcData = data(srcShape, 30 + start);
        const dst = tensor(base, { shape });
        // A strided source: the transpose of a contiguous tensor of the transposed shape.
        const src = strided
          ? tidy(() => {
              const tShape = [srcShape[2], srcShape[1], srcShape[0]];
              const k = tensor(Float32Array.from(R.permute(R.nd(srcShape, srcData), [2, 1, 0]).data), { shape: tShape });
              return k.permute([2, 1, 0]);
            })
          : tensor(srcData, { shape: srcShape });
        assert.equal(src.isContiguous, !strided);
        const r = writeSlice(dst, axis - (axis === 2 ? 3 : 0), start, src);
        assert.equal(r, dst, 'returns the target');
        close((await dst.data()) as Float32Array, refWriteSlice(base, shape, axis, start, srcData, srcShape), `axis ${axis} start ${start} len ${len}${strided ? ' strided' : ''}`, 0);
        for (const t of [dst, src]) t.dispose();
      }
    }
  }
});

test('empty + writeSlice fills a tensor piece by piece; an i32 tensor too', async () => {
  await init();
  const g = empty([5, 3]);
  assert.deepEqual(g.shape, [5, 3]);
  assert.equal(g.dtype, 'f32');
  for (const [s, e] of [[0, 2], [2, 3], [3, 5]]) {
    const piece = tensor(Float32Array.from({ length: (e - s) * 3 }, (_, i) => s * 3 + i), { shape: [e - s, 3] });
    writeSlice(g, 0, s, piece);
    piece.dispose();
  }
  assert.deepEqual(Array.from(await g.data()), Array.from({ length: 15 }, (_, i) => i));
  const k = empty([2, 4], 'i32');
  const p = tensor([[7], [8]], { dtype: 'i32' });
  for (let j = 0; j < 4; j++) writeSlice(k, 1, j, p);
  assert.deepEqual(await k.toArray(), [[7, 7, 7, 7], [8, 8, 8, 8]]);
  assert.throws(() => empty([2, -1]), isKdgpu(/empty: invalid shape \[2,-1\]/));
  for (const t of [g, k, p]) t.dispose();
});

test('writeSlice: shape, dtype and range errors name both shapes and the bounds', async () => {
  await init();
  const dst = tensor(data([3, 4, 5], 40), { shape: [3, 4, 5] });
  const src = tensor(data([3, 2, 5], 41), { shape: [3, 2, 5] });
  assert.throws(() => writeSlice(dst, 2, 0, src), isKdgpu(/writeSlice: the source \[3,2,5\] must have the shape of the target \[3,4,5\] outside axis 2/));
  assert.throws(() => writeSlice(dst, 1, 3, src), isKdgpu(/writeSlice: 2 position\(s\) from start 3 do not fit in axis 1 of the target \[3,4,5\] \(start must be an integer in 0\.\.2\)/));
  assert.throws(() => writeSlice(dst, 1, -1, src), isKdgpu(/from start -1 do not fit/));
  assert.throws(() => writeSlice(dst, 1, 0.5, src), isKdgpu(/start must be an integer/));
  assert.throws(() => writeSlice(dst, 3, 0, src), isKdgpu(/writeSlice: axis 3 is out of range for a tensor of rank 3/));
  const flat = tensor([1, 2]);
  assert.throws(() => writeSlice(dst, 0, 0, flat), isKdgpu(/must have the shape of the target/));
  const ints = tensor(new Int32Array(30), { shape: [3, 2, 5] });
  assert.throws(() => writeSlice(dst, 1, 0, ints), isKdgpu(/writeSlice: the source is i32 but the target is f32/));
  // Nothing was written by the failed calls.
  close((await dst.data()) as Float32Array, data([3, 4, 5], 40), 'untouched', 0);
  for (const t of [dst, src, flat, ints]) t.dispose();
});

test('scaleRows multiplies each row in place, by contiguous and broadcast (stride-0) scales', async () => {
  await init();
  const shape = [2, 3, 4];
  const base = data(shape, 50);
  const sData = data([2, 3], 51);
  const dst = tensor(base, { shape });
  const s = tensor(sData, { shape: [2, 3] });
  assert.equal(scaleRows(dst, s), dst);
  close((await dst.data()) as Float32Array, Array.from(base, (v, i) => v * sData[Math.floor(i / 4)]), 'contiguous scales');
  // An upstream gradient is often an expanded view: [3] -> [2, 3] with stride 0.
  const d2 = tensor(base, { shape });
  const row = tensor([2, -1, 0.5]);
  const ex = row.reshape([1, 3]).expand([2, 3]);
  scaleRows(d2, ex);
  close((await d2.data()) as Float32Array, Array.from(base, (v, i) => v * [2, -1, 0.5][Math.floor(i / 4) % 3]), 'expanded scales');
  // A target that is an offset view whose base is gone (it owns its storage alone).
  const big = tensor(base, { shape: [6, 4] });
  const tail = big.slice(0, 4);
  big.dispose();
  const s4 = tensor([1, 10]);
  scaleRows(tail, s4);
  close((await tail.data()) as Float32Array, Array.from(base.slice(16), (v, i) => v * [1, 10][Math.floor(i / 4)]), 'offset target');
  // A 1-D target takes a scalar.
  const v = tensor([1, 2, 3]);
  const k = tensor(3);
  assert.deepEqual(k.shape, []);
  scaleRows(v, k);
  assert.deepEqual(await v.toArray(), [3, 6, 9]);
  assert.throws(() => scaleRows(dst, s4), isKdgpu(/scaleRows: the scales \[2\] must have the target's shape \[2,3,4\] without its last axis/));
  for (const t of [dst, s, d2, row, ex, tail, s4, v, k]) t.dispose();
});

test('in-place ops refuse targets autograd can see, shared storage, and sources that need a gradient', async () => {
  await init();
  const leaf = tensor(data([2, 3], 60), { shape: [2, 3], requiresGrad: true });
  const src = tensor(data([1, 3], 61), { shape: [1, 3] });
  const s = tensor([1, 2]);
  assert.throws(() => writeSlice(leaf, 0, 0, src), isKdgpu(/writeSlice: the target \[2,3\] requires grad .* in-place writes are not recorded by autograd/));
  assert.throws(() => scaleRows(leaf, s), isKdgpu(/scaleRows: the target \[2,3\] requires grad/));
  // A result of a recorded op has a node: refused, even under noGrad.
  const y = leaf.mul(2);
  assert.throws(() => noGrad(() => scaleRows(y, s)), isKdgpu(/scaleRows: the target \[2,3\] requires grad/));
  // A tensor saved by an autograd node (here for mul's backward) shares its storage: writing it
  // would corrupt the gradient, so it is refused, under recording and without.
  const c = tensor(data([2, 3], 62), { shape: [2, 3] });
  const z = leaf.mul(c);
  assert.throws(() => scaleRows(c, s), isKdgpu(/scaleRows: the target \[2,3\] shares its storage with 1 other handle.*under gradient recording a saved tensor would corrupt the gradients/));
  assert.throws(() => noGrad(() => writeSlice(c, 0, 0, src)), isKdgpu(/writeSlice: the target \[2,3\] shares its storage/));
  const up = tensor(data([2, 3], 63), { shape: [2, 3] });
  z.backward(up);
  close((await leaf.grad!.data()) as Float32Array, Array.from(data([2, 3], 62), (v, i) => v * data([2, 3], 63)[i]), 'the saved tensor was not touched');
  z.dispose();
  up.dispose();
  // Its graph gone, c is its own again; a view of it shares it.
  scaleRows(c, s);
  const view = c.reshape([3, 2]);
  assert.throws(() => scaleRows(c, s), isKdgpu(/shares its storage/));
  view.dispose();
  // Non-contiguous targets; sources sharing the target's buffer; sources that need a gradient.
  const t = tensor(data([3, 2], 64), { shape: [3, 2] });
  const tt = t.transpose();
  t.dispose();
  assert.throws(() => scaleRows(tt, s), isKdgpu(/scaleRows: the target \[2,3\] is not contiguous/));
  assert.throws(() => writeSlice(c, 0, 0, c), isKdgpu(/writeSlice: the source \[2,3\] shares the target's storage/));
  const g = tensor([1, 2], { requiresGrad: true });
  assert.throws(() => scaleRows(c, g), isKdgpu(/scaleRows: the scale \[2\] requires grad, but in-place ops are not recorded/));
  noGrad(() => scaleRows(c, g)); // fine when nothing is recorded
  for (const x of [leaf, src, s, y, c, tt, g]) x.dispose();
});
