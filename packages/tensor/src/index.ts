/**
 * @kdgpu/tensor: a WebGPU tensor runtime with reverse-mode autograd.
 *
 * ```ts
 * import { init, tensor, randn, tidy } from '@kdgpu/tensor';
 * await init();
 * const w = randn([4, 3], { seed: 1 });
 * w.requiresGrad = true;
 * const loss = tidy(() => tensor([[1, 2, 3, 4]]).matmul(w).relu().sum());
 * loss.backward();
 * console.log(await w.grad!.toArray());
 * ```
 */
import { getDevice } from './device.ts';

// The class with its op methods installed (see tensor-methods.ts).
export { Tensor } from './tensor-methods.ts';
export type { TensorLike, NestedArray, TensorMethods } from './tensor.ts';
export type { DType } from './storage.ts';
export { tensor, zeros, ones, full, arange, fromBuffer, type TensorOptions } from './creation.ts';
export { rand, randn, manualSeed } from './ops/random.ts';
export { where } from './ops/elementwise.ts';
export { cat, scatterAdd } from './ops/movement.ts';
export { matmul } from './ops/matmul.ts';
export { sumTo } from './ops/broadcast.ts';
export { splitSizes } from './shape.ts';
export { noGrad, isGradEnabled, type BackwardFn } from './autograd.ts';
export { customGrad } from './custom-grad.ts';
export { empty, writeSlice, scaleRows } from './ops/inplace.ts';
export { tidy, keep, scope, Scope } from './scope.ts';
export { memoryStats, resetPeakBytes, trimPool, type MemoryStats } from './pool.ts';
export { dispatch, engineStats, flush, grid, profileDispatches, stepBoundary, sync, type KernelProfile } from './engine.ts';
export { defineKernel, type Kernel, type KernelSpec } from './kernel.ts';
export { getDevice, setDevice, adapterName, supportsF16, checkDeviceHealth } from './device.ts';
export { KdgpuError } from './errors.ts';
export { UNARY, BINARY, type UnaryName, type BinaryName, type UnaryDef, type BinaryDef } from './ops/elementwise.ts';
export { REDUCE, type ReduceName, type ReduceDef } from './ops/reduce.ts';

/** Creates the shared GPU device (call once before creating tensors). Returns the adapter name. */
export async function init(): Promise<GPUDevice> {
  return await getDevice();
}

/** Fused transformer kernels (norms, attention, rotary, activations, cross-entropy, dropout, AdamW). */
export * as nn from './nn/index.ts';
export { tuneMatmul, type TuneOptions, type TuneRecord, type TuneResult, type TuneStore } from './ops/matmul-tune.ts';
export { matmulVariant, setMatmulVariant } from './ops/matmul.ts';
export { CANDIDATES as MATMUL_CANDIDATES, textbook as textbookMatmul, type MatmulVariant } from './ops/matmul-kernels.ts';
export { sort } from './ops/sort.ts';
