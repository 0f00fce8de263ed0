import { backward as runBackward, type Node } from './autograd.ts';
import { copyBuffer, readback } from './engine.ts';
import { fmtShape, KdgpuError } from './errors.ts';
import { countTensor } from './pool.ts';
import { type Disposable, keep, type Scope, track, untrack } from './scope.ts';
import { contiguousStrides, isContiguous, numel } from './shape.ts';
import type { DType, Storage } from './storage.ts';

/** A tensor operand: a tensor, or a number that broadcasts as a scalar. */
export type TensorLike = Tensor | number;

/** Nested arrays of numbers, as returned by `toArray()`. */
export type NestedArray = number | NestedArray[];

/**
 * The ops, as methods of every tensor. They are defined with the ops (`ops/*.ts`, which build on
 * the class below) and installed on `Tensor.prototype` by `tensor-methods.ts`, which the package
 * entry loads: so this file imports no op, and the ops import this file without a circle.
 */
export interface TensorMethods {
  // ---- elementwise ----
  add(o: TensorLike): Tensor;
  sub(o: TensorLike): Tensor;
  mul(o: TensorLike): Tensor;
  div(o: TensorLike): Tensor;
  pow(o: TensorLike): Tensor;
  maximum(o: TensorLike): Tensor;
  minimum(o: TensorLike): Tensor;
  /** Comparisons give f32 0/1 masks (multiply by them, or pass to `where`). */
  eq(o: TensorLike): Tensor;
  ne(o: TensorLike): Tensor;
  lt(o: TensorLike): Tensor;
  le(o: TensorLike): Tensor;
  gt(o: TensorLike): Tensor;
  ge(o: TensorLike): Tensor;
  neg(): Tensor;
  exp(): Tensor;
  log(): Tensor;
  sqrt(): Tensor;
  rsqrt(): Tensor;
  abs(): Tensor;
  tanh(): Tensor;
  sigmoid(): Tensor;
  relu(): Tensor;
  sin(): Tensor;
  cos(): Tensor;

  // ---- reductions (axis: one axis, a list, or all when omitted; negative axes count from the end) ----
  sum(axis?: number | number[], keepdim?: boolean): Tensor;
  mean(axis?: number | number[], keepdim?: boolean): Tensor;
  max(axis?: number | number[], keepdim?: boolean): Tensor;
  min(axis?: number | number[], keepdim?: boolean): Tensor;
  /** Index of the first maximum along `axis` (i32; all elements flattened when omitted). */
  argmax(axis?: number, keepdim?: boolean): Tensor;
  logsumexp(axis?: number | number[], keepdim?: boolean): Tensor;
  /** softmax along `axis` (default the last). */
  softmax(axis?: number): Tensor;
  /** log(softmax) along `axis` (default the last). */
  logSoftmax(axis?: number): Tensor;

  // ---- linear algebra ----
  /** Matrix product with NumPy semantics (1-D operands, broadcast batch dimensions). */
  matmul(o: Tensor): Tensor;

  // ---- movement ----
  reshape(shape: readonly number[]): Tensor;
  permute(dims: readonly number[]): Tensor;
  /** Swaps dimensions `a` and `b` (default the last two), as a view. */
  transpose(a?: number, b?: number): Tensor;
  expand(shape: readonly number[]): Tensor;
  /** Elements `start..end-1` along `axis` (negative indices count from the end), as a view. */
  slice(axis: number, start: number, end?: number): Tensor;
  indexSelect(axis: number, idx: Tensor): Tensor;
  gather(axis: number, idx: Tensor): Tensor;
  contiguous(): Tensor;
  cast(dtype: DType): Tensor;
  /** A copy with its own storage. */
  clone(): Tensor;

  /** @internal A tensor of ones shaped like this one (the seed of `backward()`). */
  _onesLike(): Tensor;
}

// The class and this interface merge: every Tensor has the methods above.
export interface Tensor extends TensorMethods {}

/**
 * An n-dimensional array on the GPU with reverse-mode autograd.
 *
 * Ops are synchronous: they validate shapes, record GPU commands and return at once; data reaches
 * the CPU only through `data()`, `toArray()` and `item()`. Views (`reshape` of a contiguous tensor,
 * `permute`, `transpose`, `expand`, `slice`) share storage with their source.
 */
export class Tensor implements Disposable {
  _scope: Scope | null = null;
  /** The op that produced this tensor, when gradients were recorded. */
  _node: Node | null = null;
  private _requiresGrad = false;
  private _disposed = false;
  /** Accumulated gradient of a leaf after `backward()`. Owned by this tensor. */
  grad: Tensor | null = null;
  /**
   * @internal Where this leaf's gradient lives when an optimizer keeps all gradients in one flat
   * buffer (`nn.AdamW`): `grad` is then a view of that buffer at `offset`, so clipping and the
   * update run over all parameters in one dispatch each.
   */
  _gradSlot: { storage: Storage; offset: number } | null = null;

  constructor(
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    readonly offset: number,
    tracked = true,
  ) {
    countTensor(1);
    if (tracked) track(this);
  }

  /** A fresh contiguous tensor handle over `storage` (takes ownership of one reference). */
  static _make(storage: Storage, shape: readonly number[]): Tensor {
    return new Tensor(storage, shape, contiguousStrides(shape), 0);
  }

