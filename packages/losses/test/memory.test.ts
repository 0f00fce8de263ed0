/**
 * The chunked path's memory floor: peak GPU bytes of one forward + backward (measured as the bench
 * does) are one [N, V] buffer (the student gradient) plus one chunk's intermediates, and nothing is
 * left behind, with or without a backward pass.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init, memoryStats, randn, resetPeakBytes, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import { forwardKL, LOSSES, type LossName } from '../src/index.ts';

const N = 64;
const V = 1000;

/** Peak bytes over what was live before one forward + backward of `name` on `s`. */
function peakOf(name: LossName, s: Tensor, t: Tensor, labels: Tensor, chunks: number): number {
  s.zeroGrad();
  resetPeakBytes();
  const before = memoryStats().liveBytes;
  const loss = LOSSES[name](s, t, labels, { chunks } as never);
  loss.backward();
  loss.dispose();
  return memoryStats().peakBytes - before;
}

test('chunked peak memory is one [N, V] buffer plus one chunk of the unchunked intermediates', async () => {
  await init();
  const s = randn([N, V], { seed: 1 });
  s.requiresGrad = true;
  const t = tidy(() => randn([N, V], { seed: 2 }).mul(2));
  const labels = tensor(Int32Array.from({ length: N }, (_, i) => (i % 20 === 0 ? -100 : (i * 7919) % V)));
  for (const name of ['forwardKL', 'crossEntropy', 'jsDivergence'] as const) {
    const whole = peakOf(name, s, t, labels, 1);
    const grad = s.grad!.storage.buf.size; // one [N, V] buffer (its pool size class)
    for (const chunks of [8, 16]) {
      const chunked = peakOf(name, s, t, labels, chunks);
      // The chunks' rows are 1/chunks of the whole (and so are their pool size classes here); the
      // slack covers per-token [n] tensors. The floor before customGrad was two [N, V] buffers.
      const limit = grad + whole / chunks + 0.02 * grad;
      assert.ok(chunked <= limit, `${name} in ${chunks} chunks: peak ${chunked} bytes > ${limit} (one [N, V] buffer is ${grad}, unchunked peak ${whole})`);
      // forwardKL's unchunked peak is 7 [N, V] buffers: 1 + 7/8 in 8 chunks, 1 + 7/16 in 16.
      if (name === 'forwardKL') assert.ok(chunked < (chunks === 8 ? 2 : 1.5) * grad, `forwardKL in ${chunks} chunks: peak ${chunked} bytes (one [N, V] buffer is ${grad})`);
    }
  }
  for (const x of [s, t, labels]) x.dispose();
});

test('a chunked loss frees its saved gradient buffer with the graph, and after backward leaves only student.grad', async () => {
  await init();
  const s = randn([N, V], { seed: 3 });
  s.requiresGrad = true;
  const t = randn([N, V], { seed: 4 });
  const base = memoryStats();
  const dropped = forwardKL(s, t, null, { chunks: 8 });
  assert.ok(memoryStats().liveBytes - base.liveBytes >= N * V * 4, 'the gradient buffer is held by the graph');
  dropped.dispose();
  assert.equal(memoryStats().liveBytes, base.liveBytes, 'dropped without backward: back to baseline');
  assert.equal(memoryStats().liveTensors, base.liveTensors);
  const loss = forwardKL(s, t, null, { chunks: 8 });
  loss.backward();
  loss.dispose();
  assert.equal(memoryStats().liveBytes - base.liveBytes, s.grad!.storage.buf.size, 'after backward: student.grad only');
  s.zeroGrad();
  assert.equal(memoryStats().liveBytes, base.liveBytes);
  for (const x of [s, t]) x.dispose();
});
