/**
 * Fuzzing offline teacher-logits files (footer and deflated records): a mutated file is read and
 * every record decodes to ids inside the vocabulary, or it fails with an error naming the file;
 * record lengths, footer lengths and decompressed sizes are bounded before anything is allocated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'fflate';
import { crc32, decodeBlock, encodeBlock, OFFLINE_LOGITS_MAGIC as MAGIC } from '@kdgpu/train';
import { readOfflineFooter } from '@kdgpu/train/node';
import { assertCoverage, fuzz, mutateBytes, mutateJson, type Rng, summary } from './fuzz.ts';

const dir = mkdtempSync(join(tmpdir(), 'kdgpu-fuzz-logits-'));
const path = join(dir, 'teacher.logits');
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A file in the layout of offline-logits.ts: magic, records, JSON footer, its length, magic. */
function assemble(records: Uint8Array[], footer: Record<string, unknown>, recs?: unknown[]): Uint8Array {
  const parts: Uint8Array[] = [MAGIC];
  let off = MAGIC.byteLength;
  const index: Array<[number, number, number]> = [];
  for (const r of records) {
    index.push([off, r.byteLength, crc32(r)]);
    parts.push(r);
    off += r.byteLength;
  }
  const f = new TextEncoder().encode(JSON.stringify({ ...footer, records: recs ?? index }));
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, f.byteLength, true);
  parts.push(f, len, MAGIC);
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

interface Parts {
  records: Uint8Array[];
  footer: Record<string, unknown>;
}

function validParts(r: Rng): Parts {
  const T = 1 + r.int(8);
  const V = 2 + r.int(40);
  const records = Array.from({ length: 1 + r.int(4) }, () => {
    const rows = new Float32Array(T * V).fill(-Infinity);
    for (let i = 0; i < rows.length; i++) if (r.chance(0.3)) rows[i] = r.next() * 10 - 5;
    return encodeBlock(rows, T, V);
  });
  return { records, footer: { version: 1, vocabSize: V, blockSize: T, topK: 5, topP: 0.9, tokensKey: '0123456789abcdef' } };
}

function input(r: Rng): Uint8Array {
  const p = validParts(r);
  switch (r.int(5)) {
    case 0:
      return assemble(p.records, p.footer);
    case 1: {
      // The footer mutated as JSON (records index included), the rest intact.
      const index = assemble(p.records, p.footer);
      const len = new DataView(index.buffer).getUint32(index.byteLength - 12, true);
      const footer = JSON.parse(new TextDecoder().decode(index.subarray(index.byteLength - 12 - len, index.byteLength - 12)));
      const m = mutateJson(footer, r) as Record<string, unknown>;
      return assemble(p.records, m !== null && typeof m === 'object' ? m : { m }, m !== null && typeof m === 'object' ? (m.records as unknown[]) : undefined);
    }
    case 2: {
      // A record replaced by other deflate data: a bomb, raw garbage, or bytes of the wrong length,
      // with a matching CRC so the decoder gets past the checksum.
      const T = p.footer.blockSize as number;
      const raw = r.pick([new Uint8Array(r.pick([1, T * 2 - 1, 256 << 10])), r.bytes(T * 2 + 8 * r.int(5)), new Uint8Array(T * 2).fill(0xff)]);
      p.records[r.int(p.records.length)] = r.chance(0.8) ? deflateSync(raw) : r.bytes(1 + r.int(64));
      return assemble(p.records, p.footer);
    }
    default: {
      const file = assemble(p.records, p.footer);
      return mutateBytes(file, r, [file.byteLength - 12, file.byteLength - 8, 8]);
    }
  }
}

function read(bytes: Uint8Array): void {
  writeFileSync(path, bytes);
  const { fd, footer } = readOfflineFooter(path);
  try {
    for (const [i, [off, n, crc]] of footer.records.entries()) {
      const rec = new Uint8Array(n);
      readSync(fd, rec, 0, n, off);
      const b = decodeBlock(rec, crc, footer.blockSize, `${path} block ${i}`, footer.vocabSize);
      assert.equal(b.counts.length, footer.blockSize);
      for (const id of b.ids) assert.ok(id >= 0 && id < footer.vocabSize);
    }
  } finally {
    closeSync(fd);
  }
}

test('offline logits: mutated files decode to in-vocabulary ids or fail naming the file', async () => {
  const rep = await fuzz('offline logits', {
    input,
    run: read,
    expected: (e) => /^offline logits[: ]/.test(e.message) && !(e instanceof assert.AssertionError),
  });
  console.log(summary('offline logits', rep));
  assertCoverage(rep);
});

test('offline logits: a decompression bomb is stopped at the size a block can hold', () => {
  const T = 4;
  const V = 10;
  const bomb = deflateSync(new Uint8Array(64 << 20)); // 64 MiB of zeros, ~64 KiB deflated
  assert.ok(bomb.byteLength < 1 << 20);
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => decodeBlock(bomb, crc32(bomb), T, 'x.logits block 0', V), /^Error: offline logits: x\.logits block 0 decompresses to more than 328 bytes/);
  assert.ok(process.memoryUsage().arrayBuffers - before < 8 << 20, 'stopped long before inflating it all');
});

test('offline logits: ids outside the vocabulary and truncated records are named', () => {
  const T = 2;
  const rows = new Float32Array([1, -Infinity, -Infinity, 2]);
  const rec = encodeBlock(rows, T, 2);
  assert.throws(() => decodeBlock(rec, crc32(rec), T, 'y block 3', 1), /y block 3 holds token id 1 outside the vocabulary of 1/);
  assert.throws(() => decodeBlock(rec.subarray(0, rec.byteLength - 2), crc32(rec.subarray(0, rec.byteLength - 2)), T, 'y block 3', 2), /y block 3 does not decompress/);
  assert.throws(() => decodeBlock(rec, crc32(rec) ^ 1, T, 'y block 3', 2), /y block 3 is corrupted \(checksum mismatch\)/);
  const short = deflateSync(new Uint8Array(3));
  assert.throws(() => decodeBlock(short, crc32(short), T, 'y block 3', 2), /y block 3 has 3 bytes, too few for its 2 counts/);
});
