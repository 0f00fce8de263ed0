/**
 * The tokenizer pipeline, as in Hugging Face tokenizers: added tokens are cut out of the raw text,
 * the rest is normalized, pre-tokenized into pieces, and each piece is encoded by the BPE model;
 * a post-processor then adds template tokens. Offsets point into the caller's original text.
 */
import { AddedTokenMatcher, addedTokenToJson, type AddedToken, type AddedTokenJson } from "./added-tokens.ts";
import type { BpeModel, BpeModelJson } from "./bpe-model.ts";
import type { Decoder, DecoderJson } from "./decoders.ts";
import { emptyEncoding, mergeEncodings, type Encoding, type OffsetUnit, type PartialEncoding } from "./encoding.ts";
import { identityText, type NormalizedText, type Normalizer, type NormalizerJson } from "./normalizers.ts";
import { pieceTokenRanges } from "./offsets.ts";
import type { PostProcessor, PostProcessorJson } from "./post-processors.ts";
import type { PreTokenizer, PreTokenizerJson } from "./pre-tokenizers.ts";
import { assertWellFormed, toCodePointOffsets } from "./unicode.ts";

/** The stages of a tokenizer. Only `model` is required. */
export interface TokenizerParts {
  model: BpeModel;
  normalizer?: Normalizer | null;
  preTokenizer?: PreTokenizer | null;
  postProcessor?: PostProcessor | null;
  decoder?: Decoder | null;
  /** Added tokens (special tokens and user words), with their ids. */
  addedTokens?: readonly AddedToken[];
}

/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Second text of a pair (its tokens get type id 1 unless the template says otherwise). */
  pair?: string;
  /** Run the post-processor's template (BOS/EOS). Default true. */
  addSpecialTokens?: boolean;
  /** Unit of `offsets`: "utf16" (default; `text.slice(start, end)` works) or "codepoint" (HF's). */
  offsets?: OffsetUnit;
}

/** Options of {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /** Leave out special tokens. Default false (as in HF). */
  skipSpecialTokens?: boolean;
}

/** A byte-level BPE tokenizer pipeline. Build one with `trainBpe`, `Tokenizer.fromString`, or the constructor. */
export class Tokenizer {
  readonly model: BpeModel;
  readonly normalizer: Normalizer | null;
  readonly preTokenizer: PreTokenizer | null;
  readonly postProcessor: PostProcessor | null;
  readonly decoder: Decoder | null;
  private added: AddedToken[] = [];
  private addedById = new Map<number, AddedToken>();
  private addedByContent = new Map<string, AddedToken>();
  private rawMatcher = new AddedTokenMatcher(new Map());
  private normMatcher = new AddedTokenMatcher(new Map());

  constructor(parts: TokenizerParts) {
    this.model = parts.model;
    this.normalizer = parts.normalizer ?? null;
    this.preTokenizer = parts.preTokenizer ?? null;
    this.postProcessor = parts.postProcessor ?? null;
    this.decoder = parts.decoder ?? null;
    for (const t of parts.addedTokens ?? []) this.registerAdded({ ...t });
    this.refreshMatchers();
  }

  /** Added tokens, by ascending id. */
  get addedTokens(): readonly AddedToken[] {
    return [...this.added].sort((a, b) => a.id - b.id);
  }

  /**
   * Adds special tokens (matched before normalization, skipped by `skipSpecialTokens`). A token
   * already in the vocabulary keeps its id; others get the next free id, as in HF.
   */
  addSpecialTokens(tokens: readonly string[]): number {
    return this.addTokensWith(tokens, true);
  }

  /** Adds ordinary added tokens (matched after normalization). Returns how many were new. */
  addTokens(tokens: readonly string[]): number {
    return this.addTokensWith(tokens, false);
  }

  private addTokensWith(tokens: readonly string[], special: boolean): number {
    let added = 0;
    for (const content of tokens) {
      if (content === "" || this.addedByContent.has(content)) continue;
      let id = this.tokenToId(content);
      if (id === undefined) {
        const maxAdded = Math.max(-1, ...this.added.map((t) => t.id));
        id = maxAdded >= this.model.size ? maxAdded + 1 : this.model.size;
      }
      this.registerAdded({ id, content, singleWord: false, lstrip: false, rstrip: false, normalized: !special, special });
      added++;
    }
    this.refreshMatchers();
    return added;
  }

