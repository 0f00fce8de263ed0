import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32 } from '../src/checksum.ts';
import {
  decodeSparseBlock, dequantiseLogProb, encodeSparseBlock, LOGPROB_STEP, MAX_LOGPROB_CODE, padSparse, quantiseLogProb, type SparseBlock, topKRows, ZERO_PROB_CODE,
} from '../src/sparse-logits.ts';
import { checkSparseLogits, partialPaths, type SparseSettings, SparseLogitsFile, writeSparseLogits } from '../src/sparse-logits-node.ts';

/** A seeded stream in [0, 1) (mulberry32). */
function rand(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function logits(T: number, V: number, seed: number, scale = 4): Float32Array {
  const r = rand(seed);
  return Float32Array.from({ length: T * V }, () => (r() - 0.5) * 2 * scale);
}

/** The float64 reference: sort every token, keep K, sum the rest. */
function reference(rows: Float32Array, T: number, V: number, K: number) {
  const out: Array<{ ids: number[]; lp: number[]; tail: number }> = [];
  for (let t = 0; t < T; t++) {
    const z = Array.from(rows.subarray(t * V, (t + 1) * V), Number);
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0));
    const order = z.map((_, i) => i).sort((a, b) => z[b]! - z[a]! || a - b);
    const k = Math.min(K, V);
    const rest = order.slice(k).reduce((a, i) => a + Math.exp(z[i]! - lse), 0);
    out.push({ ids: order.slice(0, k), lp: order.slice(0, k).map((i) => z[i]! - lse), tail: rest > 0 ? Math.log(rest) : -Infinity });
  }
  return out;
}

test('log-probability codes: within 2^-12 nats of the value down to -32, clamped below, 0xFFFF is zero', () => {
  const r = rand(1);
  let worst = 0;
  for (let i = 0; i < 100000; i++) {
    const lp = -r() * 31.99;
    worst = Math.max(worst, Math.abs(dequantiseLogProb(quantiseLogProb(lp)) - lp));
  }
  assert.ok(worst <= LOGPROB_STEP / 2 + 1e-12, `worst error ${worst}`);
  assert.ok(worst > LOGPROB_STEP / 2 - 1e-6, 'the bound is tight (rounding, not truncation to a coarser grid)');
  assert.equal(quantiseLogProb(0), 0);
  assert.equal(quantiseLogProb(-100), MAX_LOGPROB_CODE);
  assert.equal(quantiseLogProb(-Infinity), ZERO_PROB_CODE);
  assert.equal(dequantiseLogProb(ZERO_PROB_CODE), -Infinity);
});

test('topKRows equals a float64 sort-everything reference (ids, log-probabilities, tail), ties to the lower id', () => {
  const T = 6;
  const V = 300;
  const rows = logits(T, V, 2);
  rows[7] = rows[8]!; // a tie at position 0
  for (const K of [1, 16, 64, 299, 300, 512]) {
    const got = topKRows(rows, T, V, K);
    const ref = reference(rows, T, V, K);
    const k = Math.min(K, V);
    for (let t = 0; t < T; t++) {
      assert.equal(got.counts[t], k);
      assert.deepEqual(Array.from(got.ids.subarray(t * k, (t + 1) * k)), ref[t]!.ids, `ids at K=${K} t=${t}`);
      for (let j = 0; j < k; j++) assert.ok(Math.abs(got.logProbs[t * k + j]! - ref[t]!.lp[j]!) < 1e-5);
      if (ref[t]!.tail === -Infinity) assert.equal(got.tail[t], -Infinity);
      else assert.ok(Math.abs(got.tail[t]! - ref[t]!.tail) < 1e-5, `tail K=${K} t=${t}: ${got.tail[t]} vs ${ref[t]!.tail}`);
    }
  }
});

