/**
 * Checksums and non-cryptographic hashes on bytes, browser-safe: CRC-32 (the zlib/PNG polynomial)
 * for detecting corruption, and a 64-bit hash for cache keys.
 * @module
 */

let crcTable: Uint32Array | undefined;

function table(): Uint32Array {
  if (crcTable) return crcTable;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  crcTable = t;
  return t;
}

/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib's `crc32`) of `bytes`, as a uint32.
 * Pass a previous result as `crc` to continue over several chunks.
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const t = table();
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A 64-bit non-cryptographic hash of `bytes` as 16 lowercase hex digits: two murmur3-style 32-bit
 * lanes with different constants, cross-mixed at the end. Good for cache keys (accidental
 * collisions ~2^-64), not for adversarial input.
 */
export function hash64(bytes: Uint8Array): string {
  let h1 = 0x243f6a88;
  let h2 = 0x85a308d3;
  const n = bytes.length;
  const words = n >>> 2;
  for (let w = 0; w < words; w++) {
    const i = w << 2;
    const k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    let k1 = Math.imul(rotl(Math.imul(k, 0xcc9e2d51), 15), 0x1b873593);
    h1 = Math.imul(rotl(h1 ^ k1, 13), 5) + 0xe6546b64;
    k1 = Math.imul(rotl(Math.imul(k, 0x9e3779b1), 17), 0x85ebca77);
    h2 = Math.imul(rotl(h2 ^ k1, 11), 9) + 0x52dce729;
  }
  let tail = 0;
  for (let i = words << 2, s = 0; i < n; i++, s += 8) tail |= bytes[i]! << s;
  if ((n & 3) !== 0) {
    h1 ^= Math.imul(rotl(Math.imul(tail, 0xcc9e2d51), 15), 0x1b873593);
    h2 ^= Math.imul(rotl(Math.imul(tail, 0x9e3779b1), 17), 0x85ebca77);
  }
  // Length in both lanes (as a 53-bit number: low and high 32 bits).
  const hi = Math.floor(n / 0x100000000);
  h1 = fmix32(h1 ^ n ^ Math.imul(hi, 0x27d4eb2f));
  h2 = fmix32(h2 ^ n ^ Math.imul(hi, 0x165667b1));
  const a = fmix32((h1 + Math.imul(h2, 0x9e3779b1)) >>> 0);
  const b = fmix32((h2 + Math.imul(a, 0x85ebca6b)) >>> 0);
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}
