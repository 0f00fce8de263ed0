import { isGradEnabled } from '../autograd.ts';
import { dispatch, grid, LINEAR_ID } from '../engine.ts';
import { defineKernel } from '../kernel.ts';
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

// The source: n elements (one thread each) read through its offset, strides and shape.
const SOURCE = { n: 'u32', rank: 'u32', shape: ['u32', MAX_RANK], off: 'u32', strides: ['u32', MAX_RANK] } as const;

// The offset in elements of the source's linear index i.
const STRIDED = `fn strided(i: u32) -> u32 {
  var rem = i;
  var o = params.off;
  for (var d = params.rank; d > 0u; d--) {
    let dim = params.shape[d - 1u];
    o += (rem % dim) * params.strides[d - 1u];
    rem = rem / dim;
  }
  return o;
}`;

/** Both kernels: thread i < params.n of the source; the target `dst` is bound read_write. */
const MAIN = `${STRIDED}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${LINEAR_ID(WG)};
  if (i >= params.n) { return; }`;

// One thread per source element: source row i / srcBlock goes to the target at dstStart plus
// dstBlock per row.
const writeSliceKernel = (T: DType) =>
  defineKernel({
    key: `writeSlice:${T}`,
    inputs: { src: T },
    outputs: { dst: T },
    params: { ...SOURCE, srcBlock: 'u32', dstBlock: 'u32', dstStart: 'u32' },
    body: () => `${MAIN}
  dst[(i / params.srcBlock) * params.dstBlock + params.dstStart + i % params.srcBlock] = src[strided(i)];
}`,
  });
const WRITE_SLICE = { f32: writeSliceKernel('f32'), i32: writeSliceKernel('i32') } as const;

/**
 * Records the copy of `src` into positions `start ..` of `axis` of the contiguous `dst`, without
 * checks: `writeSlice` after its checks, and `cat` into its fresh result.
 */
export function copySlice(src: Tensor, dst: Tensor, axis: number, start: number): void {
  const n = src.size;
  if (n === 0) return;
  const inner = numel(dst.shape.slice(axis + 1));
  dispatch(
    WRITE_SLICE[dst.dtype],
    { src: src.storage.buf, dst: dst.storage.buf },
    {
      n, rank: src.rank, shape: src.shape, off: src.offset, strides: src.strides,
      srcBlock: inner * src.shape[axis], dstBlock: inner * dst.shape[axis], dstStart: dst.offset + inner * start,
    },
    grid(n, WG),
  );
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
  copySlice(src, dst, a, start);
  return dst;
}

// One thread per target element (n of them); the scales are the strided source, one per V.
const SCALE_ROWS = defineKernel({
  key: 'scaleRows',
  inputs: { scales: 'f32' },
  outputs: { dst: 'f32' },
  params: { ...SOURCE, V: 'u32', dstOff: 'u32' },
  body: () => `${MAIN}
  let o = params.dstOff + i;
  dst[o] = dst[o] * scales[strided(i / params.V)];
}`,
});

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
  const params = { n, rank: s.rank, shape: s.shape, off: s.offset, strides: s.strides, V: dst.shape[dst.rank - 1], dstOff: dst.offset };
  dispatch(SCALE_ROWS, { scales: s.storage.buf, dst: dst.storage.buf }, params, grid(n, WG));
  return dst;
}
