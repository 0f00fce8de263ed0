/**
 * The op table test: every primitive (and each composed op built on them) checked forward against
 * a float64 reference and backward against finite differences of that reference, on small random
 * shapes including broadcasting and non-contiguous views.
 *
 * Tolerances: forward |gpu - ref| <= 1e-4 + 1e-4*|ref| (f32 arithmetic on O(1) values);
 * gradients |gpu - fd| <= 2e-3 + 2e-3*|fd| (central differences with h = 1e-5 in float64, so the
 * error is the GPU's f32 rounding through the backward chain).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BINARY, cat, init, REDUCE, scatterAdd, type Tensor, tensor, tidy, UNARY, where,
  arange, full, KdgpuError, ones, rand, randn, sort, splitSizes, zeros,
} from '@kdgpu/tensor';
import * as R from './helpers/ref.ts';
import type { Nd } from './helpers/ref.ts';

interface Input {
  shape: number[];
  lo?: number;
  hi?: number;
  /** Integer input with values in [0, int). */
  int?: number;
  /** A float input that only feeds a comparison, so it has no gradient. */
  constant?: boolean;
}
interface Row {
  name: string;
  inputs: Input[];
  gpu: (...t: Tensor[]) => Tensor;
  ref: (...x: Nd[]) => Nd;
  /** Check gradients (default: for every float input). */
  grad?: boolean;
}

const rows: Row[] = [];
const U = (shape: number[], lo = -2, hi = 2): Input => ({ shape, lo, hi });

// Unary primitives: contiguous and a transposed (non-contiguous) view.
const unaryDomain: Record<string, [number, number]> = { log: [0.2, 3], sqrt: [0.2, 3], rsqrt: [0.2, 3] };
for (const name of Object.keys(UNARY) as Array<keyof typeof UNARY>) {
  const [lo, hi] = unaryDomain[name] ?? [-2, 2];
  const f = UNARY[name].reference;
  rows.push({ name, inputs: [U([3, 5], lo, hi)], gpu: (x) => (x as unknown as Record<string, () => Tensor>)[name].call(x), ref: (x) => R.map(f, x) });
  rows.push({
    name,
    inputs: [U([4, 3], lo, hi)],
    gpu: (x) => (x.transpose() as unknown as Record<string, () => Tensor>)[name].call(x.transpose()),
    ref: (x) => R.map(f, R.permute(x, [1, 0])),
  });
}

// Binary primitives: same shape, broadcasting both ways, a scalar operand, a strided view.
const binDomain: Record<string, [[number, number], [number, number]]> = {
  div: [[-2, 2], [0.5, 2]],
  pow: [[0.3, 2], [-1.5, 1.5]],
};
for (const name of Object.keys(BINARY) as Array<keyof typeof BINARY>) {
  const [[alo, ahi], [blo, bhi]] = binDomain[name] ?? [[-2, 2], [-2, 2]];
  const f = BINARY[name].reference;
  const call = (a: Tensor, b: Tensor | number) => (a as unknown as Record<string, (o: Tensor | number) => Tensor>)[name].call(a, b);
  const grad = !BINARY[name].compare;
  rows.push({ name, inputs: [U([2, 3], alo, ahi), U([2, 3], blo, bhi)], gpu: call, ref: (a, b) => R.map(f, a, b), grad });
  rows.push({ name, inputs: [U([2, 1, 3], alo, ahi), U([4, 1], blo, bhi)], gpu: call, ref: (a, b) => R.map(f, a, b), grad });
  rows.push({ name, inputs: [U([3, 4], alo, ahi)], gpu: (a) => call(a, 1.25), ref: (a) => R.map((x) => f(x, 1.25), a), grad });
  rows.push({
    name,
    inputs: [U([4, 3], alo, ahi), U([3, 1], blo, bhi)],
    gpu: (a, b) => call(a.transpose(), b.expand([3, 4])),
    ref: (a, b) => R.map(f, R.permute(a, [1, 0]), b),
    grad,
  });
}
// pow with a negative base and integer exponents (WGSL's pow is undefined there).
rows.push({ name: 'pow', inputs: [U([6], -2, 2)], gpu: (a) => a.pow(3), ref: (a) => R.map((x) => x ** 3, a) });
rows.push({ name: 'pow', inputs: [U([6], -2, 2)], gpu: (a) => a.pow(2), ref: (a) => R.map((x) => x ** 2, a) });

