/**
 * The encoder's merge cache, looked up by a range of the text instead of a string: hashing and
 * comparing the characters in place means a repeated word (most words of natural text) costs no
 * substring allocation at all. Open addressing in flat arrays; when half full it starts over.
 */
import type { WordTokens } from "./bpe-model.ts";

/** Map from a piece of text to its tokens, looked up by range (see the file comment). */
export class PieceCache {
  private keys: (string | undefined)[];
  private values: (WordTokens | undefined)[];
  private hashes: Int32Array;
  private mask: number;
  private size = 0;
  private readonly limit: number;

  /** Holds up to `capacity` pieces (rounded to a power of two); 0 disables caching. */
  constructor(capacity: number) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.limit = capacity;
    this.keys = new Array(capacity > 0 ? cap : 0);
    this.values = new Array(capacity > 0 ? cap : 0);
    this.hashes = new Int32Array(capacity > 0 ? cap : 0);
    this.mask = cap - 1;
  }

  /** Hash of `text[a, b)`, preceded by a space when `prefixed` (FNV-1a over UTF-16 units). */
  static hash(text: string, a: number, b: number, prefixed: boolean): number {
    let h = prefixed ? Math.imul(0x811c9dc5 ^ 0x20, 0x01000193) : 0x811c9dc5;
    for (let i = a; i < b; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return h | 0;
  }

  /** Cached tokens of the piece `(prefixed ? " " : "") + text[a, b)` with hash `h`, if any. */
  get(text: string, a: number, b: number, prefixed: boolean, h: number): WordTokens | undefined {
    if (this.limit === 0) return undefined;
    const len = b - a + (prefixed ? 1 : 0);
    const { keys, hashes, mask } = this;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === undefined) return undefined;
      if (hashes[i] === h && k.length === len && sameText(k, text, a, b, prefixed)) return this.values[i];
    }
  }

  /** Remembers `value` for `piece` (whose hash is `h`). */
  set(piece: string, h: number, value: WordTokens): void {
    if (this.limit === 0) return;
    if (this.size >= this.limit) this.clear();
    const { keys, mask } = this;
    let i = h & mask;
    while (keys[i] !== undefined) i = (i + 1) & mask;
    keys[i] = piece;
    this.values[i] = value;
    this.hashes[i] = h;
    this.size++;
  }

  clear(): void {
    this.keys.fill(undefined);
    this.values.fill(undefined);
    this.size = 0;
  }
}

function sameText(key: string, text: string, a: number, b: number, prefixed: boolean): boolean {
  let j = 0;
  if (prefixed) {
    if (key.charCodeAt(0) !== 0x20) return false;
    j = 1;
  }
  for (let i = a; i < b; i++, j++) if (key.charCodeAt(j) !== text.charCodeAt(i)) return false;
  return true;
}
