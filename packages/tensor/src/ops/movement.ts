import { noGrad, record } from '../autograd.ts';
import { dispatch, grid, type Kernel, LINEAR_ID } from '../engine.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import { contiguousStrides, isContiguous, normAxis, numel, viewStrides } from '../shape.ts';
import { type DType, Storage, wgslType } from '../storage.ts';
import { Tensor } from '../tensor.ts';
import { full, sumTo } from './composite.ts';
import { mapElementwise } from './kernel-elementwise.ts';

/**
 * Movement ops. reshape (of a contiguous tensor), permute, transpose, expand and slice are views:
 * they change shape/strides/offset and share storage. cat, gather and scatterAdd have kernels.
 */

const WG = 64;

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
  const t = wgslType(x.dtype);
  const kernel: Kernel = {
    key: `transpose4:${x.dtype}`,
    nIn: 1,
    nOut: 1,
    code: () => `@group(0) @binding(0) var<storage, read> X: array<vec4<${t}>>;
@group(0) @binding(1) var<storage, read_write> Y: array<vec4<${t}>>;
@group(0) @binding(2) var<storage, read> P: array<u32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  // P: [blocks, R / 4, C / 4, offset / 4]; block = (b, rb, cb) with cb fastest.
  let id = ${LINEAR_ID(WG)};
  if (id >= P[0]) { return; }
  let R4 = P[1]; let C4 = P[2];
  let cb = id % C4;
  let rb = (id / C4) % R4;
  let b = id / (C4 * R4);
  // Source [C, R] rows 4cb..4cb+3, vec4 rb; result [R, C] rows 4rb..4rb+3, vec4 cb.
  let s = P[3] + b * R4 * C4 * 4u + cb * 4u * R4 + rb;
  let x0 = X[s]; let x1 = X[s + R4]; let x2 = X[s + 2u * R4]; let x3 = X[s + 3u * R4];
  let d = b * R4 * C4 * 4u + rb * 4u * C4 + cb;
  Y[d] = vec4<${t}>(x0.x, x1.x, x2.x, x3.x);
  Y[d + C4] = vec4<${t}>(x0.y, x1.y, x2.y, x3.y);
  Y[d + 2u * C4] = vec4<${t}>(x0.z, x1.z, x2.z, x3.z);
  Y[d + 3u * C4] = vec4<${t}>(x0.w, x1.w, x2.w, x3.w);
}`,
  };
  const blocks = batch * (R / 4) * (C / 4);
  dispatch(kernel, [x.storage.buf], [y.storage.buf], [blocks, R / 4, C / 4, x.offset / 4], grid(blocks, WG));
  return y;
}

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

const STRIDED = (name: string, base: string, shapeAt: string) => `fn ${name}(i: u32) -> u32 {
  var rem = i;
  var o = P[${base}];
  for (var d = P[1]; d > 0u; d--) {
    let dim = P[${shapeAt} + d - 1u];
    o += (rem % dim) * P[${base} + d];
    rem = rem / dim;
  }
  return o;
}`;

function catKernel(T: DType): Kernel {
  const t = wgslType(T);
  // P: [n, rank, shape(rank), offset, strides(rank), inner*dimIn, inner*dimOut, inner*axisOffset]
  return {
    key: `cat:${T}`,
    nIn: 1,
    nOut: 1,
    code: () => `@group(0) @binding(0) var<storage, read> X: array<${t}>;
@group(0) @binding(1) var<storage, read_write> O: array<${t}>;
@group(0) @binding(2) var<storage, read> P: array<u32>;
${STRIDED('src', '2u + P[1]', '2u')}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${LINEAR_ID(WG)};
  if (i >= P[0]) { return; }
  let b = 3u + 2u * P[1];
  let outer = i / P[b];
  let rem = i % P[b];
  O[outer * P[b + 1u] + P[b + 2u] + rem] = X[src(i)];
}`,
  };
}

