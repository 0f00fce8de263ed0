import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Batch,
  type LoaderState,
  batches,
  batchesPerEpoch,
  batchStream,
  countBlocks,
  epochOrder,
  evalBatches,
  evalBlockIndices,
} from '../src/blocks.ts';
import { mixSeed, mulberry32, permutation, randomInt, sampleSorted } from '../src/random.ts';

/** A stream whose token at position i is i, so a block's ids reveal where it came from. */
function iota(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

function collect(gen: Iterable<Batch>): Batch[] {
  return Array.from(gen);
}

test('PRNG values are pinned, so every runtime shuffles the same way', () => {
  const r = mulberry32(0);
  // mulberry32(0)'s well-known first output 0.26642920868471265 * 2^32.
  assert.deepEqual([r(), r(), r()], [1144304738, 1416247, 958946056]);
  assert.deepEqual([mixSeed(0), mixSeed(42, 1), mixSeed(-1), mixSeed(2 ** 40)], [1002916786, 83558816, 2672198285, 373390583]);
  assert.deepEqual(Array.from(permutation(10, 7)), [0, 4, 8, 1, 7, 3, 5, 6, 9, 2]);
  assert.deepEqual(Array.from(sampleSorted(20, 5, 2023)), [4, 11, 15, 17, 18]);
  assert.notEqual(mixSeed(1, 2), mixSeed(2, 1));
  const rr = mulberry32(5);
  for (let i = 0; i < 1000; i++) {
    const v = randomInt(rr, 7);
    assert.ok(v >= 0 && v < 7 && Number.isInteger(v));
  }
});

test('block counts follow babylm_dataset.py', () => {
  assert.equal(countBlocks(1000, 128), 7); // floor(1000/128)
  assert.equal(countBlocks(1000, 128, true), 6); // random_chunk: floor(n/L) - 1
  assert.equal(countBlocks(1000, 128, false, 100), 7); // floor(900/128)
  assert.equal(countBlocks(100, 128, true), 0);
  assert.equal(batchesPerEpoch(1000, { blockSize: 128, batchSize: 4 }), 2);
  assert.equal(batchesPerEpoch(1000, { blockSize: 128, batchSize: 4, dropLast: true }), 1);
});

test('every block exactly once per epoch; the order is seeded and changes per epoch', () => {
  const tokens = iota(10 * 16 + 5);
  const opts = { blockSize: 16, batchSize: 3, seed: 9 };
  const epoch0 = collect(batches(tokens, opts));
  assert.deepEqual(epoch0.map((b) => b.shape), [[3, 16], [3, 16], [3, 16], [1, 16]]);
  const seen = epoch0.flatMap((b) => Array.from(b.blocks));
  assert.deepEqual([...seen].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // Rows are contiguous blocks: row r of a batch is tokens[blk*16 .. blk*16+16).
  for (const b of epoch0) {
    for (let r = 0; r < b.shape[0]; r++) {
      const row = Array.from(b.ids.subarray(r * 16, r * 16 + 16));
      assert.deepEqual(row, Array.from({ length: 16 }, (_, i) => b.blocks[r]! * 16 + i));
    }
  }
  assert.deepEqual(epoch0.at(-1)!.next, { epoch: 1, position: 0 });
  // Deterministic: the same inputs give the same batches.
  assert.deepEqual(collect(batches(tokens, opts)).map((b) => Array.from(b.ids)), epoch0.map((b) => Array.from(b.ids)));
  // A different epoch or seed gives a different order.
  const epoch1 = collect(batches(tokens, opts, { epoch: 1, position: 0 })).flatMap((b) => Array.from(b.blocks));
  assert.notDeepEqual(epoch1, seen);
  assert.notDeepEqual(Array.from(epochOrder(10, 10, 0)), Array.from(epochOrder(10, 9, 0)));
  assert.deepEqual(Array.from(epochOrder(4, 1, 0, false)), [0, 1, 2, 3]);
});

test('random offsets stay in [0, blockSize) and inside the stream; Uint16 input works', () => {
  const T = 8;
  const tokens = Uint16Array.from({ length: 20 * T + 3 }, (_, i) => i);
  const opts = { blockSize: T, batchSize: 4, seed: 3, randomOffset: true };
  const all = collect(batches(tokens, opts));
  const blocks = all.flatMap((b) => Array.from(b.blocks));
  assert.equal(blocks.length, 19); // floor(163/8) - 1
  const offsets = new Set<number>();
  for (const b of all) {
    for (let r = 0; r < b.shape[0]; r++) {
      const start = b.starts[r]!;
      const off = start - b.blocks[r]! * T;
      assert.ok(off >= 0 && off < T, `offset ${off}`);
      offsets.add(off);
      assert.ok(start + T <= tokens.length);
      assert.equal(b.ids[r * T], start);
      assert.equal(b.ids[r * T + T - 1], start + T - 1);
    }
  }
  assert.ok(offsets.size > 1, 'offsets vary');
  assert.throws(() => collect(batches(tokens.subarray(0, 2 * T - 1), opts)), /need at least 16 with randomOffset/);
});

test('resume from a saved state gives exactly the remaining batches', () => {
  const tokens = iota(37 * 8);
  const opts = { blockSize: 8, batchSize: 5, seed: 1234, randomOffset: true };
  const take = (gen: Generator<Batch>, k: number): Batch[] => {
    const out: Batch[] = [];
    for (const b of gen) {
      out.push(b);
      if (out.length === k) break;
    }
    return out;
  };
  const reference = take(batchStream(tokens, opts), 20); // 36 blocks / 5 = 8 batches per epoch: crosses 2 epochs
  for (const cut of [1, 3, 7, 8, 13]) {
    // Save the state after `cut` batches, as JSON (as a checkpoint would), then resume.
    const saved: LoaderState = JSON.parse(JSON.stringify(reference[cut - 1]!.next));
    const resumed = take(batchStream(tokens, opts, saved), 20 - cut);
    assert.deepEqual(resumed.map((b) => Array.from(b.ids)), reference.slice(cut).map((b) => Array.from(b.ids)), `cut ${cut}`);
  }
  // Per-epoch generator: resuming mid-epoch yields the rest of that epoch only.
  const mid = reference[2]!.next;
  assert.deepEqual(mid, { epoch: 0, position: 15 });
  assert.equal(collect(batches(tokens, opts, mid)).length, 5);
  assert.throws(() => collect(batches(tokens, opts, { epoch: 0, position: 99 })), /position 99 is outside \[0, 36\]/);
});

test('dropLast drops only the short final batch', () => {
  const tokens = iota(10 * 4);
  const got = collect(batches(tokens, { blockSize: 4, batchSize: 3, dropLast: true, seed: 2 }));
  assert.equal(got.length, 3);
  assert.ok(got.every((b) => b.shape[0] === 3));
  assert.deepEqual(got.at(-1)!.next, { epoch: 1, position: 0 });
});

test('validation subset: fixed seeded sample, sorted, at most maxEvalBlocks', () => {
  const tokens = iota(50 * 4 + 2);
  const idx = evalBlockIndices(tokens.length, { blockSize: 4, maxEvalBlocks: 7, seed: 2023 });
  assert.equal(idx.length, 7);
  assert.deepEqual(Array.from(idx), [...idx].sort((a, b) => a - b));
  assert.deepEqual(Array.from(evalBlockIndices(tokens.length, { blockSize: 4, maxEvalBlocks: 7, seed: 2023 })), Array.from(idx));
  assert.equal(evalBlockIndices(tokens.length, { blockSize: 4, maxEvalBlocks: 1000 }).length, 50);
  const evals = collect(evalBatches(tokens, { blockSize: 4, batchSize: 3, maxEvalBlocks: 7, seed: 2023, offset: 1 }));
  assert.deepEqual(evals.map((b) => b.shape[0]), [3, 3, 1]);
  const rows = evals.flatMap((b) => Array.from(b.blocks));
  assert.deepEqual(rows, Array.from(idx).filter((i) => i < 50)); // same blocks with offset 1 (50 still fit)
  assert.equal(evals[0]!.ids[0], rows[0]! * 4 + 1);
});
