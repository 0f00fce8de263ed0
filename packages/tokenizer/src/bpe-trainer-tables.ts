/**
 * Data structures of the BPE merge loop: the pair table (running counts), the merger (HF's
 * `Word::merge` over the words of one heap entry) and the max-heap of entries.
 */
import { PairMap } from "./pair-map.ts";

/** Returns `a`, or a copy at least twice as long when it is shorter than `n`. */
export function growI32(a: Int32Array, n: number): Int32Array {
  if (n <= a.length) return a;
  const b = new Int32Array(Math.max(n, a.length * 2));
  b.set(a);
  return b;
}
/** Returns `a`, or a copy at least twice as long when it is shorter than `n`. */
export function growF64(a: Float64Array, n: number): Float64Array {
  if (n <= a.length) return a;
  const b = new Float64Array(Math.max(n, a.length * 2));
  b.set(a);
  return b;
}

/** Pairs of ids with their running counts and bookkeeping, in growable typed arrays. */
export class PairTable {
  private readonly map = new PairMap(1 << 16);
  size = 0;
  left: Int32Array = new Int32Array(1 << 16);
  right: Int32Array = new Int32Array(1 << 16);
  count: Float64Array = new Float64Array(1 << 16);
  /** Number of distinct words holding the pair (initial count), then scratch for grouping. */
  words: Int32Array = new Int32Array(1 << 16);
  lastWord: Int32Array = new Int32Array(1 << 16).fill(-1);
  lastStep: Int32Array = new Int32Array(1 << 16);

  /** Index of pair (a, b), created with count 0 if new. */
  id(a: number, b: number): number {
    let p = this.map.get(a, b);
    if (p >= 0) return p;
    p = this.size++;
    this.map.set(a, b, p);
    if (p >= this.left.length) {
      const n = p + 1;
      this.left = growI32(this.left, n);
      this.right = growI32(this.right, n);
      this.count = growF64(this.count, n);
      this.words = growI32(this.words, n);
      const old = this.lastWord.length;
      this.lastWord = growI32(this.lastWord, n);
      this.lastWord.fill(-1, old);
      this.lastStep = growI32(this.lastStep, n);
    }
    this.left[p] = a;
    this.right[p] = b;
    return p;
  }

  /** Tie-break key: HF prefers the smaller (left, right) among equal counts. */
  order(p: number): number {
    return this.left[p]! * 4194304 + this.right[p]!;
  }
}

/** Applies merges to the words, keeping pair counts and new occurrences up to date. */
export class Merger {
  // New occurrences found during one merge (HF's `where_to_update`), as (pair, word) lists.
  private pendPair: Int32Array = new Int32Array(1 << 12);
  private pendWord: Int32Array = new Int32Array(1 << 12);
  private nPend = 0;
  private step = 0;

  constructor(
    private readonly pt: PairTable,
    private readonly sym: Int32Array,
    private readonly wStart: Int32Array,
    private readonly wLen: Int32Array,
    private readonly counts: Float64Array,
  ) {
    pt.lastWord.fill(-1);
  }

  /**
   * HF's `Word::merge` on each word: left to right, non-overlapping, with -1/+1 for the
   * neighbouring pairs. The merged pair's own count is never decremented (HF does not), which
   * matters when a pair is merged a second time.
   */
  merge(words: Int32Array, a: number, b: number, nid: number): void {
    const { sym, wStart, wLen, counts } = this;
    this.step++;
    for (let k = 0; k < words.length; k++) {
      const w = words[k]!;
      const wc = counts[w]!;
      const s = wStart[w]!;
      const end = s + wLen[w]!;
      let r = s;
      let o = s;
      while (r < end) {
        const x = sym[r]!;
        if (x === a && r + 1 < end && sym[r + 1] === b) {
          if (o > s) {
            const prev = sym[o - 1]!;
            this.change(prev, a, -wc, w);
            this.change(prev, nid, wc, w);
          }
          if (r + 2 < end) {
            const next = sym[r + 2]!;
            this.change(b, next, -wc, w);
            this.change(nid, next, wc, w);
          }
          sym[o++] = nid;
          r += 2;
        } else {
          sym[o++] = x;
          r++;
        }
      }
      wLen[w] = o - s;
    }
  }

