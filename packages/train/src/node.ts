/**
 * @kdgpu/train/node: adapters that touch the file system or the process (Node 20+ and Deno):
 * atomic writes, the on-disk token cache, metrics files, console progress and the matmul tuning cache.
 * @module
 */

export * from './atomic-node.ts';
export * from './token-cache-node.ts';
export * from './metrics-node.ts';
export * from './progress-node.ts';
export * from './checkpoint-node.ts';
export * from './offline-logits-node.ts';
export * from './run-node.ts';
export * from './tune-node.ts';