rows.push({
  name: 'where',
  inputs: [{ ...U([3, 4]), constant: true }, U([3, 4]), U([4])],
  gpu: (c, a, b) => where(c.gt(0), a, b),
  ref: (c, a, b) => R.map((cv, av, bv) => (cv > 0 ? av : bv), c, a, b),
});

// Reductions over one axis, several axes, all, with keepdim, and over a permuted view.
for (const name of Object.keys(REDUCE) as Array<keyof typeof REDUCE>) {
  const call = (x: Tensor, a?: number | number[], k?: boolean) => (x as unknown as Record<string, (a?: number | number[], k?: boolean) => Tensor>)[name].call(x, a, k);
  const f = REDUCE[name].reference;
  rows.push({ name, inputs: [U([3, 4])], gpu: (x) => call(x, 1), ref: (x) => R.reduce(x, f, [1]) });
  rows.push({ name, inputs: [U([2, 3, 4])], gpu: (x) => call(x, [0, 2], true), ref: (x) => R.reduce(x, f, [0, 2], true) });
  rows.push({ name, inputs: [U([2, 3])], gpu: (x) => call(x), ref: (x) => R.reduce(x, f) });
  rows.push({ name, inputs: [U([5, 3])], gpu: (x) => call(x.transpose(), -1), ref: (x) => R.reduce(R.permute(x, [1, 0]), f, [1]) });
  // A long row takes the workgroup-per-row kernel.
  rows.push({ name, inputs: [U([2, 150])], gpu: (x) => call(x, -1), ref: (x) => R.reduce(x, f, [1]), grad: false });
}
rows.push({
  name: 'argmax',
  inputs: [U([3, 5])],
  gpu: (x) => x.argmax(1),
  ref: (x) => R.reduce(x, (v) => v.indexOf(Math.max(...v)), [1]),
  grad: false,
});
rows.push({ name: 'argmax', inputs: [U([2, 130])], gpu: (x) => x.argmax(-1, true), ref: (x) => R.reduce(x, (v) => v.indexOf(Math.max(...v)), [1], true), grad: false });

// Composed ops.
const lse = (v: number[]) => {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
};
rows.push({ name: 'mean', inputs: [U([3, 4])], gpu: (x) => x.mean(0), ref: (x) => R.reduce(x, (v) => v.reduce((s, y) => s + y, 0) / v.length, [0]) });
rows.push({ name: 'logsumexp', inputs: [U([3, 4], -5, 5)], gpu: (x) => x.logsumexp(-1), ref: (x) => R.reduce(x, lse, [1]) });
rows.push({
  name: 'softmax',
  inputs: [U([3, 4], -5, 5)],
  gpu: (x) => x.softmax(0),
  ref: (x) => {
    const l = R.reduce(x, lse, [0], true);
    return R.map((a, b) => Math.exp(a - b), x, l);
  },
});
rows.push({
  name: 'logSoftmax',
  inputs: [U([3, 4], -5, 5)],
  gpu: (x) => x.logSoftmax(-1),
  ref: (x) => {
    const l = R.reduce(x, lse, [1], true);
    return R.map((a, b) => a - b, x, l);
  },
});

// The fused last-axis kernels (above: softmax on axis 0 and logSoftmax on -1 take the other paths).
rows.push({
  name: 'softmax',
  inputs: [U([3, 70], -5, 5)],
  gpu: (x) => x.softmax(-1),
  ref: (x) => R.map((a, b) => Math.exp(a - b), x, R.reduce(x, lse, [1], true)),
});
rows.push({
  name: 'logSoftmax',
  inputs: [U([5, 3], -5, 5)],
  gpu: (x) => x.transpose().logSoftmax(0),
  ref: (x) => { const t = R.permute(x, [1, 0]); return R.map((a, b) => a - b, t, R.reduce(t, lse, [0], true)); },
});