  get dtype(): DType {
    return this.storage.dtype;
  }
  get rank(): number {
    return this.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    return numel(this.shape);
  }
  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }
  get disposed(): boolean {
    return this._disposed;
  }

  /** True for leaves marked by the user and for results computed from them. */
  get requiresGrad(): boolean {
    return this._requiresGrad || this._node !== null;
  }
  set requiresGrad(v: boolean) {
    if (this._node) throw new KdgpuError('requiresGrad can only be set on a leaf tensor; use detach() to make a leaf');
    if (v && this.dtype !== 'f32') throw new KdgpuError(`requiresGrad needs a float tensor, got ${this.dtype}`);
    this._requiresGrad = v;
  }

  _setNode(n: Node): void {
    this._node = n;
    n.refs++;
  }

  /** An untracked handle sharing storage (autograd's saved tensors). */
  _internalRef(): Tensor {
    this._assertLive('use');
    return new Tensor(this.storage.retain(), this.shape, this.strides, this.offset, false);
  }

  /** A view of this tensor's storage with another shape/strides/offset (no copy). */
  _view(shape: readonly number[], strides: readonly number[], offset: number): Tensor {
    this._assertLive('view');
    return new Tensor(this.storage.retain(), shape, strides, offset);
  }

  _accumulateGrad(g: Tensor): void {
    if (this._disposed) {
      g.dispose();
      return;
    }
    keep(g);
    if (this._gradSlot) {
      this._accumulateIntoSlot(g, this._gradSlot);
      return;
    }
    if (!this.grad) {
      this.grad = g;
      return;
    }
    const sum = keep(this.grad.add(g));
    this.grad.dispose();
    g.dispose();
    this.grad = sum;
  }

  /** The first gradient is copied into the slot (a copy command, not a dispatch); later ones add to it. */
  private _accumulateIntoSlot(g: Tensor, slot: { storage: Storage; offset: number }): void {
    const src = this.grad ? keep(this.grad.add(g)) : g.isContiguous ? g : keep(g.contiguous());
    copyBuffer(src.storage.buf, src.offset * 4, slot.storage.buf.gpu, slot.offset * 4, this.size * 4);
    if (src !== g) src.dispose();
    g.dispose();
    this.grad ??= new Tensor(slot.storage.retain(), this.shape, contiguousStrides(this.shape), slot.offset, false);
  }

  /** @internal Makes this tensor a contiguous view of `storage` at `offset` (an optimizer's flat buffer); the caller copied the data. */
  _rehome(storage: Storage, offset: number): void {
    storage.retain();
    this.storage.drop();
    (this as { storage: Storage }).storage = storage;
    (this as { strides: readonly number[] }).strides = contiguousStrides(this.shape);
    (this as { offset: number }).offset = offset;
  }

  _assertLive(what: string): void {
    if (this._disposed) throw new KdgpuError(`cannot ${what} a disposed tensor ${fmtShape(this.shape)} (it was freed by dispose() or by the end of its tidy scope; keep() it or return it from tidy)`);
  }

  /** Frees this handle; storage returns to the pool when no view or autograd node holds it. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    untrack(this);
    countTensor(-1);
    this.storage.drop();
    if (this._node) {
      const n = this._node;
      this._node = null;
      n.decref();
    }
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** `using t = ...` support. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Replaces this tensor's contents with `other`'s (optimizers): shares other's storage, no copy. */
  assign(other: Tensor): this {
    this._assertLive('assign to');
    if (other.shape.length !== this.shape.length || other.shape.some((d, i) => d !== this.shape[i]) || other.dtype !== this.dtype) {
      throw new KdgpuError(`assign: shape/dtype ${fmtShape(other.shape)} ${other.dtype} does not match ${fmtShape(this.shape)} ${this.dtype}`);
    }
    const src = other.isContiguous ? other : other.contiguous();
    src.storage.retain();
    this.storage.drop();
    (this as { storage: Storage }).storage = src.storage;
    (this as { strides: readonly number[] }).strides = src.strides;
    (this as { offset: number }).offset = src.offset;
    if (src !== other) src.dispose();
    return this;
  }

  /** Drops the accumulated gradient. */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  // ---- autograd ----
  /** Backpropagates from this tensor (a scalar, or pass `grad`), accumulating into leaves' `.grad`. */
  backward(grad?: Tensor): void {
    runBackward(this, grad);
  }
  /** A new leaf sharing this tensor's data, cut from the graph. */
  detach(): Tensor {
    return this._view(this.shape, this.strides, this.offset);
  }

  // ---- data out (sync points) ----
  /** Copies the data to the CPU as a typed array (row-major). */
  async data(): Promise<Float32Array | Int32Array> {
    this._assertLive('read');
    const src = this.isContiguous ? this : this.contiguous();
    const bytes = await readback(src.storage.buf, src.offset * 4, this.size * 4);
    if (src !== this) src.dispose();
    return this.dtype === 'i32' ? new Int32Array(bytes) : new Float32Array(bytes);
  }
  /** Copies the data to the CPU as nested arrays. */
  async toArray(): Promise<NestedArray> {
    const flat = await this.data();
    const build = (dim: number, off: number): NestedArray => {
      if (dim === this.rank) return flat[off];
      const stride = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, off + i * stride));
    };
    return build(0, 0);
  }
  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new KdgpuError(`item(): tensor has ${this.size} elements (shape ${fmtShape(this.shape)}); only one-element tensors have an item`);
    return (await this.data())[0];
  }

  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}
