import { record } from '../autograd.ts';
import { isCpuAdapter } from '../device.ts';
import { dispatch, grid } from '../engine.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import { type BufferType, defineKernel, type Kernel, type ParamValues } from '../kernel.ts';
import { Storage, type DType, wgslType } from '../storage.ts';
import { normAxes, normAxis, numel } from '../shape.ts';
import { Tensor } from '../tensor.ts';

/**
 * Reductions over any set of axes, read through strides (no transpose copy): output row r walks
 * the kept dimensions, element j the reduced ones. Long rows get a 64-lane workgroup each (one
 * tree reduction in workgroup memory); short rows one thread each, since barriers are expensive on
 * CPU adapters.
 */

export type ReduceName = 'sum' | 'max' | 'min';

export interface ReduceDef {
  /** Identity element (WGSL) and combine step. */
  init: (T: string) => string;
  combine: (acc: string, v: string) => string;
  /** d(loss)/dx given x, the kept-dims result y (keepdim shape) and g (keepdim shape). */
  backward: (x: Tensor, y: Tensor, g: Tensor, axes: number[]) => Tensor;
  reference: (values: number[]) => number;
}

export const REDUCE: { readonly [K in ReduceName]: ReduceDef } = {
  sum: {
    init: (T) => `${T}(0)`,
    combine: (a, v) => `${a} + ${v}`,
    backward: (x, _y, g) => g.expand(x.shape),
    reference: (v) => v.reduce((s, x) => s + x, 0),
  },
  // Gradient split evenly among tied extrema (PyTorch's amax/amin rule).
  max: {
    init: (T) => (T === 'f32' ? `bitsToF32(0xff800000u)` : `i32(-2147483648)`),
    combine: (a, v) => `max(${a}, ${v})`,
    backward: (x, y, g, axes) => {
      const m = x.eq(y);
      return g.mul(m).div(m.sum(axes, true));
    },
    reference: (v) => Math.max(...v),
  },
  min: {
    init: (T) => (T === 'f32' ? `bitsToF32(0x7f800000u)` : `i32(2147483647)`),
    combine: (a, v) => `min(${a}, ${v})`,
    backward: (x, y, g, axes) => {
      const m = x.eq(y);
      return g.mul(m).div(m.sum(axes, true));
    },
    reference: (v) => Math.min(...v),
  },
};

const WG = 64;

const MAX_RANK = 8;

// Row r walks the kept dims, element j the reduced ones (shapes and strides, innermost last).
const PARAMS = {
  rows: 'u32', len: 'u32', off: 'u32',
  nk: 'u32', keptShape: ['u32', MAX_RANK], keptStrides: ['u32', MAX_RANK],
  nr: 'u32', redShape: ['u32', MAX_RANK], redStrides: ['u32', MAX_RANK],
} as const;

interface Plan {
  outShape: number[];
  keepShape: number[];
  rows: number;
  len: number;
  params: ParamValues<typeof PARAMS>;
}

function plan(op: string, x: Tensor, axes: number[]): Plan {
  if (x.rank > MAX_RANK) throw new KdgpuError(`${op}: tensors of rank > ${MAX_RANK} are not supported, got ${fmtShape(x.shape)}`);
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const rows = numel(kept.map((i) => x.shape[i]));
  const len = numel(axes.map((i) => x.shape[i]));
  return {
    outShape: kept.map((i) => x.shape[i]),
    keepShape: x.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
    rows,
    len,
    params: {
      rows, len, off: x.offset,
      nk: kept.length, keptShape: kept.map((i) => x.shape[i]), keptStrides: kept.map((i) => x.strides[i]),
      nr: axes.length, redShape: axes.map((i) => x.shape[i]), redStrides: axes.map((i) => x.strides[i]),
    },
  };
}

// Offsets of row r (kept dims) and element j (reduced dims), innermost dim last.
const INDEXING = `fn rowOff(r: u32) -> u32 {
  var rem = r;
  var o = params.off;
  for (var d = params.nk; d > 0u; d--) {
    let dim = params.keptShape[d - 1u];
    o += (rem % dim) * params.keptStrides[d - 1u];
    rem = rem / dim;
  }
  return o;
}
fn elemOff(j: u32) -> u32 {
  let nr = params.nr;
  // One reduced dim (the common case): no div/mod per element.
  if (nr == 1u) { return j * params.redStrides[0]; }
  var rem = j;
  var o = 0u;
  for (var d = nr; d > 0u; d--) {
    let dim = params.redShape[d - 1u];
    o += (rem % dim) * params.redStrides[d - 1u];
    rem = rem / dim;
  }
  return o;
}`;

const kernels = new Map<string, Kernel<{ X: BufferType }, { O: BufferType }, typeof PARAMS>>();

function reduceKernel(kind: string, T: DType, outT: DType, perThread: boolean, init: string, combine: (a: string, v: string) => string, arg: boolean) {
  const key = `reduce:${kind}:${T}:${perThread ? 't' : 'w'}`;
  let k = kernels.get(key);
  if (!k) {
    k = defineKernel({ key, inputs: { X: T }, outputs: { O: outT }, params: PARAMS, body: () => reduceBody(T, perThread, init, combine, arg) });
    kernels.set(key, k);
  }
  return k;
}