// matmul: plain, non-multiple-of-tile, batched with broadcast, transposed operands, 1-D.
rows.push({ name: 'matmul', inputs: [U([3, 4]), U([4, 5])], gpu: (a, b) => a.matmul(b), ref: R.matmul });
rows.push({ name: 'matmul', inputs: [U([9, 7]), U([7, 70])], gpu: (a, b) => a.matmul(b), ref: R.matmul });
rows.push({ name: 'matmul', inputs: [U([2, 1, 3, 4]), U([3, 4, 2])], gpu: (a, b) => a.matmul(b), ref: R.matmul });
rows.push({
  name: 'matmul',
  inputs: [U([4, 3]), U([5, 4])],
  gpu: (a, b) => a.transpose().matmul(b.transpose()),
  ref: (a, b) => R.matmul(R.permute(a, [1, 0]), R.permute(b, [1, 0])),
});
rows.push({ name: 'matmul', inputs: [U([3, 1, 5]), U([3, 5, 1])], gpu: (a, b) => a.matmul(b), ref: R.matmul });
rows.push({ name: 'matmul', inputs: [U([1, 5]), U([2, 5, 1])], gpu: (a, b) => a.matmul(b), ref: R.matmul });
rows.push({ name: 'matmul', inputs: [U([4]), U([2, 4, 3])], gpu: (a, b) => a.matmul(b), ref: (a, b) => { const y = R.matmul(R.nd([1, 4], a.data), b); return R.nd([2, 3], y.data); } });

// Movement.
rows.push({ name: 'reshape', inputs: [U([2, 6])], gpu: (x) => x.reshape([3, -1]).mul(1), ref: (x) => R.nd([3, 4], x.data) });
rows.push({ name: 'reshape', inputs: [U([3, 4])], gpu: (x) => x.transpose().reshape([12]), ref: (x) => R.nd([12], R.permute(x, [1, 0]).data) });
rows.push({ name: 'reshape', inputs: [U([4, 3, 2])], gpu: (x) => x.slice(1, 1, 2).reshape([4, 2]).mul(1), ref: (x) => R.nd([4, 2], R.slice(x, 1, 1, 2).data) });
rows.push({ name: 'permute', inputs: [U([2, 3, 4])], gpu: (x) => x.permute([2, 0, 1]).contiguous(), ref: (x) => R.permute(x, [2, 0, 1]) });
rows.push({ name: 'transpose', inputs: [U([2, 3, 4])], gpu: (x) => x.transpose(0, 2).mul(1), ref: (x) => R.permute(x, [2, 1, 0]) });
rows.push({ name: 'expand', inputs: [U([3, 1])], gpu: (x) => x.expand([2, 3, 4]).contiguous(), ref: (x) => R.map((v) => v, x, R.nd([2, 3, 4])) });
rows.push({ name: 'slice', inputs: [U([5, 4])], gpu: (x) => x.slice(0, 1, -1).slice(1, 2).mul(1), ref: (x) => R.slice(R.slice(x, 0, 1, 4), 1, 2, 4) });
rows.push({ name: 'contiguous', inputs: [U([3, 4])], gpu: (x) => x.transpose().contiguous(), ref: (x) => R.permute(x, [1, 0]) });
rows.push({ name: 'cat', inputs: [U([2, 3]), U([2, 1]), U([3, 2])], gpu: (a, b, c) => cat([a, b, c.transpose()], 1), ref: (a, b, c) => R.cat([a, b, R.permute(c, [1, 0])], 1) });
rows.push({ name: 'gather', inputs: [U([3, 5]), { shape: [3, 4], int: 5 }], gpu: (x, i) => x.gather(1, i), ref: (x, i) => R.gather(x, 1, i) });
rows.push({ name: 'indexSelect', inputs: [U([6, 3]), { shape: [7], int: 6 }], gpu: (x, i) => x.indexSelect(0, i), ref: (x, i) => R.gather(x, 0, R.map((v) => v, R.nd([7, 1], i.data), R.nd([7, 3]))) });
rows.push({
  name: 'scatterAdd',
  inputs: [{ shape: [5, 2], int: 3 }, U([5, 2])],
  gpu: (i, s) => scatterAdd([3, 2], 0, i, s),
  ref: (i, s) => R.scatterAdd([3, 2], 0, i, s),
});
rows.push({ name: 'cast', inputs: [U([2, 3], -3, 3)], gpu: (x) => x.cast('i32').cast('f32'), ref: (x) => R.map(Math.trunc, x), grad: false });

