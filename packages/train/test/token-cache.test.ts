import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32, hash64 } from '../src/checksum.ts';
import { decodeTokenCache, encodeTokenCache, TOKEN_CACHE_HEADER_BYTES, tokenCacheKey } from '../src/token-cache.ts';
import { cachedTokenize, tokenCachePath } from '../src/token-cache-node.ts';

const enc = new TextEncoder();

test('crc32 and hash64 known values', () => {
  // zlib.crc32(b"123456789") == 0xCBF43926 (the CRC-32 check value); crc32(b"") == 0.
  assert.equal(crc32(enc.encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(enc.encode('6789'), crc32(enc.encode('12345'))), 0xcbf43926);
  const h = hash64(enc.encode('hello'));
  assert.match(h, /^[0-9a-f]{16}$/);
  assert.equal(hash64(enc.encode('hello')), h);
  assert.notEqual(hash64(enc.encode('hellp')), h);
  assert.notEqual(hash64(new Uint8Array(1)), hash64(new Uint8Array(2))); // length matters
});

test('round trip; u16 for small vocabularies, u32 for large', () => {
  const key = tokenCacheKey('some text', '{"tokenizer":1}');
  const small = encodeTokenCache([0, 1, 65535, 7], { key, vocabSize: 65536 });
  assert.equal(small.length, TOKEN_CACHE_HEADER_BYTES + 4 * 2);
  const ids = decodeTokenCache(small, key)!;
  assert.ok(ids instanceof Uint16Array);
  assert.deepEqual(Array.from(ids), [0, 1, 65535, 7]);
  const big = encodeTokenCache(Int32Array.from([0, 70000, 3]), { key });
  assert.equal(big.length, TOKEN_CACHE_HEADER_BYTES + 3 * 4);
  const ids32 = decodeTokenCache(big, key)!;
  assert.ok(ids32 instanceof Uint32Array);
  assert.deepEqual(Array.from(ids32), [0, 70000, 3]);
  // Empty corpus.
  assert.deepEqual(Array.from(decodeTokenCache(encodeTokenCache([], { key }), key)!), []);
  // Unaligned input bytes are copied, not viewed.
  const shifted = new Uint8Array(small.length + 1);
  shifted.set(small, 1);
  assert.deepEqual(Array.from(decodeTokenCache(shifted.subarray(1), key)!), [0, 1, 65535, 7]);
});

test('a different key is stale (null), not an error', () => {
  const key = tokenCacheKey('text', 'tok-a');
  const other = tokenCacheKey('text', 'tok-b');
  assert.notEqual(key, other);
  assert.notEqual(tokenCacheKey('text!', 'tok-a'), key);
  assert.equal(decodeTokenCache(encodeTokenCache([1, 2], { key }), other), null);
  // Another format version is stale too.
  const bytes = encodeTokenCache([1, 2], { key });
  new DataView(bytes.buffer).setUint32(8, 99, true);
  assert.equal(decodeTokenCache(bytes, key), null);
});

test('damaged caches throw errors naming the file and the problem', () => {
  const key = tokenCacheKey('t', 'k');
  const good = encodeTokenCache([5, 6, 7, 8], { key, vocabSize: 100 });
  const name = '/cache/qed.train.tokens';
  // Truncated payload.
  assert.throws(() => decodeTokenCache(good.subarray(0, good.length - 1), key, name),
    (e: Error) => e.name === 'TokenCacheError' && e.message.startsWith(name) && /length past end: the header says 4 ids \(8 bytes\) but the file holds 7/.test(e.message));
  // Truncated header, and an empty file.
  assert.throws(() => decodeTokenCache(good.subarray(0, 20), key, name), /\/cache\/qed\.train\.tokens: truncated: 20 bytes, the header alone is 48/);
  assert.throws(() => decodeTokenCache(new Uint8Array(0), key, name), /truncated: 0 bytes/);
  // Flipped payload bit.
  const flipped = good.slice();
  flipped[TOKEN_CACHE_HEADER_BYTES + 3]! ^= 0x10;
  assert.throws(() => decodeTokenCache(flipped, key, name), /qed\.train\.tokens: payload checksum mismatch .*delete it to rebuild/);
  // Damaged header (token count).
  const badHeader = good.slice();
  badHeader[16]! ^= 1;
  assert.throws(() => decodeTokenCache(badHeader, key, name), /header checksum mismatch/);
  // Not a cache at all.
  assert.throws(() => decodeTokenCache(enc.encode('{"not": "a cache", "padding": "...................................."}'), key, name), /qed\.train\.tokens: bad magic .* \(expected "KDGPUTOK"\): not a kdgpu token cache/);
  // Trailing garbage.
  const longer = new Uint8Array(good.length + 2);
  longer.set(good);
  assert.throws(() => decodeTokenCache(longer, key, name), /2 unexpected trailing bytes/);
  // Bad ids and keys on encode.
  assert.throws(() => encodeTokenCache([1, 100], { key, vocabSize: 100 }), /id 100 at index 1 is not an integer in \[0, 100\)/);
  assert.throws(() => encodeTokenCache([1.5], { key }), /id 1\.5 at index 0/);
  assert.throws(() => encodeTokenCache([1], { key: 'xyz' }), /key must be 16 lowercase hex digits/);
});

test('cachedTokenize: builds, reuses, rebuilds stale and damaged caches, leaves no temp files', async () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'kdgpu-cache-'));
  try {
    const text = join(dir, 'qed.train');
    const cacheDir = join(dir, 'cache');
    fs.writeFileSync(text, 'a b c a');
    let calls = 0;
    const tokenize = (s: string): number[] => {
      calls++;
      return s.split(' ').map((w) => w.charCodeAt(0) - 97);
    };
    const first = await cachedTokenize(text, 'tok-v1', tokenize, cacheDir, { vocabSize: 16000 });
    assert.equal(first.status, 'built');
    assert.deepEqual(Array.from(first.ids), [0, 1, 2, 0]);
    assert.equal(first.path, tokenCachePath(text, cacheDir));
    assert.ok(fs.existsSync(first.path));

    const second = await cachedTokenize(text, 'tok-v1', tokenize, cacheDir);
    assert.equal(second.status, 'hit');
    assert.equal(calls, 1);
    assert.deepEqual(Array.from(second.ids), [0, 1, 2, 0]);

    // Another tokenizer: stale, rebuilt.
    const messages: string[] = [];
    const third = await cachedTokenize(text, 'tok-v2', tokenize, cacheDir, { onRebuild: (m) => messages.push(m) });
    assert.equal(third.status, 'rebuilt-stale');
    assert.equal(calls, 2);
    // Changed text: stale, rebuilt with the new ids.
    fs.writeFileSync(text, 'c c');
    const fourth = await cachedTokenize(text, 'tok-v2', tokenize, cacheDir);
    assert.equal(fourth.status, 'rebuilt-stale');
    assert.deepEqual(Array.from(fourth.ids), [2, 2]);
    // Truncated cache (a crash of a non-atomic writer): damaged, rebuilt, reason names the file.
    const bytes = fs.readFileSync(fourth.path);
    fs.writeFileSync(fourth.path, bytes.subarray(0, bytes.length - 1));
    const fifth = await cachedTokenize(text, 'tok-v2', tokenize, cacheDir, { onRebuild: (m) => messages.push(m) });
    assert.equal(fifth.status, 'rebuilt-damaged');
    assert.ok(fifth.reason!.includes(fourth.path) && fifth.reason!.includes('length past end'));
    assert.equal(messages.length, 2);
    assert.match(messages[1]!, /token cache damaged, rebuilding/);
    assert.equal((await cachedTokenize(text, 'tok-v2', tokenize, cacheDir)).status, 'hit');
    // Only the cache file is left: no temp files.
    assert.deepEqual(fs.readdirSync(cacheDir), [fs.readdirSync(cacheDir).find((f) => f.startsWith('qed.train.'))]);
    await assert.rejects(cachedTokenize(join(dir, 'missing.train'), 'k', tokenize, cacheDir), /missing\.train: cannot read .*missing\.train \(no such file\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
