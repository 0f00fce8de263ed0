/**
 * The BPE model: turns one pre-tokenized piece into token ids by applying merges, lowest rank
 * first, as Hugging Face's `BPE::merge_word` does. Ranks live in a {@link PairMap} keyed by the
 * two ids, and results are cached per piece since natural text repeats its words.
 */
import { BYTE_CHAR_UTF8_LEN, BYTE_TO_CHAR, utf8Encode } from "./byte-level.ts";
import { applyMerges, type SymbolScratch } from "./bpe-merge.ts";
import { PairMap } from "./pair-map.ts";
import { PieceCache } from "./piece-cache.ts";

/** Model options, named as in `tokenizer.json` (camelCase here). Defaults are Hugging Face's. */
export interface BpeOptions {
  /** Token for characters missing from the vocabulary; null drops them silently (HF's default). */
  unkToken?: string | null;
  /** Prefix added to every non-initial character of a word (WordPiece-style BPE). */
  continuingSubwordPrefix?: string | null;
  /** Suffix added to the last character of a word. */
  endOfWordSuffix?: string | null;
  /** Merge consecutive unknown characters into one unk token. */
  fuseUnk?: boolean;
  /** Spell unknown characters as `<0xNN>` byte tokens when those exist. */
  byteFallback?: boolean;
  /** Emit a whole piece as one token when it is in the vocabulary, before any merge. */
  ignoreMerges?: boolean;
  /** Pieces remembered by the merge cache before it is cleared (default 100,000; 0 disables). */
  cacheCapacity?: number;
}

/**
 * Tokens of one piece. `ends[k]` is where token `k` ends: in units (bytes for byte-level pieces,
 * code points otherwise) when `byUnits`, else in Hugging Face's running byte count, which skips
 * dropped characters (it then reproduces HF's offsets, shifted as theirs are).
 */
export interface WordTokens {
  readonly ids: Int32Array;
  readonly ends: Int32Array;
  readonly byUnits: boolean;
  /** `byUnits`, and unit `i` is UTF-16 unit `i` of the piece (ASCII bytes, or BMP characters). */
  readonly simple: boolean;
}

/** The `model` object of `tokenizer.json` for BPE. */
export interface BpeModelJson {
  type: "BPE";
  dropout: null;
  unk_token: string | null;
  continuing_subword_prefix: string | null;
  end_of_word_suffix: string | null;
  fuse_unk: boolean;
  byte_fallback: boolean;
  ignore_merges: boolean;
  vocab: Record<string, number>;
  merges: Array<[string, string]>;
}

/** Ids and merge ranks must stay below this (the merge heap packs rank and position in a double). */
export const MAX_VOCAB_SIZE = 1 << 21;

const EMPTY: WordTokens = { ids: new Int32Array(0), ends: new Int32Array(0), byUnits: true, simple: true };

/** A BPE vocabulary with its merges. */
export class BpeModel {
  /** Token string -> id. */
  readonly vocab: ReadonlyMap<string, number>;
  /** Merges in rank order, as pairs of token strings. */
  readonly merges: ReadonlyArray<readonly [string, string]>;
  readonly options: Readonly<Required<BpeOptions>>;
  private readonly idToTok: (string | undefined)[] = [];
  private readonly ranks: PairMap;
  private readonly rankNewId: Int32Array;
  private readonly byteIds = new Int32Array(256);
  private readonly unkId: number;
  private readonly cache: PieceCache;
  private bytes = new Uint8Array(256);
  /** Scratch symbols of the piece being encoded: ids, byte lengths, unit ends, pair ranks. */
  readonly scratch: SymbolScratch = { sym: new Int32Array(256), nb: new Int32Array(256), ue: new Int32Array(256), pr: new Int32Array(256) };

