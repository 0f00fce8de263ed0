/**
 * Fuzzing the token cache: a mutated cache file decodes to the ids it was written with, is
 * reported stale, or fails with a TokenCacheError naming the file; on disk, `cachedTokenize`
 * always ends with the right ids (a damaged cache is rebuilt, never trusted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, decodeTokenCache, encodeTokenCache, TOKEN_CACHE_HEADER_BYTES, tokenCacheKey } from '@kdgpu/train';
import { cachedTokenize, tokenCachePath } from '@kdgpu/train/node';
import { assertCoverage, FUZZ_CASES, fuzz, mutateBytes, type Rng, summary } from './fuzz.ts';

const NAME = 'corpus.tokens';
const KEY = tokenCacheKey('some text', '{"tokenizer":1}');
// Header fields: version, bytes per id, count (u64), key, vocab size, payload CRC, header CRC.
const HOT = [8, 12, 16, 20, 24, 32, 36, 40];

function validFile(r: Rng): { bytes: Uint8Array; ids: number[] } {
  const vocab = r.pick([0, 50, 65536, 70000, 2 ** 32]);
  const limit = vocab || 2 ** 32;
  const ids = Array.from({ length: r.int(200) }, () => r.int(Math.min(limit, r.chance(0.5) ? 300 : limit)));
  return { bytes: encodeTokenCache(ids, { key: KEY, vocabSize: vocab || undefined }), ids };
}

test('token cache: mutated files decode to their ids, read as stale, or fail naming the file', async () => {
  const rep = await fuzz('token cache', {
    input: (r) => {
      const { bytes, ids } = validFile(r);
      return { bytes: r.chance(0.1) ? bytes : mutateBytes(bytes, r, HOT), ids, original: bytes };
    },
    run: ({ bytes, ids, original }) => {
      const got = decodeTokenCache(bytes, KEY, NAME);
      // Stale is a valid answer (another version or key); accepted ids must be the written ones
      // unless only the header's unchecked bytes changed (reserved word).
      if (got !== null) {
        assert.deepEqual(Array.from(got), ids, `decoded ids differ; ${bytes.byteLength} vs ${original.byteLength} bytes`);
      }
    },
    expected: (e) => e.name === 'TokenCacheError' && e.message.startsWith(`${NAME}: `),
    sizeOf: ({ bytes }) => bytes.byteLength,
  });
  console.log(summary('token cache', rep));
  assertCoverage(rep, 0.2, 4);
});

test('token cache: a header claiming 2^53 ids fails on the length check, before any allocation', () => {
  const bytes = encodeTokenCache([1, 2, 3], { key: KEY, vocabSize: 50 });
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  dv.setUint32(16, 0xffffffff, true);
  dv.setUint32(20, 0x1fffff, true);
  dv.setUint32(40, crc32(bytes.subarray(0, 40)), true); // re-sealed: the count is the only problem
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => decodeTokenCache(bytes, KEY, NAME), /^TokenCacheError: corpus\.tokens: length past end: the header says 9007199254740991 ids/);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20);
  assert.equal(bytes.byteLength, TOKEN_CACHE_HEADER_BYTES + 6);
});

test('token cache on disk: whatever the damage, cachedTokenize returns the right ids', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdgpu-fuzz-cache-'));
  try {
    const text = join(dir, 'corpus.train');
    writeFileSync(text, 'the quick brown fox jumps over the lazy dog '.repeat(20));
    const tokenize = (t: string) => Array.from(t, (ch) => ch.charCodeAt(0) % 97);
    const want = tokenize('the quick brown fox jumps over the lazy dog '.repeat(20));
    const cacheDir = join(dir, 'cache');
    await cachedTokenize(text, 'tok', tokenize, cacheDir, { vocabSize: 97 });
    const good = new Uint8Array(readFileSync(tokenCachePath(text, cacheDir)));
    const rep = await fuzz('token cache on disk', {
      cases: Math.max(1, Math.round(FUZZ_CASES / 10)), // each case writes and reads files
      input: (r) => mutateBytes(good, r, HOT),
      run: async (bytes) => {
        writeFileSync(tokenCachePath(text, cacheDir), bytes);
        const got = await cachedTokenize(text, 'tok', tokenize, cacheDir, { vocabSize: 97 });
        assert.deepEqual(Array.from(got.ids), want, `status ${got.status}`);
        if (got.status === 'rebuilt-damaged') assert.match(got.reason ?? '', /the token cache is damaged, delete it to rebuild/);
      },
      expected: () => false,
    });
    console.log(summary('token cache on disk', rep));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
