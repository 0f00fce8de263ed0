/**
 * Language-model data blocking, as Baby Llama's `babylm_dataset.py` does it, made reproducible.
 *
 * The token stream (all files encoded whole and concatenated, no BOS/EOS) is cut into contiguous
 * blocks of `blockSize` tokens. Training visits every block once per epoch in a seeded random order
 * (a new permutation per epoch, seeded from `mixSeed(seed, epoch)`); with `randomOffset` each block
 * is shifted by r ∈ [0, blockSize) as Baby Llama's `random_chunk=True` (there `randrange` per access,
 * here a counter-based hash of (seed, epoch, block), so a resumed run sees the same shifts), and the
 * dataset has ⌊n/L⌋ − 1 blocks so every shifted block fits. Labels are the ids themselves: the model
 * shifts them (HF `DataCollatorForLanguageModeling(mlm=False)`).
 *
 * A {@link LoaderState} `{ epoch, position }` counts *blocks* consumed in the epoch's order; save
 * the `next` state of the last batch trained on and pass it back to {@link batches} to resume with
 * exactly the batches an uninterrupted run would have seen.
 * @module
 */

import { mixSeed, permutation, sampleSorted } from './random.ts';

/** A token id stream. Ids must be below 2^31 (they are copied into Int32Array batches). */
export type TokenArray = Int32Array | Uint16Array | Uint32Array;

/** Where a training run is in its data: epoch (0-based) and blocks consumed in that epoch's order. */
export interface LoaderState {
  epoch: number;
  position: number;
}

/** One batch of blocks. */
export interface Batch {
  /** Token ids `[B, T]`, row-major; also the labels (the model shifts). */
  ids: Int32Array;
  /**
   * Next-token labels `[B, T]` at the ids' positions, -100 where a position does not count (a
   * prompt, padding). Absent: the ids shifted left with -100 last (`shiftLabels`), which is what
   * the block loader produces.
   */
  labels?: Int32Array;
  /** `[B, T]`: B ≤ batchSize (only the last batch of an epoch can be short), T = blockSize. */
  shape: [number, number];
  /** Block indices of the B rows. */
  blocks: Uint32Array;
  /** Token offset of each row's start in the stream. */
  starts: Float64Array;
  /** The loader state after this batch: resume from here to continue with the next batch. */
  next: LoaderState;
}

/** Options of the training stream. */
export interface TrainBlockOptions {
  /** Tokens per block (sequence length T). Default 128. */
  blockSize?: number;
  /** Blocks per batch (B). */
  batchSize: number;
  /** Base seed of the epoch permutations and offsets. Default 0. */
  seed?: number;
  /** Baby Llama's `random_chunk`: shift each block by a random r ∈ [0, blockSize). Default false. */
  randomOffset?: boolean;
  /** Visit blocks in a seeded random order (default true) or in stream order. */
  shuffle?: boolean;
  /** Drop the epoch's last short batch (default false, like HF `dataloader_drop_last`). */
  dropLast?: boolean;
}

