/**
 * The merge loop of Hugging Face's BpeTrainer (`tokenizers/src/models/bpe/trainer.rs`), on integer
 * ids in typed arrays. Words are deduplicated with their counts; each pair keeps a running count;
 * a max-heap of (count, pair, word positions) entries is re-checked lazily. The rules that decide
 * the merge order are HF's, and are noted where they are easy to get wrong.
 */
import { MergeHeap, Merger, PairTable } from "./bpe-trainer-tables.ts";
import { PairMap } from "./pair-map.ts";

/** Unique words as code point sequences with their counts. */
export interface WordTable {
  /** Code points of all words, concatenated. */
  cps: Int32Array;
  /** Word `w` is `cps[starts[w], starts[w + 1])`; length is the number of words + 1. */
  starts: Int32Array;
  /** How often each word occurred. */
  counts: Float64Array;
}

/** Settings of the merge loop (validated by the caller). */
export interface CoreOptions {
  vocabSize: number;
  minFrequency: number;
  specialTokens: readonly string[];
  /** Code points forced into the alphabet. */
  initialAlphabet: readonly number[];
  limitAlphabet: number | null;
  /** Called once the special tokens and the alphabet have ids, with their number (may throw). */
  onAlphabet?: (size: number) => void;
  /** Called now and then with the vocabulary size so far and the target. */
  onMerge?: (size: number, target: number) => void;
}

/** Vocabulary (insertion order is id order) and merges in rank order. */
export interface CoreResult {
  vocab: Map<string, number>;
  merges: Array<[string, string]>;
}