  /**
   * Throws when a merge names a token missing from the vocabulary or an id repeats; `where`
   * prefixes messages (e.g. `tokenizer.json: model`).
   */
  constructor(vocab: ReadonlyMap<string, number>, merges: ReadonlyArray<readonly [string, string]>, options: BpeOptions = {}, where = "BpeModel") {
    this.cache = new PieceCache(options.cacheCapacity ?? 100_000);
    this.options = {
      unkToken: options.unkToken ?? null,
      continuingSubwordPrefix: options.continuingSubwordPrefix ?? null,
      endOfWordSuffix: options.endOfWordSuffix ?? null,
      fuseUnk: options.fuseUnk ?? false,
      byteFallback: options.byteFallback ?? false,
      ignoreMerges: options.ignoreMerges ?? false,
      cacheCapacity: options.cacheCapacity ?? 100_000,
    };
    this.vocab = vocab;
    for (const [tok, id] of vocab) {
      if (!Number.isInteger(id) || id < 0 || id >= MAX_VOCAB_SIZE) {
        throw new RangeError(`${where}.vocab: id ${id} of ${JSON.stringify(tok)} is not an integer in [0, ${MAX_VOCAB_SIZE})`);
      }
      const prev = this.idToTok[id];
      if (prev !== undefined) {
        throw new RangeError(`${where}.vocab: id ${id} is given to both ${JSON.stringify(prev)} and ${JSON.stringify(tok)}`);
      }
      this.idToTok[id] = tok;
    }
    this.merges = merges;
    if (merges.length >= MAX_VOCAB_SIZE) throw new RangeError(`${where}.merges: ${merges.length} merges is more than supported (${MAX_VOCAB_SIZE - 1})`);
    this.ranks = new PairMap(merges.length);
    this.rankNewId = new Int32Array(merges.length);
    const prefixLen = this.options.continuingSubwordPrefix?.length ?? 0;
    merges.forEach(([a, b], rank) => {
      const need = (t: string) => {
        const id = vocab.get(t);
        if (id === undefined) throw new RangeError(`${where}.merges[${rank}]: token ${JSON.stringify(t)} is not in the vocabulary`);
        return id;
      };
      const ia = need(a);
      const ib = need(b);
      // As in HF: with a subword prefix, "a" + "##b" makes "ab".
      const joined = a + (prefixLen && b.startsWith(this.options.continuingSubwordPrefix!) ? b.slice(prefixLen) : b);
      this.rankNewId[rank] = need(joined);
      this.ranks.set(ia, ib, rank);
    });
    for (let b = 0; b < 256; b++) this.byteIds[b] = vocab.get(BYTE_TO_CHAR[b]!) ?? -1;
    const unk = this.options.unkToken;
    this.unkId = unk === null ? -1 : vocab.get(unk) ?? -2;
    if (this.unkId === -2) throw new RangeError(`${where}.unk_token: ${JSON.stringify(unk)} is not in the vocabulary`);
  }

  /** Number of ids (one more than the largest id). */
  get size(): number {
    return this.idToTok.length;
  }

  /** Token string of `id`, or undefined. */
  idToToken(id: number): string | undefined {
    return this.idToTok[id];
  }

  /**
   * Tokenizes one piece. With `byteLevel`, the piece is raw text whose UTF-8 bytes are the units;
   * otherwise its code points are. The result is cached by piece; do not mutate it.
   */
  tokenize(piece: string, byteLevel: boolean): WordTokens {
    return this.tokenizeRange(piece, 0, piece.length, false, byteLevel);
  }

  /**
   * Tokenizes the piece `(prefixed ? " " : "") + text[a, b)` without building that string when it
   * is in the cache (the common case).
   */
  tokenizeRange(text: string, a: number, b: number, prefixed: boolean, byteLevel: boolean): WordTokens {
    if (a >= b && !prefixed) return EMPTY;
    const h = PieceCache.hash(text, a, b, prefixed);
    const hit = this.cache.get(text, a, b, prefixed, h);
    if (hit) return hit;
    const piece = prefixed ? " " + text.slice(a, b) : text.slice(a, b);
    const res = byteLevel ? this.tokenizeBytes(piece) : this.tokenizeChars(Array.from(piece), piece, piece.length);
    this.cache.set(piece, h, res);
    return res;
  }

  /**
   * The vocabulary as JSON text in id order, as HF writes it (an object literal cannot keep that
   * order: JavaScript lists integer-like keys such as "0" first). `indent` is the pretty-printing
   * indentation of the object's own line, or null for compact text.
   */
  vocabJson(indent: string | null = null): string {
    const parts: string[] = [];
    this.idToTok.forEach((tok, id) => {
      if (tok !== undefined) parts.push(`${JSON.stringify(tok)}:${indent === null ? "" : " "}${id}`);
    });
    if (indent === null) return `{${parts.join(",")}}`;
    return parts.length ? `{\n${parts.map((p) => `${indent}  ${p}`).join(",\n")}\n${indent}}` : "{}";
  }

  /** The `model` object of `tokenizer.json` (merges as pairs; see `vocabJson` for the vocab's order). */
  toJSON(): BpeModelJson {
    const o = this.options;
    const vocab: Record<string, number> = {};
    this.idToTok.forEach((tok, id) => {
      if (tok !== undefined) vocab[tok] = id;
    });
    return {
      type: "BPE",
      dropout: null,
      unk_token: o.unkToken,
      continuing_subword_prefix: o.continuingSubwordPrefix,
      end_of_word_suffix: o.endOfWordSuffix,
      fuse_unk: o.fuseUnk,
      byte_fallback: o.byteFallback,
      ignore_merges: o.ignoreMerges,
      vocab,
      merges: this.merges.map(([a, b]) => [a, b] as [string, string]),
    };
  }

  /** Forgets cached pieces. */
  clearCache(): void {
    this.cache.clear();
  }

