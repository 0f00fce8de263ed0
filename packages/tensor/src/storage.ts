import { acquire, type Buf, countTensor, describeAlloc, release } from './pool.ts';

/** Element types. f16 storage is planned where `shader-f16` exists; kernels take dtype in their key. */
export type DType = 'f32' | 'i32';

/** Bytes per element. */
export function itemsize(_d: DType): number {
  return 4;
}

/** WGSL scalar type of a dtype. */
export function wgslType(d: DType): string {
  switch (d) {
    case 'f32':
      return 'f32';
    case 'i32':
      return 'i32';
    default:
      return d satisfies never;
  }
}

/**
 * A reference-counted GPU buffer shared by a tensor and its views. The buffer returns to the
 * pool when the last tensor handle (user handles and autograd's saved copies) lets go.
 */
export class Storage {
  refs = 1;
  constructor(
    readonly buf: Buf,
    readonly dtype: DType,
  ) {
    countTensor(0);
  }

  static alloc(elements: number, dtype: DType, shape: readonly number[], forUpload = false): Storage {
    return new Storage(acquire(Math.max(1, elements) * itemsize(dtype), forUpload, describeAlloc(shape, dtype)), dtype);
  }

  retain(): this {
    this.refs++;
    return this;
  }

  drop(): void {
    if (--this.refs === 0) release(this.buf);
  }
}