  private change(x: number, y: number, delta: number, w: number): void {
    const pt = this.pt;
    const q = pt.id(x, y);
    pt.count[q] = pt.count[q]! + delta;
    // A word's changes come together, so the last (word, step) per pair keeps each word once.
    if (delta > 0 && (pt.lastWord[q] !== w || pt.lastStep[q] !== this.step)) {
      pt.lastWord[q] = w;
      pt.lastStep[q] = this.step;
      if (this.nPend === this.pendPair.length) {
        this.pendPair = growI32(this.pendPair, this.nPend + 1);
        this.pendWord = growI32(this.pendWord, this.nPend + 1);
      }
      this.pendPair[this.nPend] = q;
      this.pendWord[this.nPend++] = w;
    }
  }

  /** Pushes one heap entry per pair that gained occurrences, if its count is positive. */
  pushPending(heap: MergeHeap): void {
    const { pt, pendPair, pendWord } = this;
    const n = this.nPend;
    this.nPend = 0;
    if (n === 0) return;
    // Group the (pair, word) list by pair: a counting sort over the touched pairs, using
    // `pt.words` (all zero between calls) as the per-pair counter and then cursor.
    const touched: number[] = [];
    for (let i = 0; i < n; i++) {
      const q = pendPair[i]!;
      if (pt.words[q] === 0) touched.push(q);
      pt.words[q] = pt.words[q]! + 1;
    }
    const buf = new Int32Array(n);
    const starts: number[] = [];
    let off = 0;
    for (const q of touched) {
      starts.push(off);
      const c = pt.words[q]!;
      pt.words[q] = off;
      off += c;
    }
    for (let i = 0; i < n; i++) buf[pt.words[pendPair[i]!]!++] = pendWord[i]!;
    touched.forEach((q, i) => {
      const end = pt.words[q]!;
      pt.words[q] = 0;
      if (pt.count[q]! > 0) heap.push(heap.add(q, pt.count[q]!, pt.order(q), buf.subarray(starts[i]!, end)));
    });
  }
}

/**
 * Max-heap of entries ordered like HF's `Merge`: larger count first, then the smaller
 * (left id, right id). Entries live in parallel arrays and are recycled.
 */
export class MergeHeap {
  pair: Int32Array = new Int32Array(1024);
  count: Float64Array = new Float64Array(1024);
  private order: Float64Array = new Float64Array(1024);
  pos: Array<Int32Array | undefined> = [];
  private heap: Int32Array = new Int32Array(1024);
  private n = 0;
  private free: number[] = [];
  private nEntries = 0;
  private built = false;

  get size(): number {
    return this.n;
  }

  /** Creates an entry and returns its index; before `heapify` it also joins the heap. */
  add(p: number, c: number, order: number, words: Int32Array): number {
    const e = this.free.length ? this.free.pop()! : this.nEntries++;
    if (e >= this.pair.length) {
      this.pair = growI32(this.pair, e + 1);
      this.count = growF64(this.count, e + 1);
      this.order = growF64(this.order, e + 1);
    }
    this.pair[e] = p;
    this.count[e] = c;
    this.order[e] = order;
    this.pos[e] = words;
    if (!this.built) {
      this.heap = growI32(this.heap, this.n + 1);
      this.heap[this.n++] = e;
    }
    return e;
  }

  /** Orders the entries added so far (O(n)). */
  heapify(): void {
    for (let i = (this.n >> 1) - 1; i >= 0; i--) this.down(i);
    this.built = true;
  }

  /** Returns an entry's slot to the pool. */
  release(e: number): void {
    this.pos[e] = undefined;
    this.free.push(e);
  }

  private before(x: number, y: number): boolean {
    const cx = this.count[x]!;
    const cy = this.count[y]!;
    return cx > cy || (cx === cy && this.order[x]! < this.order[y]!);
  }

  push(e: number): void {
    this.heap = growI32(this.heap, this.n + 1);
    const h = this.heap;
    let i = this.n++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(e, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = e;
  }

  pop(): number {
    const h = this.heap;
    const top = h[0]!;
    const last = h[--this.n]!;
    if (this.n > 0) {
      h[0] = last;
      this.down(0);
    }
    return top;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = this.n;
    const e = h[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(h[c + 1]!, h[c]!)) c++;
      if (!this.before(h[c]!, e)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = e;
  }
}