/** Concatenates tensors along `axis`. */
export function cat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new KdgpuError('cat: needs at least one tensor');
  const r = xs[0].rank;
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
  const inner = numel(shape.slice(a + 1));
  let off = 0;
  for (const x of xs) {
    const n = x.size;
    if (n > 0) {
      const params = [n, r, ...x.shape, x.offset, ...x.strides, inner * x.shape[a], inner * dimOut, inner * off];
      dispatch(catKernel(x.dtype), [x.storage.buf], [y.storage.buf], params, grid(n, WG));
    }
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

function gatherKernel(T: DType): Kernel {
  const t = wgslType(T);
  // P: [n, rank, outShape(rank), idxOff, idxStrides(rank), xOff, xStrides(rank), axis, axisLen]
  return {
    key: `gather:${T}`,
    nIn: 2,
    nOut: 1,
    code: () => `@group(0) @binding(0) var<storage, read> X: array<${t}>;
@group(0) @binding(1) var<storage, read> I: array<i32>;
@group(0) @binding(2) var<storage, read_write> O: array<${t}>;
@group(0) @binding(3) var<storage, read> P: array<u32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${LINEAR_ID(WG)};
  if (i >= P[0]) { return; }
  let r = P[1];
  let ib = 2u + r;
  let xb = ib + 1u + r;
  let axis = P[xb + 1u + r];
  var rem = i;
  var io = P[ib];
  var xo = P[xb];
  var ac = 0u;
  for (var d = r; d > 0u; d--) {
    let dim = P[1u + d];
    let c = rem % dim;
    rem = rem / dim;
    io += c * P[ib + d];
    if (d - 1u != axis) { xo += c * P[xb + d]; }
  }
  let k = I[io];
  if (k < 0 || u32(k) >= P[xb + 2u + r]) {
    // Out-of-range index: NaN (f32) / -1 (i32) makes the error visible downstream.
    O[i] = ${T === 'f32' ? 'bitsToF32(0x7fc00000u)' : '-1'};
    return;
  }
  O[i] = X[xo + u32(k) * P[xb + 1u + axis]];
}`,
  };
}

/** out[p] = x[p with coordinate `axis` replaced by idx[p]] (torch.gather); idx is i32. */
export function gather(x: Tensor, axis: number, idx: Tensor): Tensor {
  x._assertLive('gather');
  idx._assertLive('gather');
  const a = normAxis('gather', axis, x.rank);
  if (idx.dtype !== 'i32') throw new KdgpuError(`gather: indices must be i32, got ${idx.dtype} (use .cast('i32'))`);
  if (idx.rank !== x.rank || idx.shape.some((d, i) => i !== a && d > x.shape[i])) {
    throw new KdgpuError(`gather: index shape ${fmtShape(idx.shape)} must have the rank of ${fmtShape(x.shape)} and be no larger outside axis ${a}`);
  }
  const shape = [...idx.shape];
  const y = Tensor._make(Storage.alloc(numel(shape), x.dtype, shape), shape);
  const n = y.size;
  if (n > 0) {
    const params = [n, x.rank, ...shape, idx.offset, ...idx.strides, x.offset, ...x.strides, a, x.shape[a]];
    dispatch(gatherKernel(x.dtype), [x.storage.buf, idx.storage.buf], [y.storage.buf], params, grid(n, WG));
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

function scatterKernel(T: DType): Kernel {
  const t = wgslType(T);
  // One thread per output fiber (all coordinates but `axis`): zero it, then add the source
  // fiber in index order, so the result is deterministic without float atomics.
  // P: [fibers, rank, axis, outShape(rank), idxShape(rank), idxOff, idxStrides(rank), srcOff, srcStrides(rank)]
  return {
    key: `scatterAdd:${T}`,
    nIn: 2,
    nOut: 1,
    code: () => `@group(0) @binding(0) var<storage, read> S: array<${t}>;
@group(0) @binding(1) var<storage, read> I: array<i32>;
@group(0) @binding(2) var<storage, read_write> O: array<${t}>;
@group(0) @binding(3) var<storage, read> P: array<u32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let f = ${LINEAR_ID(WG)};
  if (f >= P[0]) { return; }
  let r = P[1];
  let axis = P[2];
  let osh = 3u;
  let ish = 3u + r;
  let ib = 3u + 2u * r;
  let sb = ib + 1u + r;
  var rem = f;
  var oo = 0u;
  var io = P[ib];
  var so = P[sb];
  var inside = true;
  var ostride = 1u;
  var oAxisStride = 1u;
  for (var d = r; d > 0u; d--) {
    let dd = d - 1u;
    let dim = P[osh + dd];
    if (dd == axis) { oAxisStride = ostride; ostride *= dim; continue; }
    let c = rem % dim;
    rem = rem / dim;
    oo += c * ostride;
    ostride *= dim;
    if (c >= P[ish + dd]) { inside = false; }
    io += c * P[ib + d];
    so += c * P[sb + d];
  }
  let olen = P[osh + axis];
  for (var k = 0u; k < olen; k++) { O[oo + k * oAxisStride] = ${t}(0); }
  if (!inside) { return; }
  for (var j = 0u; j < P[ish + axis]; j++) {
    let k = I[io + j * P[ib + 1u + axis]];
    if (k >= 0 && u32(k) < olen) {
      O[oo + u32(k) * oAxisStride] += S[so + j * P[sb + 1u + axis]];
    }
  }
}`,
  };
}

/**
 * A zero tensor of `shape` with `src[p]` added at `p` with coordinate `axis` replaced by
 * `idx[p]` (torch.scatter_add on zeros): the backward of gather and of the embedding lookup.
 * Deterministic (fixed summation order). Out-of-range indices are skipped.
 */
export function scatterAdd(shape: readonly number[], axis: number, idx: Tensor, src: Tensor): Tensor {
  src._assertLive('scatterAdd');
  idx._assertLive('scatterAdd');
  const a = normAxis('scatterAdd', axis, shape.length);
  if (idx.dtype !== 'i32') throw new KdgpuError(`scatterAdd: indices must be i32, got ${idx.dtype}`);
  if (idx.rank !== shape.length || src.rank !== shape.length || idx.shape.some((d, i) => d !== src.shape[i] || (i !== a && d > shape[i]))) {
    throw new KdgpuError(`scatterAdd: index ${fmtShape(idx.shape)} and source ${fmtShape(src.shape)} must match and fit in ${fmtShape(shape)} outside axis ${a}`);
  }
  const y = Tensor._make(Storage.alloc(numel(shape), src.dtype, shape), [...shape]);
  const fibers = numel(shape) / Math.max(1, shape[a]);
  if (numel(shape) > 0) {
    const params = [fibers, shape.length, a, ...shape, ...idx.shape, idx.offset, ...idx.strides, src.offset, ...src.strides];
    dispatch(scatterKernel(src.dtype), [src.storage.buf, idx.storage.buf], [y.storage.buf], params, grid(fibers, WG));
  }
  return record(y, 'scatterAdd', [null, src], [idx], (g, s) => [null, gather(g, a, s[0])]);
}

export { isContiguous };