// sort: descending and ascending, rows not a power of two, along a middle axis.
const sortRows = (x: Nd, axisLen: number, desc: boolean) => {
  const out = R.nd(x.shape);
  for (let r = 0; r < x.data.length / axisLen; r++) {
    const row = Array.from(x.data.slice(r * axisLen, (r + 1) * axisLen)).sort((a, b) => (desc ? b - a : a - b));
    out.data.set(row, r * axisLen);
  }
  return out;
};
rows.push({ name: 'sort', inputs: [U([3, 7])], gpu: (x) => sort(x).values, ref: (x) => sortRows(x, 7, true) });
rows.push({ name: 'sort', inputs: [U([2, 5])], gpu: (x) => sort(x, { descending: false }).values, ref: (x) => sortRows(x, 5, false) });
rows.push({ name: 'sort', inputs: [U([4, 3])], gpu: (x) => sort(x, { axis: 0 }).values.transpose().contiguous(), ref: (x) => sortRows(R.permute(x, [1, 0]), 4, true) });
rows.push({ name: 'sort', inputs: [U([1, 40])], gpu: (x) => sort(x).indices.cast('f32'), ref: (x) => R.nd([1, 40], Array.from(x.data).map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).map((p) => p[1])), grad: false });

const COVERED_ELSEWHERE = ['rand', 'randn', 'zeros', 'ones', 'full', 'arange'];
const REQUIRED = [
  ...Object.keys(UNARY), ...Object.keys(BINARY), ...Object.keys(REDUCE),
  'argmax', 'where', 'mean', 'logsumexp', 'softmax', 'logSoftmax', 'matmul',
  'reshape', 'permute', 'transpose', 'expand', 'slice', 'contiguous', 'cat', 'gather', 'indexSelect', 'scatterAdd', 'cast', 'sort',
];

test('the op table covers every primitive and listed op', () => {
  const names = new Set(rows.map((r) => r.name));
  const missing = REQUIRED.filter((n) => !names.has(n));
  assert.deepEqual(missing, [], `ops without a row: ${missing.join(', ')}`);
  assert.ok(COVERED_ELSEWHERE.length > 0);
});

function close(gpu: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  assert.equal(gpu.length, ref.length, `${what}: length ${gpu.length} vs ${ref.length}`);
  for (let i = 0; i < ref.length; i++) {
    const g = gpu[i];
    const r = ref[i];
    if (Number.isNaN(r) && Number.isNaN(g)) continue;
    if (r === g) continue;
    assert.ok(Math.abs(g - r) <= atol + rtol * Math.abs(r), `${what}[${i}]: gpu ${g} vs reference ${r}`);
  }
}

