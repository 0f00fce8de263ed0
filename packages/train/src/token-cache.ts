/**
 * A compact binary cache of a tokenized corpus file, browser-safe (bytes in, bytes out; the file
 * handling is in `token-cache-node.ts`).
 *
 * Layout, all little-endian, 48-byte header then the ids:
 * ```
 *  0  magic "KDGPUTOK"          8 bytes
 *  8  version (1)               u32
 * 12  bytes per id (2 or 4)     u32   u16 when the vocabulary fits in 65536 ids, else u32
 * 16  token count               u64   (read as a safe integer)
 * 24  key                       8 bytes: hash64(source text bytes, tokenizer key), see tokenCacheKey
 * 32  vocab size (0 = unknown)  u32
 * 36  payload CRC-32            u32
 * 40  header CRC-32 of [0, 40)  u32
 * 44  reserved (0)              u32
 * 48  ids                       count × bytes per id
 * ```
 * @module
 */

import { crc32, hash64 } from './checksum.ts';

/** The token cache file's magic bytes. */
export const TOKEN_CACHE_MAGIC = 'KDGPUTOK';
/** The format version written and read. */
export const TOKEN_CACHE_VERSION = 1;
/** Header size in bytes; the ids follow. */
export const TOKEN_CACHE_HEADER_BYTES = 48;

/** What identifies the cache's content besides the ids. */
export interface TokenCacheMeta {
  /** 16 hex digits from {@link tokenCacheKey}. */
  key: string;
  /** Vocabulary size; picks u16 ids when ≤ 65536 and bounds-checks the ids. Default: from the largest id. */
  vocabSize?: number;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const encoder = new TextEncoder();

function toBytes(x: Uint8Array | string): Uint8Array {
  return typeof x === 'string' ? encoder.encode(x) : x;
}

/**
 * The cache key of a source file's bytes tokenized by a tokenizer: 16 hex digits hashing both
 * (and their lengths). `tokenizer` is anything that changes the ids: the tokenizer JSON, plus the
 * cleaner name and options if the text is cleaned before tokenizing.
 */
export function tokenCacheKey(text: Uint8Array | string, tokenizer: Uint8Array | string): string {
  const a = hash64(toBytes(text));
  const b = hash64(toBytes(tokenizer));
  return hash64(encoder.encode(`${a}:${b}`));
}

function keyBytes(key: string, where: string): Uint8Array {
  if (!/^[0-9a-f]{16}$/.test(key)) throw new Error(`${where}: key must be 16 lowercase hex digits (from tokenCacheKey), got ${JSON.stringify(key)}`);
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = parseInt(key.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function hex32(x: number): string {
  return `0x${x.toString(16).padStart(8, '0')}`;
}

/**
 * Encodes ids into a cache file's bytes. Throws if an id is not an integer in `[0, vocabSize)`
 * (or `[0, 2^32)` without a vocab size).
 */
export function encodeTokenCache(ids: ArrayLike<number>, meta: TokenCacheMeta): Uint8Array {
  const key = keyBytes(meta.key, 'encodeTokenCache');
  const vocab = meta.vocabSize ?? 0;
  if (!Number.isSafeInteger(vocab) || vocab < 0 || vocab > 0x100000000) throw new Error(`encodeTokenCache: vocabSize must be an integer in [1, 2^32], got ${meta.vocabSize}`);
  const limit = vocab > 0 ? vocab : 0x100000000;
  let max = -1;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= limit) {
      throw new Error(`encodeTokenCache: id ${id} at index ${i} is not an integer in [0, ${limit})${vocab > 0 ? ' (vocabSize)' : ''}`);
    }
    if (id > max) max = id;
  }
  const width = (vocab > 0 ? vocab : max + 1) <= 0x10000 ? 2 : 4;
  const payload = width === 2 ? Uint16Array.from(ids) : Uint32Array.from(ids);
  const out = new Uint8Array(TOKEN_CACHE_HEADER_BYTES + payload.byteLength);
  const body = out.subarray(TOKEN_CACHE_HEADER_BYTES);
  if (LITTLE_ENDIAN_HOST) {
    body.set(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength));
  } else {
    const dv = new DataView(out.buffer, TOKEN_CACHE_HEADER_BYTES);
    for (let i = 0; i < payload.length; i++) {
      if (width === 2) dv.setUint16(i * 2, payload[i]!, true);
      else dv.setUint32(i * 4, payload[i]!, true);
    }
  }
  const dv = new DataView(out.buffer);
  out.set(encoder.encode(TOKEN_CACHE_MAGIC), 0);
  dv.setUint32(8, TOKEN_CACHE_VERSION, true);
  dv.setUint32(12, width, true);
  dv.setUint32(16, ids.length >>> 0, true);
  dv.setUint32(20, Math.floor(ids.length / 0x100000000), true);
  out.set(key, 24);
  dv.setUint32(32, vocab >>> 0, true);
  dv.setUint32(36, crc32(body), true);
  dv.setUint32(40, crc32(out.subarray(0, 40)), true);
  return out;
}

