import { noGrad, record } from '../autograd.ts';
import { copyBuffer, dispatch, grid, LINEAR_ID } from '../engine.ts';
import { defineKernel } from '../kernel.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import { contiguousStrides, isContiguous, normAxis, numel, viewStrides } from '../shape.ts';
import { type DType, Storage, wgslType } from '../storage.ts';
import { Tensor } from '../tensor.ts';
import { full, sumTo } from './broadcast.ts';
import { copySlice } from './inplace.ts';
import { mapElementwise } from './kernel-elementwise.ts';

/**
 * Movement ops. reshape (of a contiguous tensor), permute, transpose, expand and slice are views:
 * they change shape/strides/offset and share storage. cat, gather and scatterAdd have kernels.
 */

const WG = 64;
const MAX_RANK = 8;

/** A contiguous copy (or `x` itself when already contiguous). */
export function contiguous(x: Tensor): Tensor {
  x._assertLive('contiguous');
  if (x.isContiguous && x.offset === 0) return x;
  return copy(x);
}

/** A contiguous copy with its own storage. */
export function copy(x: Tensor): Tensor {
  x._assertLive('copy');
  const y = transposedCopy(x) ?? mapElementwise('copy', [x], x.shape, x.dtype, x.dtype, 'v0');
  return record(y, 'copy', [x], [], (g) => [g]);
}

/**
 * The commonest copy of all, `x.transpose(-2, -1).contiguous()` of a contiguous tensor (every
 * x @ W^T backward, attention's K^T), in 4x4 blocks: each invocation reads four vec4 rows of the
 * source and writes four vec4 rows of the result, instead of one element through a div/mod per
 * dimension. Null when `x` is not such a view or a dimension is not a multiple of 4.
 */
function transposedCopy(x: Tensor): Tensor | null {
  if (x.rank < 2) return null;
  const [R, C] = x.shape.slice(-2);
  const src = [...x.shape.slice(0, -2), C, R];
  const expect = contiguousStrides(src);
  [expect[x.rank - 2], expect[x.rank - 1]] = [expect[x.rank - 1], expect[x.rank - 2]];
  if (R % 4 !== 0 || C % 4 !== 0 || x.offset % 4 !== 0 || !x.strides.every((st, i) => st === expect[i] || x.shape[i] === 1)) return null;
  const batch = numel(x.shape.slice(0, -2));
  const y = Tensor._make(Storage.alloc(x.size, x.dtype, x.shape), x.shape);
  if (x.size === 0) return y;
  const blocks = batch * (R / 4) * (C / 4);
  dispatch(TRANSPOSE4[x.dtype], { X: x.storage.buf, Y: y.storage.buf }, { blocks, R4: R / 4, C4: C / 4, off4: x.offset / 4 }, grid(blocks, WG));
  return y;
}