  private ensure(n: number): void {
    const sc = this.scratch;
    if (sc.sym.length >= n) return;
    const cap = Math.max(n, sc.sym.length * 2);
    sc.sym = new Int32Array(cap);
    sc.nb = new Int32Array(cap);
    sc.ue = new Int32Array(cap);
    sc.pr = new Int32Array(cap);
  }

  private tokenizeBytes(piece: string): WordTokens {
    if (this.bytes.length < piece.length * 3) this.bytes = new Uint8Array(piece.length * 6);
    const bytes = this.bytes;
    const n = utf8Encode(piece, 0, piece.length, bytes);
    const o = this.options;
    const units = () => Array.from(bytes.subarray(0, n), (b) => BYTE_TO_CHAR[b]!);
    // GPT-2's file has "" for both affixes, which changes nothing: keep the fast path for it.
    if (o.ignoreMerges || o.continuingSubwordPrefix || o.endOfWordSuffix) {
      return this.tokenizeChars(units(), null, piece.length);
    }
    this.ensure(n);
    const { sym, nb, ue } = this.scratch;
    const byteIds = this.byteIds;
    for (let i = 0; i < n; i++) {
      const id = byteIds[bytes[i]!]!;
      // A byte missing from the alphabet takes HF's unk / byte-fallback / drop path.
      if (id < 0) return this.tokenizeChars(units(), null, piece.length);
      sym[i] = id;
      nb[i] = BYTE_CHAR_UTF8_LEN[bytes[i]!]!;
      ue[i] = i + 1;
    }
    return this.finish(this.merge(n), true, n === piece.length);
  }

  /**
   * HF's general path: one unit per character, with the subword prefix/suffix, unknown-character
   * handling (unk, fused unk, byte fallback, or drop) and `ignore_merges`.
   */
  private tokenizeChars(units: string[], whole: string | null, pieceLength: number): WordTokens {
    const o = this.options;
    const simple = units.length === pieceLength;
    if (o.ignoreMerges) {
      const id = this.vocab.get(whole ?? units.join(""));
      if (id !== undefined) return { ids: Int32Array.of(id), ends: Int32Array.of(units.length), byUnits: true, simple };
    }
    this.ensure(units.length * 4 + 1);
    const { sym, nb, ue } = this.scratch;
    let n = 0;
    let byUnits = true;
    let unkLen = 0;
    let unkEnd = 0;
    const flushUnk = () => {
      if (unkLen > 0) {
        sym[n] = this.unkId;
        nb[n] = unkLen;
        ue[n++] = unkEnd;
        unkLen = 0;
      }
    };
    units.forEach((u, i) => {
      let s = u;
      if (i > 0 && o.continuingSubwordPrefix) s = o.continuingSubwordPrefix + s;
      if (i === units.length - 1 && o.endOfWordSuffix) s = s + o.endOfWordSuffix;
      const len = utf8Length(u);
      const id = this.vocab.get(s);
      if (id !== undefined) {
        flushUnk();
        sym[n] = id;
        nb[n] = len;
        ue[n++] = i + 1;
        return;
      }
      byUnits = false;
      if (o.byteFallback) {
        const ids = byteTokenIds(u, this.vocab);
        if (ids) {
          flushUnk();
          for (const bid of ids) {
            sym[n] = bid;
            nb[n] = 1;
            ue[n++] = i + 1;
          }
          return;
        }
      }
      if (this.unkId >= 0) {
        if (!o.fuseUnk) flushUnk();
        unkLen += len;
        unkEnd = i + 1;
      }
    });
    flushUnk();
    return this.finish(this.merge(n), byUnits, byUnits && simple);
  }

  private finish(n: number, byUnits: boolean, simple: boolean): WordTokens {
    const { sym, ue, nb } = this.scratch;
    const ids = sym.slice(0, n);
    const ends = byUnits ? ue.slice(0, n) : new Int32Array(n);
    if (!byUnits) for (let i = 0, acc = 0; i < n; i++) ends[i] = acc += nb[i]!;
    return { ids, ends, byUnits, simple };
  }

  /** Applies merges to `sym[0, n)` in place (carrying `nb`, `ue`); returns the new length. */
  private merge(n: number): number {
    return applyMerges(this.scratch, this.ranks, this.rankNewId, n);
  }
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c < 0xdc00 ? (i++, 4) : 3;
  }
  return n;
}

/** Ids of `<0xNN>` tokens for each UTF-8 byte of `s`, or null when one is missing. */
function byteTokenIds(s: string, vocab: ReadonlyMap<string, number>): number[] | null {
  const buf = new Uint8Array(s.length * 3);
  const n = utf8Encode(s, 0, s.length, buf);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = vocab.get(`<0x${buf[i]!.toString(16).toUpperCase().padStart(2, "0")}>`);
    if (id === undefined) return null;
    ids.push(id);
  }
  return ids;
}
