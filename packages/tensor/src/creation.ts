import { upload } from './engine.ts';
import { KdgpuError } from './errors.ts';
import { full } from './ops/broadcast.ts';
import { mapElementwise } from './ops/kernel-elementwise.ts';
import { checkShape, numel } from './shape.ts';
import { type DType, Storage } from './storage.ts';
import { type NestedArray, Tensor } from './tensor.ts';

/** Options for creating a tensor. */
export interface TensorOptions {
  /** Element type; defaults to i32 for an Int32Array, f32 otherwise. */
  dtype?: DType;
  /** Makes the new tensor a leaf that accumulates `.grad`. */
  requiresGrad?: boolean;
  /** Shape for typed-array data (defaults to 1-D). */
  shape?: readonly number[];
}

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let d: NestedArray = data;
  while (Array.isArray(d)) {
    shape.push(d.length);
    d = d[0];
    if (d === undefined) break;
  }
  return shape;
}

function flatten(data: NestedArray, shape: number[], out: number[], dim = 0): void {
  if (dim === shape.length) {
    if (typeof data !== 'number') throw new KdgpuError(`tensor(): ragged nested array (expected a number at depth ${dim})`);
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim]) {
    throw new KdgpuError(`tensor(): ragged nested array: dimension ${dim} should have length ${shape[dim]}`);
  }
  for (const x of data) flatten(x, shape, out, dim + 1);
}

/** Creates a tensor from nested arrays, a number, or a typed array (copied to the GPU). */
export function tensor(data: NestedArray | Float32Array | Int32Array | readonly number[], opts: TensorOptions = {}): Tensor {
  let shape: number[];
  let flat: ArrayLike<number>;
  let dtype: DType;
  if (data instanceof Float32Array || data instanceof Int32Array) {
    shape = checkShape('tensor', opts.shape ?? [data.length]);
    if (numel(shape) !== data.length) throw new KdgpuError(`tensor(): shape [${shape}] needs ${numel(shape)} elements, the data has ${data.length}`);
    flat = data;
    dtype = opts.dtype ?? (data instanceof Int32Array ? 'i32' : 'f32');
  } else {
    shape = inferShape(data as NestedArray);
    const out: number[] = [];
    flatten(data as NestedArray, shape, out);
    if (opts.shape) {
      if (numel(opts.shape) !== out.length) throw new KdgpuError(`tensor(): shape [${opts.shape}] needs ${numel(opts.shape)} elements, the data has ${out.length}`);
      shape = [...opts.shape];
    }
    flat = out;
    dtype = opts.dtype ?? 'f32';
  }
  const typed = dtype === 'i32' ? Int32Array.from(flat) : flat instanceof Float32Array ? flat : Float32Array.from(flat);
  const storage = Storage.alloc(typed.length, dtype, shape, true);
  if (typed.length > 0) upload(storage.buf, typed);
  const t = Tensor._make(storage, shape);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

function withGrad(t: Tensor, opts: { requiresGrad?: boolean }): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[], opts: { dtype?: DType; requiresGrad?: boolean } = {}): Tensor {
  return withGrad(full(checkShape('zeros', shape), 0, opts.dtype), opts);
}

/** A tensor of ones. */
export function ones(shape: readonly number[], opts: { dtype?: DType; requiresGrad?: boolean } = {}): Tensor {
  return withGrad(full(checkShape('ones', shape), 1, opts.dtype), opts);
}

export { full };

/** `[start, start+step, ...)` below `end`; `arange(n)` is 0..n-1. */
export function arange(startOrEnd: number, end?: number, step = 1, opts: { dtype?: DType } = {}): Tensor {
  const start = end === undefined ? 0 : startOrEnd;
  const stop = end === undefined ? startOrEnd : end;
  if (step === 0) throw new KdgpuError('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dtype = opts.dtype ?? 'f32';
  return mapElementwise('arange', [start, step], [n], dtype === 'i32' ? 'i32' : 'f32', dtype, `v0 + ${dtype === 'i32' ? 'i32' : 'f32'}(i) * v1`);
}

let externalIds = 0;

/** Wraps an existing GPUBuffer (not pooled; the caller keeps ownership of its lifetime). */
export function fromBuffer(buffer: GPUBuffer, shape: readonly number[], dtype: DType = 'f32'): Tensor {
  const s = checkShape('fromBuffer', shape);
  if (buffer.size < numel(s) * 4) throw new KdgpuError(`fromBuffer: buffer of ${buffer.size} bytes is too small for [${s}] ${dtype}`);
  const storage = new Storage({ gpu: buffer, size: buffer.size, id: --externalIds }, dtype);
  // One extra reference: dispose() never returns a caller-owned buffer to the pool.
  storage.retain();
  return Tensor._make(storage, s);
}