const transpose4 = (T: DType) =>
  defineKernel({
    key: `transpose4:${T}`,
    inputs: { X: VEC4[T] },
    outputs: { Y: VEC4[T] },
    params: { blocks: 'u32', R4: 'u32', C4: 'u32', off4: 'u32' },
    body: () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  // Block = (b, rb, cb) with cb fastest; R4, C4: the result's rows and columns over 4.
  let id = ${LINEAR_ID(WG)};
  if (id >= params.blocks) { return; }
  let R4 = params.R4; let C4 = params.C4;
  let cb = id % C4;
  let rb = (id / C4) % R4;
  let b = id / (C4 * R4);
  // Source [C, R] rows 4cb..4cb+3, vec4 rb; result [R, C] rows 4rb..4rb+3, vec4 cb.
  let s = params.off4 + b * R4 * C4 * 4u + cb * 4u * R4 + rb;
  let x0 = X[s]; let x1 = X[s + R4]; let x2 = X[s + 2u * R4]; let x3 = X[s + 3u * R4];
  let d = b * R4 * C4 * 4u + rb * 4u * C4 + cb;
  Y[d] = vec4<${wgslType(T)}>(x0.x, x1.x, x2.x, x3.x);
  Y[d + C4] = vec4<${wgslType(T)}>(x0.y, x1.y, x2.y, x3.y);
  Y[d + 2u * C4] = vec4<${wgslType(T)}>(x0.z, x1.z, x2.z, x3.z);
  Y[d + 3u * C4] = vec4<${wgslType(T)}>(x0.w, x1.w, x2.w, x3.w);
}`,
  });
const VEC4 = { f32: 'vec4f', i32: 'vec4i' } as const;
const TRANSPOSE4 = { f32: transpose4('f32'), i32: transpose4('i32') } as const;

/** Converts to another dtype (f32 -> i32 truncates toward zero). */
export function cast(x: Tensor, dtype: DType): Tensor {
  x._assertLive('cast');
  if (x.dtype === dtype) return x;
  const y = mapElementwise('cast', [x], x.shape, x.dtype, dtype, 'v0');
  return record(y, 'cast', [x], [], (g) => [g]);
}

/** Same data, new shape; one dimension may be -1. A view when `x` is contiguous. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  x._assertLive('reshape');
  const n = x.size;
  const out = [...shape];
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const rest = numel(out.filter((_, i) => i !== neg));
    if (rest === 0 || n % rest !== 0) throw new KdgpuError(`reshape: cannot infer -1 in ${fmtShape(shape)} for ${n} elements (from ${fmtShape(x.shape)})`);
    out[neg] = n / rest;
  }
  if (out.some((d) => !Number.isInteger(d) || d < 0) || numel(out) !== n) {
    throw new KdgpuError(`reshape: cannot reshape ${fmtShape(x.shape)} (${n} elements) to ${fmtShape(shape)} (${numel(out)} elements)`);
  }
  // A view whenever the layout allows (contiguous runs of dimensions), else a contiguous copy.
  const st = x.isContiguous ? contiguousStrides(out) : viewStrides(x.shape, x.strides, out);
  const src = st ? x : noGrad(() => copy(x));
  const y = src._view(out, st ?? contiguousStrides(out), src.offset);
  if (src !== x) src.dispose();
  const inShape = x.shape;
  return record(y, 'reshape', [x], [], (g) => [g.reshape(inShape)]);
}

/** Reorders dimensions (a view). */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  x._assertLive('permute');
  const d = dims.map((a) => normAxis('permute', a, x.rank));
  if (d.length !== x.rank || new Set(d).size !== d.length) {
    throw new KdgpuError(`permute: dims ${fmtShape(dims)} are not a permutation of 0..${x.rank - 1} for shape ${fmtShape(x.shape)}`);
  }
  const y = x._view(d.map((i) => x.shape[i]), d.map((i) => x.strides[i]), x.offset);
  const inv = new Array<number>(d.length);
  d.forEach((src, i) => (inv[src] = i));
  return record(y, 'permute', [x], [], (g) => [g.permute(inv)]);
}

/** Swaps two dimensions (a view). */
export function transpose(x: Tensor, a: number, b: number): Tensor {
  const dims = [...Array(x.rank).keys()];
  const i = normAxis('transpose', a, x.rank);
  const j = normAxis('transpose', b, x.rank);
  [dims[i], dims[j]] = [dims[j], dims[i]];
  return permute(x, dims);
}

/** Broadcasts size-1 dimensions to `shape` (a view with stride 0); -1 keeps a dimension. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  x._assertLive('expand');
  const lead = shape.length - x.rank;
  if (lead < 0) throw new KdgpuError(`expand: target ${fmtShape(shape)} has fewer dimensions than ${fmtShape(x.shape)}`);
  const outShape = shape.map((s, i) => (i >= lead && s === -1 ? x.shape[i - lead] : s));
  const strides = outShape.map((s, i) => {
    if (i < lead) return 0;
    const d = x.shape[i - lead];
    if (d === s) return x.strides[i - lead];
    if (d === 1) return 0;
    throw new KdgpuError(`expand: cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)} (dimension ${i} is ${d}, not 1)`);
  });
  const y = x._view(outShape, strides, x.offset);
  const inShape = x.shape;
  return record(y, 'expand', [x], [], (g) => [sumTo(g, inShape)]);
}

/** Elements `start..end-1` along `axis` (a view); negative indices count from the end. */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  x._assertLive('slice');
  const a = normAxis('slice', axis, x.rank);
  const n = x.shape[a];
  const s = Math.min(Math.max(start < 0 ? start + n : start, 0), n);
  const e = Math.min(Math.max(end === undefined ? n : end < 0 ? end + n : end, s), n);
  const shape = x.shape.map((d, i) => (i === a ? e - s : d));
  const y = x._view(shape, x.strides, x.offset + s * x.strides[a]);
  const inShape = x.shape;
  return record(y, 'slice', [x], [], (g) => {
    const parts: Tensor[] = [];
    if (s > 0) parts.push(full(inShape.map((d, i) => (i === a ? s : d)), 0));
    parts.push(g);
    if (e < n) parts.push(full(inShape.map((d, i) => (i === a ? n - e : d)), 0));
    return [parts.length === 1 ? g : cat(parts, a)];
  });
}

/** Concatenates tensors along `axis`. */
export function cat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new KdgpuError('cat: needs at least one tensor');
  const r = xs[0].rank;
  if (r > MAX_RANK) throw new KdgpuError(`cat: tensors of rank > ${MAX_RANK} are not supported, got ${fmtShape(xs[0].shape)}`);
  const a = normAxis('cat', axis, r);
  for (const x of xs) {
    x._assertLive('cat');
    if (x.rank !== r || x.shape.some((d, i) => i !== a && d !== xs[0].shape[i]) || x.dtype !== xs[0].dtype) {
      throw new KdgpuError(`cat: shapes ${xs.map((t) => fmtShape(t.shape) + ' ' + t.dtype).join(', ')} differ outside axis ${a} (or in dtype)`);
    }
  }
  const dimOut = xs.reduce((s, x) => s + x.shape[a], 0);
  const shape = xs[0].shape.map((d, i) => (i === a ? dimOut : d));
  const y = Tensor._make(Storage.alloc(numel(shape), xs[0].dtype, shape), shape);
  let off = 0;
  // Pieces that are each one run of memory, placed one after another in the result (the axis is
  // the first one larger than 1: stacking weight matrices by rows), are buffer copies, not dispatches.
  const runs = shape.slice(0, a).every((d) => d === 1) && xs.every((x) => x.isContiguous);
  const inner = numel(shape.slice(a + 1));
  for (const x of xs) {
    if (!runs) copySlice(x, y, a, off);
    else if (x.size > 0) copyBuffer(x.storage.buf, x.offset * 4, y.storage.buf.gpu, off * inner * 4, x.size * 4);
    off += x.shape[a];
  }
  const sizes = xs.map((x) => x.shape[a]);
  return record(y, 'cat', xs, [], (g) => {
    let o = 0;
    return sizes.map((s) => {
      const part = slice(g, a, o, o + s);
      o += s;
      return part;
    });
  });
}

// One thread per output element: its coordinates index `idx`, and `x` with coordinate `axis`
// replaced by the index read.
const gatherKernel = (T: DType) =>
  defineKernel({
    key: `gather:${T}`,
    inputs: { X: T, I: 'i32' },
    outputs: { O: T },
    params: {
      n: 'u32', rank: 'u32', shape: ['u32', MAX_RANK],
      idxOff: 'u32', idxStrides: ['u32', MAX_RANK], xOff: 'u32', xStrides: ['u32', MAX_RANK], axis: 'u32', axisLen: 'u32',
    },
    body: () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${LINEAR_ID(WG)};
  if (i >= params.n) { return; }
  let axis = params.axis;
  var rem = i;
  var io = params.idxOff;
  var xo = params.xOff;
  for (var d = params.rank; d > 0u; d--) {
    let dim = params.shape[d - 1u];
    let c = rem % dim;
    rem = rem / dim;
    io += c * params.idxStrides[d - 1u];
    if (d - 1u != axis) { xo += c * params.xStrides[d - 1u]; }
  }
  let k = I[io];
  if (k < 0 || u32(k) >= params.axisLen) {
    // Out-of-range index: NaN (f32) / -1 (i32) makes the error visible downstream.
    O[i] = ${T === 'f32' ? 'bitsToF32(0x7fc00000u)' : '-1'};
    return;
  }
  O[i] = X[xo + u32(k) * params.xStrides[axis]];
}`,
  });
