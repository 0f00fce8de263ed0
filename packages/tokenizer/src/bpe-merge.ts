/**
 * Applying BPE merges to the symbols of one piece. Both functions compute what Hugging Face's
 * `Word::merge_all` computes: repeatedly merge the lowest-rank adjacent pair, leftmost first.
 */
import type { PairMap } from "./pair-map.ts";

/** Working arrays for one piece: symbol ids, their byte lengths, unit ends, and pair ranks. */
export interface SymbolScratch {
  sym: Int32Array;
  nb: Int32Array;
  ue: Int32Array;
  pr: Int32Array;
}

/**
 * Merges `sc.sym[0, n)` in place (carrying `nb` and `ue` along) and returns the new length.
 * `ranks` maps a pair of ids to its merge rank; `rankNewId[rank]` is the merged token's id.
 */
export function applyMerges(sc: SymbolScratch, ranks: PairMap, rankNewId: Int32Array, n: number): number {
  return n <= 64 ? mergeScan(sc, ranks, rankNewId, n) : mergeHeap(sc, ranks, rankNewId, n);
}

/**
 * Repeatedly merges the lowest-rank pair, leftmost first. This is what HF's heap loop computes
 * (a stale heap entry can only pass its check when it still names the same pair), and a scan
 * over a rank-per-gap array beats a heap on the short words of natural text.
 */
function mergeScan(sc: SymbolScratch, ranks: PairMap, rankNewId: Int32Array, n: number): number {
  const { sym, nb, ue, pr } = sc;
  for (let i = 0; i + 1 < n; i++) pr[i] = ranks.get(sym[i]!, sym[i + 1]!);
  for (;;) {
    let best = 0x7fffffff;
    let at = -1;
    for (let i = 0; i + 1 < n; i++) {
      const r = pr[i]!;
      if (r >= 0 && r < best) {
        best = r;
        at = i;
      }
    }
    if (at < 0) return n;
    sym[at] = rankNewId[best]!;
    nb[at] = nb[at]! + nb[at + 1]!;
    ue[at] = ue[at + 1]!;
    for (let i = at + 1; i + 1 < n; i++) {
      sym[i] = sym[i + 1]!;
      nb[i] = nb[i + 1]!;
      ue[i] = ue[i + 1]!;
      pr[i] = pr[i + 1]!;
    }
    n--;
    if (at > 0) pr[at - 1] = ranks.get(sym[at - 1]!, sym[at]!);
    if (at + 1 < n) pr[at] = ranks.get(sym[at]!, sym[at + 1]!);
  }
}

/** HF's algorithm for long pieces: a heap of (rank, position) over a linked list of symbols. */
function mergeHeap(sc: SymbolScratch, ranks: PairMap, rankNewId: Int32Array, n: number): number {
  const { sym, nb, ue } = sc;
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap = new MinHeap();
  const SHIFT = 4294967296; // key = rank * 2^32 + position, so ties go to the leftmost
  for (let i = 0; i + 1 < n; i++) {
    const r = ranks.get(sym[i]!, sym[i + 1]!);
    if (r >= 0) heap.push(r * SHIFT + i);
  }
  while (heap.size > 0) {
    const key = heap.pop();
    const rank = Math.floor(key / SHIFT);
    const pos = key - rank * SHIFT;
    const nx = next[pos]!;
    if (!alive[pos] || nx < 0 || ranks.get(sym[pos]!, sym[nx]!) !== rank) continue;
    sym[pos] = rankNewId[rank]!;
    nb[pos] = nb[pos]! + nb[nx]!;
    ue[pos] = ue[nx]!;
    alive[nx] = 0;
    const nn = next[nx]!;
    next[pos] = nn;
    if (nn >= 0) prev[nn] = pos;
    const pv = prev[pos]!;
    if (pv >= 0) {
      const r = ranks.get(sym[pv]!, sym[pos]!);
      if (r >= 0) heap.push(r * SHIFT + pv);
    }
    if (nn >= 0) {
      const r = ranks.get(sym[pos]!, sym[nn]!);
      if (r >= 0) heap.push(r * SHIFT + pos);
    }
  }
  let m = 0;
  for (let i = 0; i < n; i++) {
    if (!alive[i]) continue;
    sym[m] = sym[i]!;
    nb[m] = nb[i]!;
    ue[m++] = ue[i]!;
  }
  return m;
}

/** Binary min-heap of doubles. */
class MinHeap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(x: number): void {
    const a = this.a;
    let i = a.length;
    a.push(x);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= x) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = x;
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && a[c + 1]! < a[c]!) c++;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
