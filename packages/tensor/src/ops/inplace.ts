import { isGradEnabled } from '../autograd.ts';
import { dispatch, grid, type Kernel, LINEAR_ID } from '../engine.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import { checkShape, normAxis, numel } from '../shape.ts';
import { type DType, Storage, wgslType } from '../storage.ts';
import { Tensor } from '../tensor.ts';

/**
 * In-place ops, for code that builds a large result piece by piece without holding the pieces and
 * the result at once (`cat` needs both): allocate with `empty`, fill with `writeSlice`, rescale
 * with `scaleRows`. They are not recorded by autograd, so they refuse a target that autograd could
 * see: one that requires grad, or whose storage is shared (a view, `assign`, or a tensor an
 * autograd node saved for its backward), since the write would silently change those too.
 *
 * WebGPU cannot bind one buffer both read-only and read-write in one dispatch, so the target is
 * bound as the output only (read_write, also read by `scaleRows`), and a source sharing its buffer is
 * an error.
 */

const WG = 64;
const MAX_RANK = 8;

/**
 * A contiguous tensor of `shape` with unspecified contents (a pooled buffer may hold an earlier
 * tensor's data): no fill pass, for a buffer every element of which is about to be written.
 */
export function empty(shape: readonly number[], dtype: DType = 'f32'): Tensor {
  const s = checkShape('empty', shape);
  return Tensor._make(Storage.alloc(numel(s), dtype, s), s);
}

/** Throws unless `dst` can be written in place by `op` (see the file comment). */
function checkTarget(op: string, dst: Tensor): void {
  dst._assertLive(`${op} into`);
  if (dst.requiresGrad) {
    throw new KdgpuError(
      `${op}: the target ${fmtShape(dst.shape)} requires grad (a leaf with requiresGrad, or computed by a recorded op); ` +
        'in-place writes are not recorded by autograd and would give wrong gradients; write into a tensor that does not require grad ' +
        '(e.g. one from empty() or zeros(), or a clone made under noGrad())',
    );
  }
  if (dst.storage.refs > 1) {
    throw new KdgpuError(
      `${op}: the target ${fmtShape(dst.shape)} shares its storage with ${dst.storage.refs - 1} other handle(s) ` +
        '(a view of it, a tensor it was assign()-ed from, or a copy saved by autograd for a backward pass); writing in place would change them too' +
        `${isGradEnabled() ? ', and under gradient recording a saved tensor would corrupt the gradients' : ''}; ` +
        'dispose the other handles first, or write into a tensor of its own (clone() it)',
    );
  }
  if (!dst.isContiguous) {
    throw new KdgpuError(`${op}: the target ${fmtShape(dst.shape)} is not contiguous (a permuted or expanded view); write into a contiguous tensor (e.g. one from empty())`);
  }
  if (dst.rank > MAX_RANK) throw new KdgpuError(`${op}: tensors of rank > ${MAX_RANK} are not supported, got ${fmtShape(dst.shape)}`);
}

/** Throws unless `src` can be read into `dst` by `op`. */
function checkSource(op: string, what: string, src: Tensor, dst: Tensor): void {
  src._assertLive(op);
  if (src.storage === dst.storage) {
    throw new KdgpuError(`${op}: ${what} ${fmtShape(src.shape)} shares the target's storage; WebGPU cannot read and write one buffer in one dispatch; clone() it first`);
  }
  if (isGradEnabled() && src.requiresGrad) {
    throw new KdgpuError(
      `${op}: ${what} ${fmtShape(src.shape)} requires grad, but in-place ops are not recorded, so no gradient would reach it; ` +
        'pass src.detach(), or call it under noGrad()',
    );
  }
  if (src.rank > MAX_RANK) throw new KdgpuError(`${op}: tensors of rank > ${MAX_RANK} are not supported, got ${fmtShape(src.shape)}`);
}

// The offset in elements of linear index i of a strided operand: P[base] is its offset, P[base + 1..]
// its strides, P[shapeAt..] its shape, P[1] the rank.
const STRIDED = `fn strided(i: u32, base: u32, shapeAt: u32) -> u32 {
  var rem = i;
  var o = P[base];
  for (var d = P[1]; d > 0u; d--) {
    let dim = P[shapeAt + d - 1u];
    o += (rem % dim) * P[base + d];
    rem = rem / dim;
  }
  return o;
}`;

/**
 * Both kernels: source `src` (read, strided) and target O (read_write); thread i < P[0]; `b`
 * indexes the words after the source's shape, offset and strides.
 */