test('a block survives encode/decode: ids and counts exact, log-probabilities and tail within the code bound', () => {
  for (const [V, K] of [[200, 16], [5000, 64], [70000, 8], [40, 64]] as const) {
    const T = 5;
    const b = topKRows(logits(T, V, V, 6), T, V, K);
    const rec = encodeSparseBlock(b, T, V);
    const d = decodeSparseBlock(rec, crc32(rec), T, V, Math.min(K, V), 'x');
    assert.deepEqual(d.counts, b.counts);
    assert.deepEqual(d.ids, b.ids);
    for (let i = 0; i < b.logProbs.length; i++) assert.ok(Math.abs(d.logProbs[i]! - b.logProbs[i]!) <= LOGPROB_STEP / 2 + 1e-6);
    for (let t = 0; t < T; t++) {
      if (b.tail[t] === -Infinity) assert.equal(d.tail[t], -Infinity, 'K >= V: no tail');
      else assert.ok(Math.abs(d.tail[t]! - Math.max(b.tail[t]!, -MAX_LOGPROB_CODE * LOGPROB_STEP)) <= LOGPROB_STEP / 2 + 1e-6);
    }
  }
});

test('positions with fewer entries pad to -1 / -inf, and the tail carries the rest', () => {
  const b: SparseBlock = { counts: Uint16Array.from([2, 0]), ids: Int32Array.from([3, 1]), logProbs: Float32Array.from([Math.log(0.5), Math.log(0.25)]), tail: Float32Array.from([Math.log(0.25), 0]) };
  const rec = encodeSparseBlock(b, 2, 4);
  const d = decodeSparseBlock(rec, crc32(rec), 2, 4, 3, 'x');
  const p = padSparse([d], 2, 3);
  assert.deepEqual(Array.from(p.ids), [3, 1, -1, -1, -1, -1]);
  assert.deepEqual(Array.from(p.logProbs.subarray(2)), [-Infinity, -Infinity, -Infinity, -Infinity]);
  assert.ok(Math.abs(p.tail[0]! - Math.log(0.25)) < 1e-3 && p.tail[1] === 0);
});

test('corrupted records are refused, naming the record', () => {
  const T = 2;
  const V = 10;
  const good: SparseBlock = { counts: Uint16Array.from([2, 1]), ids: Int32Array.from([4, 7, 2]), logProbs: Float32Array.from([Math.log(0.6), Math.log(0.3), 0]), tail: Float32Array.from([Math.log(0.1), -Infinity]) };
  const rec = encodeSparseBlock(good, T, V);
  assert.throws(() => decodeSparseBlock(rec, crc32(rec) ^ 1, T, V, 2, 'f block 3'), /sparse logits: f block 3 is corrupted \(checksum mismatch\)/);
  const three = encodeSparseBlock({ ...good, counts: Uint16Array.from([3, 0]), logProbs: Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.2)]), tail: Float32Array.from([-Infinity, 0]) }, T, V);
  assert.throws(() => decodeSparseBlock(three, crc32(three), T, V, 2, 'f block 3'), /holds 3 entries at position 0, more than its top-k of 2/);
  const twice = encodeSparseBlock({ ...good, ids: Int32Array.from([4, 4, 2]) }, T, V);
  assert.throws(() => decodeSparseBlock(twice, crc32(twice), T, V, 2, 'f block 3'), /holds token id 4 twice at position 0/);
  const heavy = encodeSparseBlock({ ...good, tail: Float32Array.from([Math.log(0.5), -Infinity]) }, T, V);
  assert.throws(() => decodeSparseBlock(heavy, crc32(heavy), T, V, 2, 'f block 3'), /probabilities summing to 1\.(39|40)\d* at position 0, not 1/);
  assert.throws(() => decodeSparseBlock(rec, crc32(rec), T, 5, 2, 'f block 3'), /token id 7 outside the vocabulary of 5/);
  assert.throws(() => encodeSparseBlock({ ...good, logProbs: Float32Array.from([Math.log(0.3), Math.log(0.6), 0]) }, T, V), /not in rank order/);
});

const settings = (blocks: number, extra: Partial<SparseSettings> = {}): SparseSettings => ({
  vocabSize: 300, blockSize: 8, topK: 16, source: 'teachers', tokensKey: 'aaaa', tokenizerKey: 'bbbb', blocks, producer: 'test', ...extra,
});

