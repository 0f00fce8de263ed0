/**
 * Tokenizer vocabularies in GGUF: the `tokenizer.ggml.*` metadata llama.cpp reads, in both
 * directions (export writes it, import reads it back), so the key names and their types live in
 * one place.
 */
import { GgufError, type GgufHeader, type GgufValue } from './gguf-format.ts';
import { ggufMeta } from './gguf-read.ts';
import { gguf } from './gguf-write.ts';

/**
 * A byte-level BPE vocabulary in llama.cpp's terms (`tokenizer.ggml.*`). `@kdgpu/tokenizer`
 * makes one from a Tokenizer (`tokenizerToGguf`) and a Tokenizer from one (`tokenizerFromGguf`).
 */
export interface GgufVocab {
  /** `tokenizer.ggml.model`: "gpt2" (byte-level BPE). */
  model: string;
  /** `tokenizer.ggml.pre`: the pre-tokenizer llama.cpp applies ("gpt-2", "llama-bpe", ...). */
  pre: string;
  tokens: readonly string[];
  /** llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  tokenTypes: readonly number[];
  /** Merges in rank order, "left right". */
  merges: readonly string[];
  bosId: number | null;
  eosId: number | null;
  unkId: number | null;
  padId: number | null;
  addBos: boolean | null;
  addEos: boolean | null;
  /** `tokenizer.ggml.add_space_prefix` (llama.cpp applies it to SentencePiece vocabularies only; kdgpu's import uses it). */
  addSpacePrefix: boolean | null;
  /** `tokenizer.huggingface.json`: the full tokenizer.json, when kept (kdgpu writes it, so import is exact). */
  huggingfaceJson: string | null;
}

/** The `tokenizer.ggml.*` metadata of a vocabulary, in gguf-py's SpecialVocab order. */
export function vocabMetadata(v: GgufVocab): Array<[string, GgufValue]> {
  if (v.tokens.length !== v.tokenTypes.length) throw new Error(`gguf vocabulary: ${v.tokens.length} tokens but ${v.tokenTypes.length} token types`);
  const kv: Array<[string, GgufValue]> = [
    ['tokenizer.ggml.model', gguf.str(v.model)],
    ['tokenizer.ggml.pre', gguf.str(v.pre)],
    ['tokenizer.ggml.tokens', gguf.strs(v.tokens)],
    ['tokenizer.ggml.token_type', gguf.i32s(v.tokenTypes)],
    ['tokenizer.ggml.merges', gguf.strs(v.merges)],
  ];
  const ids: Array<[string, number | null]> = [['bos', v.bosId], ['eos', v.eosId], ['unknown', v.unkId], ['padding', v.padId]];
  for (const [k, id] of ids) if (id !== null) kv.push([`tokenizer.ggml.${k}_token_id`, gguf.u32(id)]);
  if (v.addBos !== null) kv.push(['tokenizer.ggml.add_bos_token', gguf.bool(v.addBos)]);
  if (v.addEos !== null) kv.push(['tokenizer.ggml.add_eos_token', gguf.bool(v.addEos)]);
  if (v.addSpacePrefix !== null) kv.push(['tokenizer.ggml.add_space_prefix', gguf.bool(v.addSpacePrefix)]);
  if (v.huggingfaceJson !== null) kv.push(['tokenizer.huggingface.json', gguf.str(v.huggingfaceJson)]);
  return kv;
}

/** A vocabulary from `tokenizer.ggml.*` metadata, or null when the file has none. */
export function vocabFromMetadata(h: GgufHeader, file = 'file'): GgufVocab | null {
  const m = ggufMeta(h, file);
  const model = m.str('tokenizer.ggml.model');
  if (model === null) return null;
  const list = <T>(key: string, item: string, required: boolean): T[] => {
    const v = m.get(key);
    if (v === undefined) {
      if (required) throw new GgufError(file, `metadata ${key} is missing`);
      return [];
    }
    if (v.type !== 'array' || v.itemType !== item) throw new GgufError(file, `metadata ${key} must be an array of ${item}, got ${v.type === 'array' ? `an array of ${v.itemType}` : v.type}`);
    return v.value as T[];
  };
  const tokens = list<string>('tokenizer.ggml.tokens', 'string', true);
  const typesRaw = m.get('tokenizer.ggml.token_type');
  const tokenTypes = typesRaw === undefined ? tokens.map(() => 1) : list<number>('tokenizer.ggml.token_type', 'i32', true);
  if (tokenTypes.length !== tokens.length) throw new GgufError(file, `tokenizer.ggml.token_type has ${tokenTypes.length} entries for ${tokens.length} tokens`);
  const id = (key: string): number | null => {
    if (!m.get(key)) return null;
    const n = m.num(key);
    if (!Number.isInteger(n) || n < 0 || n >= tokens.length) throw new GgufError(file, `metadata ${key} = ${n} is not a token id (the vocabulary has ${tokens.length} tokens)`);
    return n;
  };
  const flag = (key: string): boolean | null => {
    const v = m.get(key);
    if (v === undefined) return null;
    if (v.type !== 'bool') throw new GgufError(file, `metadata ${key} must be a bool, got ${v.type}`);
    return v.value;
  };
  return {
    model,
    pre: m.str('tokenizer.ggml.pre') ?? 'default',
    tokens,
    tokenTypes,
    merges: list<string>('tokenizer.ggml.merges', 'string', false),
    bosId: id('tokenizer.ggml.bos_token_id'),
    eosId: id('tokenizer.ggml.eos_token_id'),
    unkId: id('tokenizer.ggml.unknown_token_id'),
    padId: id('tokenizer.ggml.padding_token_id'),
    addBos: flag('tokenizer.ggml.add_bos_token'),
    addEos: flag('tokenizer.ggml.add_eos_token'),
    addSpacePrefix: flag('tokenizer.ggml.add_space_prefix'),
    huggingfaceJson: m.str('tokenizer.huggingface.json'),
  };
}