function corrupt(name: string, problem: string): Error {
  const err = new Error(`${name}: ${problem}; the token cache is damaged, delete it to rebuild`);
  err.name = 'TokenCacheError';
  return err;
}

/**
 * Decodes a cache file's bytes. Returns the ids (Uint16Array or Uint32Array as stored; it may share
 * memory with `bytes`), or `null` when the cache is stale: written for a different key, or in
 * another format version. Throws an Error named `TokenCacheError`, whose message starts with
 * `name` (the file path), for bad magic, a damaged header, a payload shorter or longer than the
 * header says, or a checksum mismatch.
 */
export function decodeTokenCache(bytes: Uint8Array, expectedKey: string, name = 'token cache'): Uint16Array | Uint32Array | null {
  const H = TOKEN_CACHE_HEADER_BYTES;
  const expected = keyBytes(expectedKey, 'decodeTokenCache');
  if (bytes.length < 8 || new TextDecoder().decode(bytes.subarray(0, 8)) !== TOKEN_CACHE_MAGIC) {
    if (bytes.length < 8 && encoder.encode(TOKEN_CACHE_MAGIC).subarray(0, bytes.length).every((b, i) => b === bytes[i])) {
      throw corrupt(name, `truncated: ${bytes.length} bytes, the header alone is ${H}`);
    }
    throw corrupt(name, `bad magic ${JSON.stringify(new TextDecoder().decode(bytes.subarray(0, 8)))} (expected "${TOKEN_CACHE_MAGIC}"): not a kdgpu token cache`);
  }
  if (bytes.length < H) throw corrupt(name, `truncated: ${bytes.length} bytes, the header alone is ${H}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Another version may lay out its header differently: it is stale, not damaged.
  if (dv.getUint32(8, true) !== TOKEN_CACHE_VERSION) return null;
  const headerCrc = crc32(bytes.subarray(0, 40));
  if (dv.getUint32(40, true) !== headerCrc) {
    throw corrupt(name, `header checksum mismatch (stored ${hex32(dv.getUint32(40, true))}, computed ${hex32(headerCrc)})`);
  }
  const key = bytes.subarray(24, 32);
  if (hex(key) !== hex(expected)) return null;
  const width = dv.getUint32(12, true);
  if (width !== 2 && width !== 4) throw corrupt(name, `bytes per id is ${width}, expected 2 or 4`);
  const count = dv.getUint32(16, true) + dv.getUint32(20, true) * 0x100000000;
  const payloadBytes = count * width;
  const have = bytes.length - H;
  if (payloadBytes > have) throw corrupt(name, `length past end: the header says ${count} ids (${payloadBytes} bytes) but the file holds ${have} bytes after the header (truncated)`);
  if (payloadBytes < have) throw corrupt(name, `${have - payloadBytes} unexpected trailing bytes after ${count} ids`);
  const body = bytes.subarray(H);
  const crc = crc32(body);
  if (dv.getUint32(36, true) !== crc) throw corrupt(name, `payload checksum mismatch (stored ${hex32(dv.getUint32(36, true))}, computed ${hex32(crc)})`);
  const start = bytes.byteOffset + H;
  if (LITTLE_ENDIAN_HOST && start % width === 0) {
    return width === 2 ? new Uint16Array(bytes.buffer, start, count) : new Uint32Array(bytes.buffer, start, count);
  }
  const out = width === 2 ? new Uint16Array(count) : new Uint32Array(count);
  const pd = new DataView(bytes.buffer, start, payloadBytes);
  for (let i = 0; i < count; i++) out[i] = width === 2 ? pd.getUint16(i * 2, true) : pd.getUint32(i * 4, true);
  return out;
}