let seed = 1;
for (const [k, row] of rows.entries()) {
  test(`op ${row.name} #${k}: ${row.inputs.map((i) => `[${i.shape}]`).join(' ')}`, async () => {
    await init();
    const rnd = R.rng(seed++);
    const values = row.inputs.map((inp) => {
      const n = R.numel(inp.shape);
      const d = new Float64Array(n);
      for (let i = 0; i < n; i++) d[i] = inp.int !== undefined ? Math.floor(rnd() * inp.int) : (inp.lo ?? -2) + rnd() * ((inp.hi ?? 2) - (inp.lo ?? -2));
      // Round to f32 so the reference sees exactly what the GPU sees.
      return R.nd(inp.shape, inp.int !== undefined ? d : Float32Array.from(d));
    });
    const expect = row.ref(...values);
    const wantGrad = row.grad ?? true;
    const xs = values.map((v, i) =>
      tensor(row.inputs[i].int !== undefined ? Int32Array.from(v.data) : Float32Array.from(v.data), {
        shape: v.shape,
        requiresGrad: wantGrad && row.inputs[i].int === undefined && !row.inputs[i].constant,
      }),
    );
    const y = tidy(() => row.gpu(...xs));
    assert.deepEqual([...y.shape], expect.shape, `${row.name}: shape`);
    close(await y.data(), expect.data, 1e-4, 1e-4, `${row.name} forward`);
    if (wantGrad) {
      const w = R.nd(expect.shape);
      for (let i = 0; i < w.data.length; i++) w.data[i] = Math.fround(rnd() * 2 - 1);
      const wt = tensor(Float32Array.from(w.data), { shape: w.shape });
      const loss = tidy(() => row.gpu(...xs).mul(wt).sum());
      loss.backward();
      for (const [i, inp] of row.inputs.entries()) {
        if (inp.int !== undefined || inp.constant) continue;
        const h = 1e-5;
        const fd = new Float64Array(values[i].data.length);
        for (let j = 0; j < fd.length; j++) {
          const L = (delta: number) => {
            const v = values.map((x) => R.nd(x.shape, x.data));
            v[i].data[j] += delta;
            const out = row.ref(...v);
            return out.data.reduce((s, o, m) => s + o * w.data[m], 0);
          };
          fd[j] = (L(h) - L(-h)) / (2 * h);
        }
        assert.ok(xs[i].grad, `${row.name}: input ${i} got no gradient`);
        close(await xs[i].grad!.data(), fd, 2e-3, 2e-3, `${row.name} grad of input ${i}`);
      }
      loss.dispose();
      wt.dispose();
    }
    y.dispose();
    for (const x of xs) x.dispose();
  });
}

test('creation: zeros, ones, full, arange, and seeded rand/randn', async () => {
  await init();
  assert.deepEqual(await zeros([2, 2]).toArray(), [[0, 0], [0, 0]]);
  assert.deepEqual(await ones([3], { dtype: 'i32' }).toArray(), [1, 1, 1]);
  assert.deepEqual(await full([2], 7.5).toArray(), [7.5, 7.5]);
  assert.deepEqual(await arange(4).toArray(), [0, 1, 2, 3]);
  assert.deepEqual(await arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
  assert.deepEqual(await arange(5, 0, -2, { dtype: 'i32' }).toArray(), [5, 3, 1]);
  const a = Array.from(await rand([1000], { seed: 42 }).data());
  const b = Array.from(await rand([1000], { seed: 42 }).data());
  const c = Array.from(await rand([1000], { seed: 43 }).data());
  assert.deepEqual(a, b, 'same seed, same numbers');
  assert.notDeepEqual(a, c);
  assert.ok(a.every((v) => v >= 0 && v < 1));
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `uniform mean ${mean}`);
  const n = Array.from(await randn([4000], { seed: 7, mean: 1, std: 2 }).data());
  const m = n.reduce((s, v) => s + v, 0) / n.length;
  const sd = Math.sqrt(n.reduce((s, v) => s + (v - m) ** 2, 0) / n.length);
  assert.ok(Math.abs(m - 1) < 0.1 && Math.abs(sd - 2) < 0.1, `normal mean ${m} std ${sd}`);
});

test('splitSizes follows torch.tensor_split: the first n mod parts pieces get one more, empty pieces kept', () => {
  assert.deepEqual(splitSizes(10, 3), [4, 3, 3]);
  assert.deepEqual(splitSizes(7, 3), [3, 2, 2]);
  assert.deepEqual(splitSizes(6, 4), [2, 2, 1, 1]);
  assert.deepEqual(splitSizes(9, 3), [3, 3, 3]);
  assert.deepEqual(splitSizes(1024, 8), Array(8).fill(128));
  assert.deepEqual(splitSizes(2, 4), [1, 1, 0, 0]);
  assert.deepEqual(splitSizes(0, 2), [0, 0]);
  assert.throws(() => splitSizes(4, 0), (e: unknown) => e instanceof KdgpuError && /splitSizes: the number of pieces must be a positive integer, got 0/.test(e.message));
  assert.throws(() => splitSizes(4, 1.5), /positive integer, got 1.5/);
  assert.throws(() => splitSizes(-1, 2), /non-negative integer, got -1/);
});