const GATHER = { f32: gatherKernel('f32'), i32: gatherKernel('i32') } as const;

/** out[p] = x[p with coordinate `axis` replaced by idx[p]] (torch.gather); idx is i32. */
export function gather(x: Tensor, axis: number, idx: Tensor): Tensor {
  x._assertLive('gather');
  idx._assertLive('gather');
  const a = normAxis('gather', axis, x.rank);
  if (x.rank > MAX_RANK) throw new KdgpuError(`gather: tensors of rank > ${MAX_RANK} are not supported, got ${fmtShape(x.shape)}`);
  if (idx.dtype !== 'i32') throw new KdgpuError(`gather: indices must be i32, got ${idx.dtype} (use .cast('i32'))`);
  if (idx.rank !== x.rank || idx.shape.some((d, i) => i !== a && d > x.shape[i])) {
    throw new KdgpuError(`gather: index shape ${fmtShape(idx.shape)} must have the rank of ${fmtShape(x.shape)} and be no larger outside axis ${a}`);
  }
  const shape = [...idx.shape];
  const y = Tensor._make(Storage.alloc(numel(shape), x.dtype, shape), shape);
  const n = y.size;
  if (n > 0) {
    const params = { n, rank: x.rank, shape, idxOff: idx.offset, idxStrides: idx.strides, xOff: x.offset, xStrides: x.strides, axis: a, axisLen: x.shape[a] };
    dispatch(GATHER[x.dtype], { X: x.storage.buf, I: idx.storage.buf, O: y.storage.buf }, params, grid(n, WG));
  }
  const inShape = x.shape;
  return record(y, 'gather', [x], [idx], (g, s) => [scatterAdd(inShape, a, s[0], g)]);
}

