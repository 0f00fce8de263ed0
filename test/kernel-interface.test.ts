/**
 * The declared kernel interface (`defineKernel` in packages/tensor/src/kernel.ts): the engine
 * generates the bindings and `struct Params` and packs host values by name, typed from the
 * declaration. The `@ts-expect-error` lines are checked by `npm run typecheck`: if the dispatch
 * types stopped catching a misspelled or missing parameter, or a misnamed buffer, the directive
 * would be unused and tsc would fail. At run time the same calls must throw, naming the kernel
 * and the name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, KdgpuError, tensor } from '@kdgpu/tensor';
import { dispatch, grid } from '../packages/tensor/src/engine.ts';
import { defineKernel, type ParamDecl, type ParamType } from '../packages/tensor/src/kernel.ts';

await init();

// Every parameter type: a u32 count, an f32, a negative i32, and an array shorter than declared
// (the rest must read as zeros, not as an earlier dispatch's words).
const PROBE = defineKernel({
  key: 'test:kernel-interface:probe',
  inputs: { x: 'f32' },
  outputs: { y: 'f32', z: 'i32' },
  params: { n: 'u32', scale: 'f32', shift: 'i32', table: ['u32', 4] },
  body: () => `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= params.n) { return; }
  y[i] = x[i] * params.scale + f32(params.table[i % 4u]);
  z[i] = params.shift + i32(i);
}`,
});

test('parameters are packed by name and type; a short array reads as zeros', async () => {
  const n = 10;
  const xs = Array.from({ length: n }, (_, i) => i - 4.5);
  const x = tensor(xs);
  const y = tensor(new Float32Array(n));
  const z = tensor(new Int32Array(n));
  // A first dispatch fills the whole table, so that stale words would show in the second.
  dispatch(PROBE, { x: x.storage.buf, y: y.storage.buf, z: z.storage.buf }, { n, scale: 1, shift: 0, table: [9, 9, 9, 9] }, grid(n, 64));
  dispatch(PROBE, { x: x.storage.buf, y: y.storage.buf, z: z.storage.buf }, { n, scale: -0.375, shift: -7, table: [100, 200] }, grid(n, 64));
  const table = [100, 200, 0, 0];
  assert.deepEqual([...(await y.data())], xs.map((v, i) => Math.fround(v * -0.375) + table[i % 4]));
  assert.deepEqual([...(await z.data())], xs.map((_, i) => i - 7));
  for (const t of [x, y, z]) t.dispose();
});

test('a wrong parameter or buffer name fails tsc, and throws at run time naming it', () => {
  const x = tensor([1, 2, 3, 4]);
  const bufs = { x: x.storage.buf, y: x.storage.buf, z: x.storage.buf };
  const ok = { n: 4, scale: 1, shift: 0, table: [] };
  // Misspelled parameter (so `n` is missing too).
  assert.throws(() => dispatch(PROBE, bufs,
    // @ts-expect-error `count` is not a parameter of PROBE
    { count: 4, scale: 1, shift: 0, table: [] }, [1, 1, 1]), (e: unknown) => e instanceof KdgpuError && /kernel test:kernel-interface:probe: parameter 'n'/.test(e.message));
  // Missing parameter.
  assert.throws(() => dispatch(PROBE, bufs,
    // @ts-expect-error `scale` is missing
    { n: 4, shift: 0, table: [] }, [1, 1, 1]), /parameter 'scale' must be a number, got nothing/);
  // An array where a scalar is declared, and a scalar where an array is.
  assert.throws(() => dispatch(PROBE, bufs,
    // @ts-expect-error `scale` is a scalar
    { ...ok, scale: [1] }, [1, 1, 1]), /parameter 'scale' must be a number/);
  assert.throws(() => dispatch(PROBE, bufs,
    // @ts-expect-error `table` is an array
    { ...ok, table: 3 }, [1, 1, 1]), /parameter 'table' must be an array of at most 4 numbers/);
  // Misnamed input buffer.
  assert.throws(() => dispatch(PROBE,
    // @ts-expect-error `input` is not a buffer of PROBE (and `x` is missing)
    { input: x.storage.buf, y: x.storage.buf, z: x.storage.buf },
    ok, [1, 1, 1]), /buffer 'x' missing/);
  // Too many values for an array (only a run-time check: the length is not in the type).
  assert.throws(() => dispatch(PROBE, bufs, { ...ok, table: [1, 2, 3, 4, 5] }, [1, 1, 1]), /'table' has 5 values; at most 4/);
  x.dispose();
});

test('a generated declaration is checked at run time: missing parameters throw before any GPU work', () => {
  // Built programmatically, as the elementwise generator does: the types cannot know the names.
  const params: Record<string, ParamType> = { n: 'u32', k0: 'f32' };
  const k = defineKernel({ key: 'test:kernel-interface:generated', inputs: { a: 'f32' }, outputs: { b: 'f32' }, params: params as ParamDecl, body: () => '' });
  const x = tensor([1]);
  assert.throws(() => dispatch(k, { a: x.storage.buf, b: x.storage.buf }, { n: 1 }, [1, 1, 1]), /generated: parameter 'k0' must be a number, got nothing/);
  x.dispose();
});

test('bad declarations fail where they are written', () => {
  const body = () => '';
  assert.throws(() => defineKernel({ key: 'k', inputs: { x: 'f32' }, outputs: { x: 'f32' }, params: {}, body }), /buffer names repeat/);
  assert.throws(() => defineKernel({ key: 'k', inputs: { var: 'f32' }, outputs: {}, params: {}, body }), /buffer name 'var' is not usable in WGSL/);
  assert.throws(() => defineKernel({ key: 'k', inputs: {}, outputs: { y: 'f32' }, params: { y: 'u32' }, body }), /'y' names both a buffer and a parameter/);
  assert.throws(() => defineKernel({ key: 'k', inputs: {}, outputs: {}, params: { 'bad-name': 'u32' }, body }), /parameter name 'bad-name'/);
  assert.throws(() => defineKernel({ key: 'k', inputs: {}, outputs: {}, params: { a: ['u32', 40], b: ['f32', 25] }, body }), /parameters take 65 words; at most 64/);
  assert.throws(() => defineKernel({ key: 'k', inputs: {}, outputs: {}, params: { a: ['u32', 0] }, body }), /array length 0/);
});

test('the generated WGSL: inputs read-only, outputs read_write, then the parameter struct', () => {
  const code = PROBE.code();
  assert.match(code, /@group\(0\) @binding\(0\) var<storage, read> x: array<f32>;/);
  assert.match(code, /@group\(0\) @binding\(1\) var<storage, read_write> y: array<f32>;/);
  assert.match(code, /@group\(0\) @binding\(2\) var<storage, read_write> z: array<i32>;/);
  assert.match(code, /struct Params \{\n {2}n: u32,\n {2}scale: f32,\n {2}shift: i32,\n {2}table: array<u32, 4>,\n\}/);
  assert.match(code, /@group\(0\) @binding\(3\) var<storage, read> params: Params;/);
  assert.deepEqual([PROBE.nIn, PROBE.nOut, PROBE.words], [1, 2, 7]);
});
