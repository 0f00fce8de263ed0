/**
 * Byte-level BPE tokenizers to and from llama.cpp's GGUF vocabulary (`tokenizer.ggml.*`, model
 * "gpt2"): the token list with token types, the merges as "left right" strings, the special ids,
 * and whether BOS/EOS are added. This package knows nothing of the file format: it produces and
 * consumes a plain {@link GgufVocabFields} object, which `@kdgpu/models` writes and reads.
 */
import { type AddedToken, specialToken } from "./added-tokens.ts";
import { BpeModel } from "./bpe-model.ts";
import { ByteLevelDecoder } from "./decoders.ts";
import { tokenizerFromJson } from "./json-io.ts";
import { TemplateProcessing } from "./post-processors.ts";
import { ByteLevelPreTokenizer } from "./pre-tokenizers.ts";
import { Tokenizer } from "./tokenizer.ts";

/** llama.cpp's token types (llama_token_type). */
export const GGUF_TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** A vocabulary in llama.cpp's terms; the same shape as `GgufVocab` of @kdgpu/models. */
export interface GgufVocabFields {
  model: string;
  pre: string;
  tokens: readonly string[];
  tokenTypes: readonly number[];
  merges: readonly string[];
  bosId: number | null;
  eosId: number | null;
  unkId: number | null;
  padId: number | null;
  addBos: boolean | null;
  addEos: boolean | null;
  /** `tokenizer.ggml.add_space_prefix`: a space before the text (HF ByteLevel add_prefix_space). llama.cpp honours it for SentencePiece only. */
  addSpacePrefix: boolean | null;
  huggingfaceJson: string | null;
}

/** Options of {@link tokenizerToGguf}. */
export interface ToGgufOptions {
  /** Token strings of BOS / EOS / padding; default: the first of `<s>`, `<|endoftext|>`, `<|begin_of_text|>` (BOS), `</s>`, `<|endoftext|>`, `<|end_of_text|>` (EOS), `<pad>`, `<|pad|>` present. */
  bos?: string | null;
  eos?: string | null;
  pad?: string | null;
  /** Keep the whole tokenizer.json as `tokenizer.huggingface.json` (default true), so import is exact. */
  keepJson?: boolean;
}

function firstPresent(tok: Tokenizer, given: string | null | undefined, candidates: string[]): number | null {
  if (given === null) return null;
  if (given !== undefined) {
    const id = tok.tokenToId(given);
    if (id === undefined) throw new Error(`tokenizerToGguf: token ${JSON.stringify(given)} is not in the vocabulary`);
    return id;
  }
  for (const c of candidates) {
    const id = tok.tokenToId(c);
    if (id !== undefined) return id;
  }
  return null;
}

/**
 * The GGUF vocabulary of a byte-level BPE tokenizer. Ids with no token become `[PAD<id>]` of type
 * unused (as convert_hf_to_gguf.py); added special tokens are control tokens, other added tokens
 * user-defined. The pre-tokenizer is "gpt-2" (GPT-2's regex) for a ByteLevel pre-tokenizer with
 * the regex. llama.cpp applies no normalizer and no prefix space: a tokenizer with either encodes
 * some texts differently there (ids given directly are unaffected).
 */
export function tokenizerToGguf(tok: Tokenizer, opts: ToGgufOptions = {}): GgufVocabFields {
  const pre = tok.preTokenizer;
  if (!pre || !(pre instanceof ByteLevelPreTokenizer)) {
    throw new Error("tokenizerToGguf: only byte-level BPE tokenizers (a ByteLevel pre-tokenizer) can be written as a GGUF \"gpt2\" vocabulary");
  }
  const vocab = tok.getVocab(true);
  const n = Math.max(-1, ...vocab.values()) + 1;
  const tokens: string[] = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const tokenTypes: number[] = new Array<number>(n).fill(GGUF_TOKEN_TYPE.unused);
  for (const [t, id] of vocab) {
    tokens[id] = t;
    tokenTypes[id] = GGUF_TOKEN_TYPE.normal;
  }
  for (const a of tok.addedTokens) tokenTypes[a.id] = a.special ? GGUF_TOKEN_TYPE.control : GGUF_TOKEN_TYPE.userDefined;
  const unk = tok.model.options.unkToken;
  const unkId = unk === null ? null : tok.tokenToId(unk) ?? null;
  if (unkId !== null) tokenTypes[unkId] = GGUF_TOKEN_TYPE.unknown;
  const merges = tok.model.merges.map(([a, b]) => {
    if (a.includes(" ") || b.includes(" ")) throw new Error(`tokenizerToGguf: merge ${JSON.stringify([a, b])} has a space, which llama.cpp's "left right" merge strings cannot hold`);
    return `${a} ${b}`;
  });
  const bosId = firstPresent(tok, opts.bos, ["<s>", "<|endoftext|>", "<|begin_of_text|>"]);
  const eosId = firstPresent(tok, opts.eos, ["</s>", "<|endoftext|>", "<|end_of_text|>"]);
  const padId = firstPresent(tok, opts.pad, ["<pad>", "<|pad|>"]);
  // What the post-processor adds, seen on a probe encoding.
  const probe = tok.encode("a", { addSpecialTokens: true }).ids;
  const plain = tok.encode("a", { addSpecialTokens: false }).ids;
  const addBos = bosId !== null && probe.length > plain.length && probe[0] === bosId;
  const addEos = eosId !== null && probe.length > plain.length && probe[probe.length - 1] === eosId;
  return {
    model: "gpt2",
    pre: pre.useRegex ? "gpt-2" : "default",
    tokens,
    tokenTypes,
    merges,
    bosId,
    eosId,
    unkId,
    padId,
    addBos,
    addEos,
    addSpacePrefix: pre.addPrefixSpace,
    huggingfaceJson: opts.keepJson === false ? null : tok.serialize(false),
  };
}