const head = (src: string, t: string) => `@group(0) @binding(0) var<storage, read> ${src}: array<${t}>;
@group(0) @binding(1) var<storage, read_write> O: array<${t}>;
@group(0) @binding(2) var<storage, read> P: array<u32>;
${STRIDED}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${LINEAR_ID(WG)};
  if (i >= P[0]) { return; }
  let b = 3u + 2u * P[1];`;

function writeSliceKernel(T: DType): Kernel {
  const t = wgslType(T);
  // One thread per source element. P: [n, rank, srcShape(rank), srcOffset, srcStrides(rank),
  // inner·srcLen, inner·dstLen, dstOffset + inner·start]
  return {
    key: `writeSlice:${T}`,
    nIn: 1,
    nOut: 1,
    code: () => `${head('X', t)}
  O[(i / P[b]) * P[b + 1u] + P[b + 2u] + i % P[b]] = X[strided(i, 2u + P[1], 2u)];
}`,
  };
}

/**
 * Writes `src` into `dst` at positions `start .. start + src.shape[axis] - 1` along `axis`, in place
 * (`dst.narrow(axis, start, n).copy_(src)` in PyTorch), and returns `dst`. `dst` must be contiguous,
 * must not require grad and must not share its storage (see the file comment); `src` may be any
 * view of the same dtype whose shape equals `dst`'s outside `axis`.
 */
export function writeSlice(dst: Tensor, axis: number, start: number, src: Tensor): Tensor {
  checkTarget('writeSlice', dst);
  checkSource('writeSlice', 'the source', src, dst);
  const a = normAxis('writeSlice', axis, dst.rank);
  if (src.dtype !== dst.dtype) throw new KdgpuError(`writeSlice: the source is ${src.dtype} but the target is ${dst.dtype}; cast() the source`);
  if (src.rank !== dst.rank || src.shape.some((d, i) => i !== a && d !== dst.shape[i])) {
    throw new KdgpuError(`writeSlice: the source ${fmtShape(src.shape)} must have the shape of the target ${fmtShape(dst.shape)} outside axis ${a}`);
  }
  const len = src.shape[a];
  if (!Number.isInteger(start) || start < 0 || start + len > dst.shape[a]) {
    throw new KdgpuError(
      `writeSlice: ${len} position(s) from start ${start} do not fit in axis ${a} of the target ${fmtShape(dst.shape)} ` +
        `(start must be an integer in 0..${dst.shape[a] - len})`,
    );
  }
  const n = src.size;
  if (n === 0) return dst;
  const inner = numel(dst.shape.slice(a + 1));
  const params = [n, src.rank, ...src.shape, src.offset, ...src.strides, inner * len, inner * dst.shape[a], dst.offset + inner * start];
  dispatch(writeSliceKernel(dst.dtype), [src.storage.buf], [dst.storage.buf], params, grid(n, WG));
  return dst;
}

const scaleRowsKernel: Kernel = {
  key: 'scaleRows',
  nIn: 1,
  nOut: 1,
  // One thread per target element. P: [n, rank(s), sShape(rank), sOffset, sStrides(rank), V, dstOffset]
  code: () => `${head('S', 'f32')}
  let o = P[b + 1u] + i;
  O[o] = O[o] * S[strided(i / P[b], 2u + P[1], 2u)];
}`,
};

/**
 * Multiplies each row of `dst` [..., V] in place by the matching element of `s` [...]
 * (dst[..., v] *= s[...]), and returns `dst`: a backward rule's upstream-gradient scaling without a
 * second [..., V] buffer. Both f32; `dst` contiguous, not requiring grad, not shared (see the file
 * comment); `s` may be any view (an expanded upstream gradient has stride 0).
 */
export function scaleRows(dst: Tensor, s: Tensor): Tensor {
  checkTarget('scaleRows', dst);
  checkSource('scaleRows', 'the scale', s, dst);
  if (dst.dtype !== 'f32' || s.dtype !== 'f32') throw new KdgpuError(`scaleRows: needs f32 tensors, got a ${dst.dtype} target and ${s.dtype} scales`);
  if (dst.rank === 0 || s.rank !== dst.rank - 1 || s.shape.some((d, i) => d !== dst.shape[i])) {
    throw new KdgpuError(`scaleRows: the scales ${fmtShape(s.shape)} must have the target's shape ${fmtShape(dst.shape)} without its last axis`);
  }
  const n = dst.size;
  if (n === 0) return dst;
  const params = [n, s.rank, ...s.shape, s.offset, ...s.strides, dst.shape[dst.rank - 1], dst.offset];
  dispatch(scaleRowsKernel, [s.storage.buf], [dst.storage.buf], params, grid(n, WG));
  return dst;
}