/** Options of the validation subset. */
export interface EvalBlockOptions {
  /** Tokens per block. Default 128. */
  blockSize?: number;
  /** Blocks per batch. */
  batchSize: number;
  /** Use at most this many blocks (Baby Llama: 8192). Default: all. */
  maxEvalBlocks?: number;
  /** Seed of the subset (Baby Llama: 2023). Default 0. */
  seed?: number;
  /** Fixed token offset of block 0 (`babylm_dataset.py`'s `offset`). Default 0. */
  offset?: number;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`blocks: ${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * Number of blocks in a stream of `nTokens`: ⌊(n − offset)/L⌋, or ⌊n/L⌋ − 1 with random offsets
 * (never negative).
 */
export function countBlocks(nTokens: number, blockSize = 128, randomOffset = false, offset = 0): number {
  positiveInt('blockSize', blockSize);
  const n = randomOffset ? Math.floor(nTokens / blockSize) - 1 : Math.floor((nTokens - offset) / blockSize);
  return Math.max(0, n);
}

/** The order blocks are visited in during `epoch`: a permutation of `0..numBlocks-1`. */
export function epochOrder(numBlocks: number, seed: number, epoch: number, shuffle = true): Uint32Array {
  if (!shuffle) return Uint32Array.from({ length: numBlocks }, (_, i) => i);
  return permutation(numBlocks, mixSeed(seed, epoch));
}

/** The random-chunk shift r ∈ [0, blockSize) of `block` in `epoch` (uniform when blockSize is a power of two). */
export function blockOffset(seed: number, epoch: number, block: number, blockSize: number): number {
  return Math.floor((mixSeed(seed, epoch, block, 0x0ff5e7) / 0x100000000) * blockSize);
}

/** Batches per epoch for `nTokens` tokens under `opts`. */
export function batchesPerEpoch(nTokens: number, opts: TrainBlockOptions): number {
  const n = countBlocks(nTokens, opts.blockSize ?? 128, opts.randomOffset ?? false);
  const b = positiveInt('batchSize', opts.batchSize);
  return opts.dropLast === true ? Math.floor(n / b) : Math.ceil(n / b);
}

function fill(tokens: TokenArray, starts: Float64Array, T: number): Int32Array {
  const ids = new Int32Array(starts.length * T);
  for (let r = 0; r < starts.length; r++) {
    const s = starts[r]!;
    ids.set(tokens.subarray(s, s + T), r * T);
  }
  return ids;
}

/**
 * The training batches of one epoch, from `state` (default the start of epoch 0) to the end of that
 * epoch. The last batch's `next` is `{ epoch: state.epoch + 1, position: 0 }`. Deterministic in
 * (tokens, opts, state). Throws if the stream has no block or the state is out of range.
 */
export function* batches(tokens: TokenArray, opts: TrainBlockOptions, state: LoaderState = { epoch: 0, position: 0 }): Generator<Batch> {
  const T = positiveInt('blockSize', opts.blockSize ?? 128);
  const B = positiveInt('batchSize', opts.batchSize);
  const seed = opts.seed ?? 0;
  const randomOffset = opts.randomOffset ?? false;
  const dropLast = opts.dropLast ?? false;
  const n = countBlocks(tokens.length, T, randomOffset);
  const minTokens = randomOffset ? 2 * T : T;
  if (n === 0) throw new Error(`blocks: ${tokens.length} tokens make no block of ${T} (need at least ${minTokens}${randomOffset ? ' with randomOffset' : ''})`);
  if (dropLast && n < B) throw new Error(`blocks: ${n} blocks make no full batch of ${B} with dropLast; lower batchSize or add data`);
  checkLoaderState(state, n);
  const { epoch } = state;
  const order = epochOrder(n, seed, epoch, opts.shuffle ?? true);
  let pos = state.position;
  while (pos < n) {
    const b = Math.min(B, n - pos);
    if (b < B && dropLast) break;
    const blocks = order.slice(pos, pos + b);
    const starts = new Float64Array(b);
    for (let r = 0; r < b; r++) {
      const blk = blocks[r]!;
      starts[r] = blk * T + (randomOffset ? blockOffset(seed, epoch, blk, T) : 0);
    }
    pos += b;
    const last = pos >= n || (dropLast && n - pos < B);
    yield { ids: fill(tokens, starts, T), shape: [b, T], blocks, starts, next: last ? { epoch: epoch + 1, position: 0 } : { epoch, position: pos } };
  }
}

/** Like {@link batches} but endless: runs epoch after epoch from `state`. Stop it with `maxSteps`. */
export function* batchStream(tokens: TokenArray, opts: TrainBlockOptions, state: LoaderState = { epoch: 0, position: 0 }): Generator<Batch> {
  let s = state;
  for (;;) {
    const before = s;
    for (const batch of batches(tokens, opts, s)) {
      s = batch.next;
      yield batch;
    }
    if (s === before) s = { epoch: s.epoch + 1, position: 0 }; // resumed at the very end of an epoch
  }
}

/** Throws a descriptive error unless `state` is a valid loader state for `numBlocks` blocks. */
export function checkLoaderState(state: LoaderState, numBlocks: number): void {
  const { epoch, position } = state;
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new Error(`blocks: loader state epoch must be a non-negative integer, got ${epoch}`);
  if (!Number.isSafeInteger(position) || position < 0 || position > numBlocks) {
    throw new Error(`blocks: loader state position ${position} is outside [0, ${numBlocks}]; was the state saved for different data or blockSize?`);
  }
}

/**
 * The validation subset: a seeded sample of at most `maxEvalBlocks` block indices (all blocks if
 * there are fewer), sorted ascending, so every evaluation sees the same blocks in the same order.
 */
export function evalBlockIndices(nTokens: number, opts: Omit<EvalBlockOptions, 'batchSize'>): Uint32Array {
  const n = countBlocks(nTokens, opts.blockSize ?? 128, false, opts.offset ?? 0);
  const k = opts.maxEvalBlocks ?? n;
  if (!Number.isSafeInteger(k) || k < 0) throw new Error(`blocks: maxEvalBlocks must be a non-negative integer, got ${k}`);
  return sampleSorted(n, k, opts.seed ?? 0);
}

/** The validation batches over {@link evalBlockIndices}, in order; `next` is unused (`{0, 0}`). */
export function* evalBatches(tokens: TokenArray, opts: EvalBlockOptions): Generator<Batch> {
  const T = positiveInt('blockSize', opts.blockSize ?? 128);
  const B = positiveInt('batchSize', opts.batchSize);
  const offset = opts.offset ?? 0;
  const indices = evalBlockIndices(tokens.length, opts);
  for (let pos = 0; pos < indices.length; pos += B) {
    const blocks = indices.slice(pos, pos + B);
    const starts = Float64Array.from(blocks, (blk) => blk * T + offset);
    yield { ids: fill(tokens, starts, T), shape: [blocks.length, T], blocks, starts, next: { epoch: 0, position: 0 } };
  }
}