/** Options of {@link tokenizerFromGguf}. */
export interface FromGgufOptions {
  /** Use `tokenizer.huggingface.json` when present (default true): exact, normalizer and prefix space included. */
  useJson?: boolean;
}

/**
 * A Tokenizer from a GGUF vocabulary. With a kept tokenizer.json (kdgpu's exports) that file is
 * used, after checking that its ids agree with `tokenizer.ggml.tokens`. Otherwise the vocabulary
 * must be byte-level BPE ("gpt2") with pre-tokenizer "gpt-2" or "default" (GPT-2's regex, the only
 * one kdgpu has): control tokens become special added tokens, user-defined ones added tokens,
 * and `add_bos_token` / `add_eos_token` a template.
 */
export function tokenizerFromGguf(v: GgufVocabFields, opts: FromGgufOptions = {}): Tokenizer {
  if (v.huggingfaceJson !== null && opts.useJson !== false) {
    const tok = tokenizerFromJson(v.huggingfaceJson);
    for (let id = 0; id < v.tokens.length; id++) {
      if (v.tokenTypes[id] === GGUF_TOKEN_TYPE.unused) continue;
      const t = tok.idToToken(id);
      if (t !== v.tokens[id]) throw new Error(`tokenizerFromGguf: tokenizer.huggingface.json gives id ${id} to ${JSON.stringify(t)}, tokenizer.ggml.tokens to ${JSON.stringify(v.tokens[id])}; the file is inconsistent`);
    }
    return tok;
  }
  if (v.model !== "gpt2") throw new Error(`tokenizerFromGguf: tokenizer.ggml.model ${JSON.stringify(v.model)} is not supported; kdgpu reads byte-level BPE ("gpt2") vocabularies (SentencePiece "llama" vocabularies are not)`);
  if (v.pre !== "gpt-2" && v.pre !== "default") {
    throw new Error(`tokenizerFromGguf: tokenizer.ggml.pre ${JSON.stringify(v.pre)} splits text with a regex kdgpu does not have (it has GPT-2's: "gpt-2"); ids would differ from llama.cpp's`);
  }
  const vocab = new Map<string, number>();
  const added: AddedToken[] = [];
  v.tokens.forEach((t, id) => {
    const type = v.tokenTypes[id];
    if (type === GGUF_TOKEN_TYPE.unused) return;
    if (vocab.has(t)) throw new Error(`tokenizerFromGguf: token ${JSON.stringify(t).slice(0, 60)} appears twice (ids ${vocab.get(t)} and ${id})`);
    vocab.set(t, id);
    if (type === GGUF_TOKEN_TYPE.control) added.push(specialToken(t, id));
    else if (type === GGUF_TOKEN_TYPE.userDefined) added.push({ ...specialToken(t, id), special: false, normalized: true });
  });
  const merges = v.merges.map((m, i) => {
    const at = m.indexOf(" ");
    if (at <= 0 || at === m.length - 1 || m.indexOf(" ", at + 1) !== -1) throw new Error(`tokenizerFromGguf: tokenizer.ggml.merges[${i}] ${JSON.stringify(m).slice(0, 60)} is not "left right"`);
    return [m.slice(0, at), m.slice(at + 1)] as const;
  });
  const unk = v.unkId === null ? null : v.tokens[v.unkId] ?? null;
  const model = new BpeModel(vocab, merges, { unkToken: unk }, "tokenizerFromGguf");
  const specials: Array<{ id: string; ids: number[]; tokens: string[] }> = [];
  const name = (id: number) => v.tokens[id]!;
  let single = "$A";
  let pair = "$A $B:1";
  if (v.addBos && v.bosId !== null) {
    specials.push({ id: name(v.bosId), ids: [v.bosId], tokens: [name(v.bosId)] });
    single = `${name(v.bosId)} ${single}`;
    pair = `${name(v.bosId)} $A ${name(v.bosId)}:1 $B:1`;
  }
  if (v.addEos && v.eosId !== null) {
    if (!specials.some((s) => s.id === name(v.eosId!))) specials.push({ id: name(v.eosId), ids: [v.eosId], tokens: [name(v.eosId)] });
    single = `${single} ${name(v.eosId)}`;
    pair = v.addBos && v.bosId !== null ? `${name(v.bosId)} $A ${name(v.eosId)} ${name(v.bosId)}:1 $B:1 ${name(v.eosId)}:1` : `$A ${name(v.eosId)} $B:1 ${name(v.eosId)}:1`;
  }
  return new Tokenizer({
    model,
    preTokenizer: new ByteLevelPreTokenizer({ addPrefixSpace: v.addSpacePrefix ?? false, useRegex: true, trimOffsets: true }),
    decoder: new ByteLevelDecoder(),
    postProcessor: specials.length ? new TemplateProcessing(single, pair, specials) : null,
    addedTokens: added,
  });
}
