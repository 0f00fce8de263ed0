import { record } from '../autograd.ts';
import { isCpuAdapter } from '../device.ts';
import { dispatch, grid, type Kernel } from '../engine.ts';
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

interface Plan {
  outShape: number[];
  keepShape: number[];
  rows: number;
  len: number;
  params: number[];
}

function plan(x: Tensor, axes: number[]): Plan {
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const rows = numel(kept.map((i) => x.shape[i]));
  const len = numel(axes.map((i) => x.shape[i]));
  // [rows, len, offset, nk, (shape, stride) x nk, nr, (shape, stride) x nr]
  const params = [rows, len, x.offset, kept.length];
  for (const i of kept) params.push(x.shape[i], x.strides[i]);
  params.push(axes.length);
  for (const i of axes) params.push(x.shape[i], x.strides[i]);
  return {
    outShape: kept.map((i) => x.shape[i]),
    keepShape: x.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
    rows,
    len,
    params,
  };
}

// Offsets of row r (kept dims) and element j (reduced dims), innermost dim last.
const INDEXING = `fn rowOff(r: u32) -> u32 {
  let nk = P[3];
  var rem = r;
  var o = P[2];
  for (var d = nk; d > 0u; d--) {
    let dim = P[4u + 2u * (d - 1u)];
    o += (rem % dim) * P[5u + 2u * (d - 1u)];
    rem = rem / dim;
  }
  return o;
}
fn elemOff(j: u32) -> u32 {
  let b = 4u + 2u * P[3];
  let nr = P[b];
  // One reduced dim (the common case): no div/mod per element.
  if (nr == 1u) { return j * P[b + 2u]; }
  var rem = j;
  var o = 0u;
  for (var d = nr; d > 0u; d--) {
    let dim = P[b + 1u + 2u * (d - 1u)];
    o += (rem % dim) * P[b + 2u + 2u * (d - 1u)];
    rem = rem / dim;
  }
  return o;
}`;

function reduceKernel(kind: string, T: DType, outT: DType, perThread: boolean, init: string, combine: (a: string, v: string) => string, arg: boolean): Kernel {
  const t = wgslType(T);
  const head = `@group(0) @binding(0) var<storage, read> X: array<${t}>;
@group(0) @binding(1) var<storage, read_write> O: array<${wgslType(outT)}>;
@group(0) @binding(2) var<storage, read> P: array<u32>;
${INDEXING}`;
  // argmax keeps (value, index); ties go to the lowest index, like PyTorch/NumPy.
  const better = (v: string, best: string) => `${v} > ${best}`;
  if (perThread) {
    return {
      key: `reduce:${kind}:${T}:t`,
      nIn: 1,
      nOut: 1,
      code: () => `${head}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * ${WG}u;
  if (r >= P[0]) { return; }
  let base = rowOff(r);
  var acc: ${t} = ${init};
  var idx = 0u;
  for (var j = 0u; j < P[1]; j++) {
    let v = X[base + elemOff(j)];
    ${arg ? `if (${better('v', 'acc')} || (j == 0u)) { acc = v; idx = j; }` : `acc = ${combine('acc', 'v')};`}
  }
  O[r] = ${arg ? 'i32(idx)' : 'acc'};
}`,
    };
  }
  return {
    key: `reduce:${kind}:${T}:w`,
    nIn: 1,
    nOut: 1,
    code: () => `${head}
var<workgroup> sv: array<${t}, ${WG}>;
var<workgroup> si: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = wid.x + wid.y * nwg.x;
  let valid = r < P[0];
  var acc: ${t} = ${init};
  var idx = 0xffffffffu;
  if (valid) {
    let base = rowOff(r);
    for (var j = lid.x; j < P[1]; j += ${WG}u) {
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
}`,
  };
}

function run(kind: string, x: Tensor, axes: number[], outT: DType, init: string, combine: (a: string, v: string) => string, arg: boolean): { y: Tensor; p: Plan } {
  const p = plan(x, axes);
  const y = Tensor._make(Storage.alloc(p.rows, outT, p.outShape), p.outShape);
  if (p.rows === 0) return { y, p };
  // On a CPU adapter a workgroup's barriers cost more than a long serial loop, so one thread per
  // row pays as soon as there are enough rows to fill the SIMD lanes (e.g. a bias gradient,
  // [512, 1024] summed over rows: 12.7 ms with a workgroup per row). On GPUs, many more.
  const perThread = p.len <= 64 || p.rows >= (isCpuAdapter() ? 64 : 4096);
  const k = reduceKernel(kind, x.dtype, outT, perThread, init, combine, arg);
  dispatch(k, [x.storage.buf], [y.storage.buf], p.params, perThread ? grid(p.rows, WG) : grid(p.rows, 1));
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