/** Rows (or slices along `axis`) picked by a 1-D i32 index: the embedding lookup. */
export function indexSelect(x: Tensor, axis: number, idx: Tensor): Tensor {
  const a = normAxis('indexSelect', axis, x.rank);
  if (idx.rank !== 1) throw new KdgpuError(`indexSelect: index must be 1-D, got ${fmtShape(idx.shape)} (reshape([-1]) first)`);
  const shape = x.shape.map((d, i) => (i === a ? idx.shape[0] : d));
  const view = idx.reshape(shape.map((d, i) => (i === a ? d : 1))).expand(shape);
  const y = gather(x, a, view);
  view.dispose();
  return y;
}

// One thread per output fiber (all coordinates but `axis`): zero it, then add the source
// fiber in index order, so the result is deterministic without float atomics.
const scatterKernel = (T: DType) =>
  defineKernel({
    key: `scatterAdd:${T}`,
    inputs: { S: T, I: 'i32' },
    outputs: { O: T },
    params: {
      fibers: 'u32', rank: 'u32', axis: 'u32', outShape: ['u32', MAX_RANK], idxShape: ['u32', MAX_RANK],
      idxOff: 'u32', idxStrides: ['u32', MAX_RANK], srcOff: 'u32', srcStrides: ['u32', MAX_RANK],
    },
    body: () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let f = ${LINEAR_ID(WG)};
  if (f >= params.fibers) { return; }
  let axis = params.axis;
  var rem = f;
  var oo = 0u;
  var io = params.idxOff;
  var so = params.srcOff;
  var inside = true;
  var ostride = 1u;
  var oAxisStride = 1u;
  for (var d = params.rank; d > 0u; d--) {
    let dd = d - 1u;
    let dim = params.outShape[dd];
    if (dd == axis) { oAxisStride = ostride; ostride *= dim; continue; }
    let c = rem % dim;
    rem = rem / dim;
    oo += c * ostride;
    ostride *= dim;
    if (c >= params.idxShape[dd]) { inside = false; }
    io += c * params.idxStrides[dd];
    so += c * params.srcStrides[dd];
  }
  let olen = params.outShape[axis];
  for (var k = 0u; k < olen; k++) { O[oo + k * oAxisStride] = ${wgslType(T)}(0); }
  if (!inside) { return; }
  for (var j = 0u; j < params.idxShape[axis]; j++) {
    let k = I[io + j * params.idxStrides[axis]];
    if (k >= 0 && u32(k) < olen) {
      O[oo + u32(k) * oAxisStride] += S[so + j * params.srcStrides[axis]];
    }
  }
}`,
  });
const SCATTER = { f32: scatterKernel('f32'), i32: scatterKernel('i32') } as const;

/**
 * A zero tensor of `shape` with `src[p]` added at `p` with coordinate `axis` replaced by
 * `idx[p]` (torch.scatter_add on zeros): the backward of gather and of the embedding lookup.
 * Deterministic (fixed summation order). Out-of-range indices are skipped.
 */
export function scatterAdd(shape: readonly number[], axis: number, idx: Tensor, src: Tensor): Tensor {
  src._assertLive('scatterAdd');
  idx._assertLive('scatterAdd');
  const a = normAxis('scatterAdd', axis, shape.length);
  if (shape.length > MAX_RANK) throw new KdgpuError(`scatterAdd: tensors of rank > ${MAX_RANK} are not supported, got ${fmtShape(shape)}`);
  if (idx.dtype !== 'i32') throw new KdgpuError(`scatterAdd: indices must be i32, got ${idx.dtype}`);
  if (idx.rank !== shape.length || src.rank !== shape.length || idx.shape.some((d, i) => d !== src.shape[i] || (i !== a && d > shape[i]))) {
    throw new KdgpuError(`scatterAdd: index ${fmtShape(idx.shape)} and source ${fmtShape(src.shape)} must match and fit in ${fmtShape(shape)} outside axis ${a}`);
  }
  const y = Tensor._make(Storage.alloc(numel(shape), src.dtype, shape), [...shape]);
  const fibers = numel(shape) / Math.max(1, shape[a]);
  if (numel(shape) > 0) {
    const params = {
      fibers, rank: shape.length, axis: a, outShape: shape, idxShape: idx.shape,
      idxOff: idx.offset, idxStrides: idx.strides, srcOff: src.offset, srcStrides: src.strides,
    };
    dispatch(SCATTER[src.dtype], { S: src.storage.buf, I: idx.storage.buf, O: y.storage.buf }, params, grid(fibers, WG));
  }
  return record(y, 'scatterAdd', [null, src], [idx], (g, s) => [null, gather(g, a, s[0])]);
}

export { isContiguous };