function reduceBody(T: DType, perThread: boolean, init: string, combine: (a: string, v: string) => string, arg: boolean): string {
  const t = wgslType(T);
  // argmax keeps (value, index); ties go to the lowest index, like PyTorch/NumPy.
  const better = (v: string, best: string) => `${v} > ${best}`;
  if (perThread) {
    return `${INDEXING}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * ${WG}u;
  if (r >= params.rows) { return; }
  let base = rowOff(r);
  var acc: ${t} = ${init};
  var idx = 0u;
  for (var j = 0u; j < params.len; j++) {
    let v = X[base + elemOff(j)];
    ${arg ? `if (${better('v', 'acc')} || (j == 0u)) { acc = v; idx = j; }` : `acc = ${combine('acc', 'v')};`}
  }
  O[r] = ${arg ? 'i32(idx)' : 'acc'};
}`;
  }
  return `${INDEXING}
var<workgroup> sv: array<${t}, ${WG}>;
var<workgroup> si: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = wid.x + wid.y * nwg.x;
  let valid = r < params.rows;
  var acc: ${t} = ${init};
  var idx = 0xffffffffu;
  if (valid) {
    let base = rowOff(r);
    for (var j = lid.x; j < params.len; j += ${WG}u) {
      let v = X[base + elemOff(j)];
      ${arg ? `if (idx == 0xffffffffu || ${better('v', 'acc')}) { acc = v; idx = j; }` : `acc = ${combine('acc', 'v')};`}
    }
  }
  sv[lid.x] = acc;
  si[lid.x] = idx;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid.x < s) {
      ${
      arg
        ? `let ov = sv[lid.x + s]; let oi = si[lid.x + s];
      if (oi != 0xffffffffu && (si[lid.x] == 0xffffffffu || ov > sv[lid.x] || (ov == sv[lid.x] && oi < si[lid.x]))) { sv[lid.x] = ov; si[lid.x] = oi; }`
        : `sv[lid.x] = ${combine('sv[lid.x]', 'sv[lid.x + s]')};`
    }
    }
    workgroupBarrier();
  }
  if (valid && lid.x == 0u) { O[r] = ${arg ? 'i32(si[0])' : 'sv[0]'}; }
}`;
}

function run(kind: string, x: Tensor, axes: number[], outT: DType, init: string, combine: (a: string, v: string) => string, arg: boolean): { y: Tensor; p: Plan } {
  const p = plan(kind, x, axes);
  const y = Tensor._make(Storage.alloc(p.rows, outT, p.outShape), p.outShape);
  if (p.rows === 0) return { y, p };
  // On a CPU adapter a workgroup's barriers cost more than a long serial loop, so one thread per
  // row pays as soon as there are enough rows to fill the SIMD lanes (e.g. a bias gradient,
  // [512, 1024] summed over rows: 12.7 ms with a workgroup per row). On GPUs, many more.
  const perThread = p.len <= 64 || p.rows >= (isCpuAdapter() ? 64 : 4096);
  const k = reduceKernel(kind, x.dtype, outT, perThread, init, combine, arg);
  dispatch(k, { X: x.storage.buf, O: y.storage.buf }, p.params, perThread ? grid(p.rows, WG) : grid(p.rows, 1));
  return { y, p };
}

/** Sum, max or min over `axis` (one, several, or all when undefined). */
export function reduce(name: ReduceName, x: Tensor, axis: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  x._assertLive(name);
  const axes = normAxes(name, axis, x.rank);
  const def = REDUCE[name];
  if (name !== 'sum' && axes.some((a) => x.shape[a] === 0)) {
    throw new Error(`${name}: cannot reduce over an empty dimension of shape [${x.shape}]`);
  }
  const { y, p } = run(name, x, axes, x.dtype, def.init(wgslType(x.dtype)), def.combine, false);
  const out = keepdim ? y.reshape(p.keepShape) : y;
  if (keepdim) y.dispose();
  const keepShape = p.keepShape;
  return record(out, name, [x], name === 'sum' ? [] : [x, out], (g, s) => {
    const gk = g.reshape(keepShape);
    if (name === 'sum') return [def.backward(x, gk, gk, axes)];
    const yk = s[1].reshape(keepShape);
    return [def.backward(s[0], yk, gk, axes)];
  });
}

/** Index (i32) of the first maximum along `axis`, or of the flattened tensor when omitted. */
export function argmax(x: Tensor, axis: number | undefined, keepdim: boolean): Tensor {
  x._assertLive('argmax');
  const axes = axis === undefined ? [...Array(x.rank).keys()] : [normAxis('argmax', axis, x.rank)];
  const { y, p } = run('argmax', x, axes, 'i32', x.dtype === 'f32' ? `bitsToF32(0xff800000u)` : `i32(-2147483648)`, (a) => a, true);
  if (!keepdim) return y;
  const out = y.reshape(p.keepShape);
  y.dispose();
  return out;
}