/** Runs HF's BPE training on a word table. */
export function trainWordTable(table: WordTable, opt: CoreOptions): CoreResult {
  const vocab = new Map<string, number>();
  const idToStr: string[] = [];
  const addToken = (s: string): number => {
    let id = vocab.get(s);
    if (id === undefined) {
      id = idToStr.length;
      idToStr.push(s);
      vocab.set(s, id);
    }
    return id;
  };
  // 1. Special tokens reserve the first ids, in the order given.
  for (const t of opt.specialTokens) addToken(t);

  // 2. Alphabet: characters weighted by word counts; forced ones count as infinitely frequent.
  const { cps, starts, counts } = table;
  const nWords = counts.length;
  const bmpCount = new Float64Array(0x10000);
  const charCount = new Map<number, number>();
  for (let w = 0; w < nWords; w++) {
    const c = counts[w]!;
    for (let i = starts[w]!; i < starts[w + 1]!; i++) {
      const cp = cps[i]!;
      if (cp < 0x10000) bmpCount[cp] = bmpCount[cp]! + c;
      else charCount.set(cp, (charCount.get(cp) ?? 0) + c);
    }
  }
  for (let cp = 0; cp < 0x10000; cp++) if (bmpCount[cp]! > 0) charCount.set(cp, bmpCount[cp]!);
  for (const cp of opt.initialAlphabet) charCount.set(cp, Infinity);
  let kept = [...charCount.entries()];
  if (opt.limitAlphabet !== null && kept.length > opt.limitAlphabet) {
    // HF drops the rarest; its order among equal counts is arbitrary. Ours: larger code point first.
    kept.sort((a, b) => a[1] - b[1] || b[0] - a[0]);
    kept = kept.slice(kept.length - opt.limitAlphabet);
  }
  kept.sort((a, b) => a[0] - b[0]);
  for (const [cp] of kept) addToken(String.fromCodePoint(cp));
  opt.onAlphabet?.(vocab.size);

  // 3. Words as ids. A character missing from the vocabulary (cut by limitAlphabet) is dropped,
  // so its neighbours become adjacent; a special token equal to a character stands for it.
  const bmpId = new Int32Array(0x10000).fill(-1);
  const cpId = new Map<number, number>();
  for (const cp of charCount.keys()) {
    const id = vocab.get(String.fromCodePoint(cp)) ?? -1;
    if (cp < 0x10000) bmpId[cp] = id;
    else cpId.set(cp, id);
  }
  const sym = new Int32Array(cps.length);
  const wStart = new Int32Array(nWords);
  const wLen = new Int32Array(nWords);
  let n = 0;
  for (let w = 0; w < nWords; w++) {
    wStart[w] = n;
    for (let i = starts[w]!; i < starts[w + 1]!; i++) {
      const cp = cps[i]!;
      const id = cp < 0x10000 ? bmpId[cp]! : cpId.get(cp)!;
      if (id >= 0) sym[n++] = id;
    }
    wLen[w] = n - wStart[w]!;
  }

  // 4. Pair counts, and for each pair the words holding it (each word once).
  const pt = new PairTable();
  for (let w = 0; w < nWords; w++) {
    const s = wStart[w]!;
    const e = s + wLen[w]!;
    for (let i = s; i + 1 < e; i++) {
      const p = pt.id(sym[i]!, sym[i + 1]!);
      pt.count[p] = pt.count[p]! + counts[w]!;
      if (pt.lastWord[p] !== w) {
        pt.lastWord[p] = w;
        pt.words[p] = pt.words[p]! + 1;
      }
    }
  }
  const nInitial = pt.size;
  const posStart = new Int32Array(nInitial + 1);
  for (let p = 0; p < nInitial; p++) posStart[p + 1] = posStart[p]! + pt.words[p]!;
  const positions = new Int32Array(posStart[nInitial]!);
  const fill = posStart.slice(0, nInitial);
  pt.lastWord.fill(-1, 0, nInitial);
  for (let w = 0; w < nWords; w++) {
    const s = wStart[w]!;
    for (let i = s; i + 1 < s + wLen[w]!; i++) {
      const p = pt.id(sym[i]!, sym[i + 1]!);
      if (pt.lastWord[p] !== w) {
        pt.lastWord[p] = w;
        positions[fill[p]!++] = w;
      }
    }
  }

  pt.words.fill(0);

  // The queue: entries hold a pair, the count it had when pushed, and the words to visit. A pair
  // can have several entries (one per batch of new occurrences), as in HF.
  const heap = new MergeHeap();
  for (let p = 0; p < nInitial; p++) {
    if (pt.count[p]! > 0) heap.add(p, pt.count[p]!, pt.order(p), positions.subarray(posStart[p]!, posStart[p + 1]!));
  }
  heap.heapify();

  // 5. Merge.
  const merges: number[] = []; // (a, b, new id) triples, duplicates included, as HF records them
  const m = new Merger(pt, sym, wStart, wLen, counts);
  let step = 0;
  while (vocab.size < opt.vocabSize && heap.size > 0) {
    const e = heap.pop();
    const p = heap.pair[e]!;
    const current = pt.count[p]!;
    if (heap.count[e] !== current) {
      heap.count[e] = current;
      heap.push(e);
      continue;
    }
    if (current < 1 || opt.minFrequency > current) break;
    const a = pt.left[p]!;
    const b = pt.right[p]!;
    // A token string made before (by another pair) keeps its id: the vocabulary does not grow.
    const nid = addToken(idToStr[a]! + idToStr[b]!);
    merges.push(a, b, nid);
    const words = heap.pos[e]!;
    heap.release(e);
    m.merge(words, a, b, nid);
    m.pushPending(heap);
    if (opt.onMerge && (++step & 255) === 0) opt.onMerge(vocab.size, opt.vocabSize);
  }
  opt.onMerge?.(vocab.size, opt.vocabSize);

  // HF keeps merges in a map keyed by pair, so a pair merged twice keeps its last rank.
  const lastRank = new PairMap(merges.length / 3);
  for (let i = 0; i < merges.length; i += 3) lastRank.set(merges[i]!, merges[i + 1]!, i / 3);
  const out: Array<[string, string]> = [];
  for (let i = 0; i < merges.length; i += 3) {
    if (lastRank.get(merges[i]!, merges[i + 1]!) === i / 3) out.push([idToStr[merges[i]!]!, idToStr[merges[i + 1]!]!]);
  }
  return { vocab, merges: out };
}