  private registerAdded(t: AddedToken): void {
    const prev = this.addedById.get(t.id);
    if (prev && prev.content !== t.content) {
      throw new RangeError(`Tokenizer: added tokens ${JSON.stringify(prev.content)} and ${JSON.stringify(t.content)} share id ${t.id}`);
    }
    const modelTok = this.model.idToToken(t.id);
    if (modelTok !== undefined && modelTok !== t.content) {
      throw new RangeError(`Tokenizer: added token ${JSON.stringify(t.content)} has id ${t.id}, which the vocabulary gives to ${JSON.stringify(modelTok)}`);
    }
    this.added = this.added.filter((x) => x.content !== t.content);
    this.added.push(t);
    this.addedById.set(t.id, t);
    this.addedByContent.set(t.content, t);
  }

  private refreshMatchers(): void {
    const raw = new Map<string, AddedToken>();
    const norm = new Map<string, AddedToken>();
    for (const t of this.added) {
      if (!t.normalized) raw.set(t.content, t);
      else norm.set(this.normalizer ? this.normalizer.normalizeString(t.content) : t.content, t);
    }
    this.rawMatcher = new AddedTokenMatcher(raw);
    this.normMatcher = new AddedTokenMatcher(norm);
  }

  /** Id of a token string (added tokens first), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.model.vocab.get(token);
  }

  /** Token string of an id (added tokens first), or undefined. */
  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.model.idToToken(id);
  }

  /** Token -> id for the whole vocabulary, added tokens included (unless `withAddedTokens` is false). */
  getVocab(withAddedTokens = true): Map<string, number> {
    const v = new Map(this.model.vocab);
    if (withAddedTokens) for (const t of this.added) v.set(t.content, t.id);
    return v;
  }

  /** Number of distinct ids (model vocabulary plus added tokens outside it), as HF counts it. */
  get vocabSize(): number {
    let n = this.model.size;
    for (const t of this.added) if (this.model.idToToken(t.id) === undefined) n = Math.max(n, t.id + 1);
    return n;
  }

  /** Encodes `text` (and `options.pair`) into ids, tokens and offsets. */
  encode(text: string, options: EncodeOptions = {}): Encoding {
    const unit = options.offsets ?? "utf16";
    const encs = [this.encodeOne(text, 0, unit)];
    if (options.pair !== undefined) encs.push(this.encodeOne(options.pair, 1, unit));
    const add = options.addSpecialTokens ?? true;
    return mergeEncodings(this.postProcessor ? this.postProcessor.processEncodings(encs, add) : encs);
  }

  /** Encodes each text (or `[text, pair]`), like `encode`. */
  encodeBatch(inputs: ReadonlyArray<string | readonly [string, string]>, options: Omit<EncodeOptions, "pair"> = {}): Encoding[] {
    return inputs.map((x) => (typeof x === "string" ? this.encode(x, options) : this.encode(x[0], { ...options, pair: x[1] })));
  }

  private encodeOne(text: string, typeId: number, unit: OffsetUnit): PartialEncoding {
    assertWellFormed(text, "Tokenizer.encode");
    const enc = emptyEncoding(text, unit);
    const segments = this.rawMatcher.empty ? [{ start: 0, end: text.length, id: -1 }] : this.rawMatcher.split(text);
    for (const seg of segments) {
      if (seg.id >= 0) {
        this.pushAdded(enc, seg.id, text.slice(seg.start, seg.end), seg.start, seg.end);
        continue;
      }
      const raw = seg.start === 0 && seg.end === text.length ? text : text.slice(seg.start, seg.end);
      const norm = this.normalizer ? this.normalizer.normalize(identityText(raw)) : identityText(raw);
      const parts = this.normMatcher.empty ? [{ start: 0, end: norm.text.length, id: -1 }] : this.normMatcher.split(norm.text);
      for (const p of parts) {
        if (p.id >= 0) {
          const [s, e] = toOriginal(norm, p.start, p.end);
          this.pushAdded(enc, p.id, norm.text.slice(p.start, p.end), seg.start + s, seg.start + e);
        } else {
          this.encodeText(norm, p.start, p.end, seg.start, enc);
        }
      }
    }
    if (unit === "codepoint") toCodePointOffsets(text, enc.offsets);
    const n = enc.ids.length;
    enc.typeIds = new Array<number>(n).fill(typeId);
    enc.attentionMask = new Array<number>(n).fill(1);
    // HF marks only post-processor tokens in the mask, not added tokens found in the text.
    enc.specialTokensMask = new Array<number>(n).fill(0);
    return enc;
  }

  private pushAdded(enc: PartialEncoding, id: number, token: string, start: number, end: number): void {
    enc.ids.push(id);
    enc.tokens.push(token);
    enc.offsets.push([start, end]);
  }

  /** Pre-tokenizes `norm.text[start, end)` and encodes each piece; `base` is the segment's offset in the input. */
  private encodeText(norm: NormalizedText, start: number, end: number, base: number, enc: PartialEncoding): void {
    const s = norm.text;
    const model = this.model;
    const byteLevel = this.preTokenizer?.byteLevel ?? false;
    const { ids, tokens, offsets } = enc;
    const starts = norm.starts;
    const ends = norm.ends;
    const push = (ns: number, ne: number) => {
      offsets.push(starts && ends ? [base + starts[ns]!, base + ends[ne - 1]!] : [base + ns, base + ne]);
    };
    const emit = (a: number, b: number, prefixed: boolean) => {
      const wt = model.tokenizeRange(s, a, b, prefixed, byteLevel);
      const n = wt.ids.length;
      for (let k = 0; k < n; k++) {
        const id = wt.ids[k]!;
        ids.push(id);
        tokens.push(model.idToToken(id)!);
      }
      if (!wt.simple) return pieceTokenRanges(s, a, prefixed ? " " + s.slice(a, b) : s.slice(a, b), prefixed, byteLevel, wt, push);
      // Fast path: unit j is piece index j; an inserted space stands for the character after it.
      const shift = prefixed ? a - 1 : a;
      let u0 = 0;
      for (let k = 0; k < n; k++) {
        const u1 = wt.ends[k]!;
        const ns = prefixed && u0 === 0 ? a : shift + u0;
        const ne = prefixed && u1 === 1 ? a + (isHighSurrogate(s.charCodeAt(a)) ? 2 : 1) : shift + u1;
        push(ns, ne);
        u0 = u1;
      }
    };
    if (this.preTokenizer) this.preTokenizer.split(s, start, end, emit);
    else if (start < end) emit(start, end, false);
  }

  /**
   * Decodes ids to text. Unlike HF, which skips ids it does not know, an unknown id is an error:
   * it means the ids came from another vocabulary.
   */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const tok = this.idToToken(id);
      if (tok === undefined) {
        throw new RangeError(`Tokenizer.decode: id ${id} (at index ${i}) is not in the vocabulary of ${this.vocabSize} ids`);
      }
      if (skip && this.addedById.get(id)?.special) continue;
      tokens.push(tok);
    }
    return this.decoder ? this.decoder.decodeChain(tokens).join("") : tokens.join(" ");
  }

  /** The `tokenizer.json` object, in Hugging Face's layout (see `serialize` for the text). */
  toJSON(): TokenizerJson {
    return {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: this.addedTokens.map(addedTokenToJson),
      normalizer: this.normalizer?.toJSON() ?? null,
      pre_tokenizer: this.preTokenizer?.toJSON() ?? null,
      post_processor: this.postProcessor?.toJSON() ?? null,
      decoder: this.decoder?.toJSON() ?? null,
      model: this.model.toJSON(),
    };
  }

  /** `tokenizer.json` text (vocabulary in id order); loads in Hugging Face tokenizers and transformers. */
  serialize(pretty = true): string {
    const json = this.toJSON();
    const mark = "\u0000vocab\u0000";
    (json.model as { vocab: unknown }).vocab = mark;
    const text = JSON.stringify(json, null, pretty ? 2 : undefined);
    return text.replace(JSON.stringify(mark), () => this.model.vocabJson(pretty ? "    " : null));
  }

  /** Decodes each id list, like `decode`. */
  decodeBatch(batch: ReadonlyArray<ArrayLike<number>>, options: DecodeOptions = {}): string[] {
    return batch.map((ids) => this.decode(ids, options));
  }
}

/** The whole `tokenizer.json` object. */
export interface TokenizerJson {
  version: "1.0";
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: NormalizerJson | null;
  pre_tokenizer: PreTokenizerJson | null;
  post_processor: PostProcessorJson | null;
  decoder: DecoderJson | null;
  model: BpeModelJson;
}

/** Range in the segment's original text of the normalized range `[start, end)` (never empty input). */
function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c < 0xdc00;
}

function toOriginal(norm: NormalizedText, start: number, end: number): [number, number] {
  if (!norm.starts || !norm.ends) return [start, end];
  if (start >= end) {
    const at = start < norm.starts.length ? norm.starts[start]! : norm.ends[norm.ends.length - 1] ?? 0;
    return [at, at];
  }
  return [norm.starts[start]!, norm.ends[end - 1]!];
}
