/**
 * Counting the distinct words of training text. Each piece the pre-tokenizer reports is hashed and
 * compared where it lies in the text, so a word seen before (nearly every word of a large corpus)
 * costs no substring: only new words are copied out, into the table that the merge loop reads.
 */
import type { WordTable } from "./bpe-trainer-core.ts";
import { BYTE_TO_CP, utf8Encode } from "./byte-level.ts";
import type { Normalizer } from "./normalizers.ts";
import { PieceCache } from "./piece-cache.ts";
import type { PreTokenizer } from "./pre-tokenizers.ts";
import { assertWellFormed } from "./unicode.ts";

/** Counts distinct words (pieces after normalization and pre-tokenization) of training text. */
export class WordCounter {
  private words: string[] = [];
  private counts: Float64Array = new Float64Array(1024);
  private hashes: Int32Array = new Int32Array(1024);
  private slots: Int32Array = new Int32Array(4096); // word index + 1; 0 is empty
  private text = "";
  private readonly emit = (a: number, b: number, prefixed: boolean) => this.count(this.text, a, b, prefixed);

  constructor(
    private readonly normalizer: Normalizer | null,
    private readonly preTokenizer: PreTokenizer | null,
  ) {}

  /** Number of distinct words so far. */
  get size(): number {
    return this.words.length;
  }

  /** The words and their counts, in first-seen order. */
  *entries(): IterableIterator<[string, number]> {
    for (let i = 0; i < this.words.length; i++) yield [this.words[i]!, this.counts[i]!];
  }

  /** Counts the words of one sequence. */
  addSequence(sequence: string): void {
    assertWellFormed(sequence, "trainBpe");
    const text = this.normalizer ? this.normalizer.normalizeString(sequence) : sequence;
    this.split(text, 0, text.length);
  }

  /**
   * Counts the words of complete lines, each line a sequence (as HF reads files). The batch is
   * normalized at once: the supported normalizers never act across a `\n`.
   */
  addLines(lines: string): void {
    const text = this.normalizer ? this.normalizer.normalizeString(lines) : lines;
    for (let i = 0; i < text.length; ) {
      const nl = text.indexOf("\n", i);
      const end = nl < 0 ? text.length : nl + 1;
      this.split(text, i, end);
      i = end;
    }
  }

  private split(text: string, start: number, end: number): void {
    this.text = text;
    if (this.preTokenizer) this.preTokenizer.split(text, start, end, this.emit);
    else if (start < end) this.emit(start, end, false);
  }

  /** Adds one occurrence of the word `(prefixed ? " " : "") + text[a, b)`. */
  private count(text: string, a: number, b: number, prefixed: boolean): void {
    const h = PieceCache.hash(text, a, b, prefixed);
    const len = b - a + (prefixed ? 1 : 0);
    const { slots, words, hashes } = this;
    const mask = slots.length - 1;
    let i = h & mask;
    for (let s = slots[i]!; s !== 0; i = (i + 1) & mask, s = slots[i]!) {
      const w = s - 1;
      if (hashes[w] === h && words[w]!.length === len && sameRange(words[w]!, text, a, b, prefixed)) {
        this.counts[w] = this.counts[w]! + 1;
        return;
      }
    }
    // A substring can share memory with the whole batch it came from; copying the new word keeps
    // the table from pinning every batch of a large corpus.
    const word = prefixed ? " " + text.slice(a, b) : (" " + text.slice(a, b)).slice(1);
    const w = words.length;
    words.push(word);
    if (w >= this.counts.length) {
      this.counts = grow(this.counts, w + 1);
      this.hashes = growI(this.hashes, w + 1);
    }
    this.counts[w] = 1;
    this.hashes[w] = h;
    slots[i] = w + 1;
    if (words.length * 2 > slots.length) this.rehash();
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let w = 0; w < this.words.length; w++) {
      let i = this.hashes[w]! & mask;
      while (slots[i] !== 0) i = (i + 1) & mask;
      slots[i] = w + 1;
    }
    this.slots = slots;
  }

  /** The words as code points (GPT-2 byte characters when `byteLevel`), ready for the merge loop. */
  toWordTable(byteLevel: boolean): WordTable {
    const n = this.words.length;
    const starts = new Int32Array(n + 1);
    let cps = new Int32Array(1 << 16);
    let len = 0;
    let buf = new Uint8Array(1024);
    for (let w = 0; w < n; w++) {
      const word = this.words[w]!;
      if (len + word.length * 3 > cps.length) {
        const bigger = new Int32Array(Math.max(len + word.length * 3, cps.length * 2));
        bigger.set(cps);
        cps = bigger;
      }
      if (byteLevel) {
        if (buf.length < word.length * 3) buf = new Uint8Array(word.length * 6);
        const nb = utf8Encode(word, 0, word.length, buf);
        for (let i = 0; i < nb; i++) cps[len++] = BYTE_TO_CP[buf[i]!]!;
      } else {
        for (const ch of word) cps[len++] = ch.codePointAt(0)!;
      }
      starts[w + 1] = len;
    }
    return { cps: cps.subarray(0, len), starts, counts: this.counts.slice(0, n) };
  }
}

function sameRange(word: string, text: string, a: number, b: number, prefixed: boolean): boolean {
  let j = 0;
  if (prefixed) {
    if (word.charCodeAt(0) !== 0x20) return false;
    j = 1;
  }
  for (let i = a; i < b; i++, j++) if (word.charCodeAt(j) !== text.charCodeAt(i)) return false;
  return true;
}

function grow(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(Math.max(n, a.length * 2));
  b.set(a);
  return b;
}
function growI(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(Math.max(n, a.length * 2));
  b.set(a);
  return b;
}