/** A deterministic source of blocks, `per` a batch; throws after `killAfter` batches (a killed run). */
function source(n: number, per: number, killAfter = Infinity) {
  const s = settings(n);
  return (start: number) =>
    (async function* () {
      let batches = 0;
      for (let b = start; b < n; b += per) {
        if (batches++ >= killAfter) throw new Error('killed');
        yield Array.from({ length: Math.min(per, n - b) }, (_, i) => topKRows(logits(s.blockSize, s.vocabSize, 100 + b + i), s.blockSize, s.vocabSize, s.topK));
      }
    })();
}

test('a killed write leaves no file at the path; --resume finishes it byte for byte as an uninterrupted one', async () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'kdgpu-sparse-'));
  try {
    const whole = join(dir, 'whole.sl');
    await writeSparseLogits(whole, settings(7), source(7, 2), { journalEvery: 0 });
    const path = join(dir, 'resumed.sl');
    await assert.rejects(writeSparseLogits(path, settings(7), source(7, 2, 2), { journalEvery: 0 }), /killed/);
    assert.ok(!fs.existsSync(path), 'nothing at the path');
    const { data, journal } = partialPaths(path);
    assert.ok(fs.existsSync(data) && fs.existsSync(journal));
    // Bytes past what the journal vouches for (a batch cut by the kill) are dropped on resume.
    fs.appendFileSync(data, new Uint8Array(200_000).fill(7)); // more than the rest of the file
    await assert.rejects(writeSparseLogits(path, settings(7), source(7, 2), {}), /an unfinished write exists .*pass --resume to continue it or --overwrite/);
    await assert.rejects(writeSparseLogits(path, settings(7, { topK: 32 }), source(7, 2), { resume: true }), /started with topK = 16, this run has 32/);
    let seen = 0;
    await writeSparseLogits(path, settings(7), source(7, 2), { resume: true, onProgress: (d) => (seen = seen || d) });
    assert.equal(seen, 6, 'resumed after the 4 blocks of the 2 batches written');
    assert.deepEqual(fs.readFileSync(path), fs.readFileSync(whole));
    assert.ok(!fs.existsSync(data) && !fs.existsSync(journal));
    await assert.rejects(writeSparseLogits(join(dir, 'none.sl'), settings(7), source(7, 2), { resume: true }), /nothing to resume/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a sparse file streams block by block, and is refused for another vocabulary, block size, tokenizer or data', async () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'kdgpu-sparse-'));
  try {
    const path = join(dir, 'f.sl');
    await writeSparseLogits(path, settings(3), source(3, 3));
    const f = new SparseLogitsFile(path);
    try {
      assert.equal(f.length, 3);
      const b1 = f.block(1);
      const ref = topKRows(logits(8, 300, 101), 8, 300, 16);
      assert.deepEqual(b1.ids, ref.ids);
      checkSparseLogits(f, { vocabSize: 300, blockSize: 8, tokensKey: 'aaaa', tokenizerKey: 'bbbb' });
      assert.throws(() => checkSparseLogits(f, { vocabSize: 512 }), new RegExp(`offlineLogits.path: ${path} covers a vocabulary of 300 \\(footer vocabSize\\), the student has 512; compute it again with \`kdgpu logits CONFIG --top-k K --overwrite\``));
      assert.throws(() => checkSparseLogits(f, { blockSize: 16 }), /holds blocks of 8 tokens \(footer blockSize\) but data.blockSize is 16; set data.blockSize to 8/);
      assert.throws(() => checkSparseLogits(f, { tokenizerKey: 'cccc' }), /was made with another tokenizer \(footer tokenizerKey bbbb/);
      assert.throws(() => checkSparseLogits(f, { tokensKey: 'dddd' }), /was computed on other data \(footer tokensKey aaaa/);
      assert.throws(() => f.block(3), /no record for block 3 \(the file has 3\)/);
    } finally {
      f.close();
    }
    const bytes = fs.readFileSync(path);
    fs.writeFileSync(path, bytes.subarray(0, bytes.byteLength - 3));
    assert.throws(() => new SparseLogitsFile(path), /bad trailing magic/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
