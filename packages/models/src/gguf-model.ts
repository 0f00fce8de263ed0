/**
 * LLaMA and GPT-2 models to and from GGUF with llama.cpp's names: tensors as llama.cpp's
 * convert_hf_to_gguf.py writes them (`token_embd.weight`, `blk.N.attn_q.weight`, ...), metadata
 * keys `<arch>.context_length`, `<arch>.embedding_length`, ... and the tokenizer under
 * `tokenizer.ggml.*`. Two layout changes happen on the way, as in the converter, and are undone on
 * import:
 * - LLaMA: the rows of q_proj and k_proj are permuted per head from Hugging Face's rotary layout
 *   (rotate_half: pairs (i, i + D/2)) to llama.cpp's interleaved one (pairs (2i, 2i + 1));
 * - GPT-2: the Conv1D weights ([in, out]) are transposed to Linear layout ([out, in]).
 */
import { tensor } from '@kdgpu/tensor';
import { gpt2Config, gpt2Inner, type GPT2Config, llamaConfig, type LlamaConfig, type ModelConfig } from './config.ts';
import { countParameters, createModel } from './create.ts';
import {
  encodeGgml,
  encodeGgufHeader,
  gguf,
  GgufError,
  type GgufHeader,
  type GgufTensorEntry,
  type GgufTensorInfo,
  type GgufValue,
  ggufPadding,
  readGgufHeader,
  readGgufTensor,
} from './gguf.ts';
import type { CausalLM } from './model.ts';
import { type ByteSource, countNonFinite } from './safetensors.ts';

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

/** Tensor types of an export: f32; f16 (1-D tensors stay f32); q8_0 (2-D tensors whose rows are a multiple of 32; 1-D stay f32). */
export type GgufExportType = 'f32' | 'f16' | 'q8_0';

/** Options of {@link saveGgufTo}. */
export interface GgufExportOptions {
  type?: GgufExportType;
  /** `general.name`. */
  name?: string;
  vocab?: GgufVocab | null;
}

// llama_ftype values of llama.h (general.file_type).
const FILE_TYPE: Record<GgufExportType, number> = { f32: 0, f16: 1, q8_0: 7 };

/** One tensor of the mapping: GGUF name, checkpoint name, and how the data changes on the way. */
interface Mapped {
  gguf: string;
  hf: string;
  /** Row-major shape in the GGUF file. */
  shape: number[];
  transform: 'none' | 'transpose' | { permuteHeads: number };
}

function llamaTensors(c: LlamaConfig): Mapped[] {
  const C = c.hidden_size;
  const D = c.head_dim;
  const m: Mapped[] = [{ gguf: 'token_embd.weight', hf: 'model.embed_tokens.weight', shape: [c.vocab_size, C], transform: 'none' }];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    const b = `blk.${i}.`;
    m.push(
      { gguf: b + 'attn_norm.weight', hf: p + 'input_layernorm.weight', shape: [C], transform: 'none' },
      { gguf: b + 'attn_q.weight', hf: p + 'self_attn.q_proj.weight', shape: [c.num_attention_heads * D, C], transform: { permuteHeads: c.num_attention_heads } },
      { gguf: b + 'attn_k.weight', hf: p + 'self_attn.k_proj.weight', shape: [c.num_key_value_heads * D, C], transform: { permuteHeads: c.num_key_value_heads } },
      { gguf: b + 'attn_v.weight', hf: p + 'self_attn.v_proj.weight', shape: [c.num_key_value_heads * D, C], transform: 'none' },
      { gguf: b + 'attn_output.weight', hf: p + 'self_attn.o_proj.weight', shape: [C, c.num_attention_heads * D], transform: 'none' },
      { gguf: b + 'ffn_norm.weight', hf: p + 'post_attention_layernorm.weight', shape: [C], transform: 'none' },
      { gguf: b + 'ffn_gate.weight', hf: p + 'mlp.gate_proj.weight', shape: [c.intermediate_size, C], transform: 'none' },
      { gguf: b + 'ffn_up.weight', hf: p + 'mlp.up_proj.weight', shape: [c.intermediate_size, C], transform: 'none' },
      { gguf: b + 'ffn_down.weight', hf: p + 'mlp.down_proj.weight', shape: [C, c.intermediate_size], transform: 'none' },
    );
  }
  m.push({ gguf: 'output_norm.weight', hf: 'model.norm.weight', shape: [C], transform: 'none' });
  if (!c.tie_word_embeddings) m.push({ gguf: 'output.weight', hf: 'lm_head.weight', shape: [c.vocab_size, C], transform: 'none' });
  return m;
}

function gpt2Tensors(c: GPT2Config): Mapped[] {
  const C = c.n_embd;
  const I = gpt2Inner(c);
  const m: Mapped[] = [
    { gguf: 'token_embd.weight', hf: 'transformer.wte.weight', shape: [c.vocab_size, C], transform: 'none' },
    { gguf: 'position_embd.weight', hf: 'transformer.wpe.weight', shape: [c.n_positions, C], transform: 'none' },
  ];
  for (let i = 0; i < c.n_layer; i++) {
    const p = `transformer.h.${i}.`;
    const b = `blk.${i}.`;
    m.push(
      { gguf: b + 'attn_norm.weight', hf: p + 'ln_1.weight', shape: [C], transform: 'none' },
      { gguf: b + 'attn_norm.bias', hf: p + 'ln_1.bias', shape: [C], transform: 'none' },
      { gguf: b + 'attn_qkv.weight', hf: p + 'attn.c_attn.weight', shape: [3 * C, C], transform: 'transpose' },
      { gguf: b + 'attn_qkv.bias', hf: p + 'attn.c_attn.bias', shape: [3 * C], transform: 'none' },
      { gguf: b + 'attn_output.weight', hf: p + 'attn.c_proj.weight', shape: [C, C], transform: 'transpose' },
      { gguf: b + 'attn_output.bias', hf: p + 'attn.c_proj.bias', shape: [C], transform: 'none' },
      { gguf: b + 'ffn_norm.weight', hf: p + 'ln_2.weight', shape: [C], transform: 'none' },
      { gguf: b + 'ffn_norm.bias', hf: p + 'ln_2.bias', shape: [C], transform: 'none' },
      { gguf: b + 'ffn_up.weight', hf: p + 'mlp.c_fc.weight', shape: [I, C], transform: 'transpose' },
      { gguf: b + 'ffn_up.bias', hf: p + 'mlp.c_fc.bias', shape: [I], transform: 'none' },
      { gguf: b + 'ffn_down.weight', hf: p + 'mlp.c_proj.weight', shape: [C, I], transform: 'transpose' },
      { gguf: b + 'ffn_down.bias', hf: p + 'mlp.c_proj.bias', shape: [C], transform: 'none' },
    );
  }
  m.push(
    { gguf: 'output_norm.weight', hf: 'transformer.ln_f.weight', shape: [C], transform: 'none' },
    { gguf: 'output_norm.bias', hf: 'transformer.ln_f.bias', shape: [C], transform: 'none' },
  );
  // Tied: no output.weight, and llama.cpp's gpt2 loader reuses token_embd (as for llama).
  if (!c.tie_word_embeddings) m.push({ gguf: 'output.weight', hf: 'lm_head.weight', shape: [c.vocab_size, C], transform: 'none' });
  return m;
}

function mapping(c: ModelConfig): Mapped[] {
  return c.model_type === 'llama' ? llamaTensors(c) : gpt2Tensors(c);
}

/**
 * convert_hf_to_gguf.py's LlamaModel.permute on a [H * D, C] weight: rows viewed as
 * [H, 2, D/2, C], axes 1 and 2 swapped. Row h*D + 2j + s comes from row h*D + s*D/2 + j.
 */
export function permuteRotary(w: Float32Array, heads: number, cols: number, inverse = false): Float32Array {
  const rows = w.length / cols;
  const D = rows / heads;
  const half = D / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (let s = 0; s < 2; s++) {
        const gg = h * D + 2 * j + s; // llama.cpp row
        const hf = h * D + s * half + j; // Hugging Face row
        const [to, from] = inverse ? [hf, gg] : [gg, hf];
        out.set(w.subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
  return out;
}

/** [R, C] row-major -> [C, R]. */
function transpose(w: Float32Array, R: number, C: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = w[r * C + c]!;
  return out;
}

function toGguf(m: Mapped, data: Float32Array): Float32Array {
  if (m.transform === 'none') return data;
  if (m.transform === 'transpose') return transpose(data, m.shape[1]!, m.shape[0]!); // checkpoint [in, out] -> [out, in]
  return permuteRotary(data, m.transform.permuteHeads, m.shape[1]!);
}

function fromGguf(m: Mapped, data: Float32Array): Float32Array {
  if (m.transform === 'none') return data;
  if (m.transform === 'transpose') return transpose(data, m.shape[0]!, m.shape[1]!);
  return permuteRotary(data, m.transform.permuteHeads, m.shape[1]!, true);
}

function tensorType(shape: readonly number[], type: GgufExportType): GgufTensorEntry['type'] {
  if (type === 'f32' || shape.length < 2) return 'F32';
  if (type === 'f16') return 'F16';
  // As the converter: Q8_0 needs whole blocks of 32 along a row; other tensors fall back to F16.
  return shape[shape.length - 1]! % 32 === 0 ? 'Q8_0' : 'F16';
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

/**
 * The vocabulary padded to the model's vocab_size with `[PAD<id>]` tokens of type unused, as
 * convert_hf_to_gguf.py does: llama.cpp needs one token per embedding row.
 */
function padVocab(v: GgufVocab, size: number): GgufVocab {
  if (v.tokens.length > size) throw new Error(`gguf export: the tokenizer has ${v.tokens.length} tokens but the model's vocab_size is ${size}; give the tokenizer the model was trained with`);
  if (v.tokens.length === size) return v;
  const extra = Array.from({ length: size - v.tokens.length }, (_, i) => v.tokens.length + i);
  return { ...v, tokens: [...v.tokens, ...extra.map((i) => `[PAD${i}]`)], tokenTypes: [...v.tokenTypes, ...extra.map(() => 5)] };
}

/** The metadata of a model export, in the converter's order (general.*, <arch>.*, tokenizer.*). */
export function modelMetadata(config: ModelConfig, opts: GgufExportOptions = {}): Array<[string, GgufValue]> {
  const type = opts.type ?? 'f32';
  const arch = config.model_type;
  const kv: Array<[string, GgufValue]> = [['general.architecture', gguf.str(arch)], ['general.type', gguf.str('model')]];
  if (opts.name) kv.push(['general.name', gguf.str(opts.name)]);
  const a = (k: string, v: GgufValue) => kv.push([`${arch}.${k}`, v]);
  if (config.model_type === 'llama') {
    const c = config;
    a('block_count', gguf.u32(c.num_hidden_layers));
    a('context_length', gguf.u32(c.max_position_embeddings));
    a('embedding_length', gguf.u32(c.hidden_size));
    a('feed_forward_length', gguf.u32(c.intermediate_size));
    a('attention.head_count', gguf.u32(c.num_attention_heads));
    a('attention.head_count_kv', gguf.u32(c.num_key_value_heads));
    a('rope.freq_base', gguf.f32(c.rope_theta));
    a('attention.layer_norm_rms_epsilon', gguf.f32(c.rms_norm_eps));
    a('attention.key_length', gguf.u32(c.head_dim));
    a('attention.value_length', gguf.u32(c.head_dim));
    kv.push(['general.file_type', gguf.u32(FILE_TYPE[type])]);
    a('vocab_size', gguf.u32(c.vocab_size));
    a('rope.dimension_count', gguf.u32(c.head_dim));
  } else {
    const c = config;
    a('block_count', gguf.u32(c.n_layer));
    a('context_length', gguf.u32(c.n_positions));
    a('embedding_length', gguf.u32(c.n_embd));
    a('feed_forward_length', gguf.u32(gpt2Inner(c)));
    a('attention.head_count', gguf.u32(c.n_head));
    a('attention.layer_norm_epsilon', gguf.f32(c.layer_norm_epsilon));
    kv.push(['general.file_type', gguf.u32(FILE_TYPE[type])]);
  }
  kv.push(['general.quantization_version', gguf.u32(2)]);
  if (opts.vocab) kv.push(...vocabMetadata(padVocab(opts.vocab, config.vocab_size)));
  return kv;
}

/** Refuses configs llama.cpp's graph would run differently. */
function checkExportable(c: ModelConfig): void {
  if (c.model_type === 'gpt2') {
    if (c.activation_function === 'relu') throw new Error('gguf export: GPT-2 with activation_function "relu" has no llama.cpp equivalent (its gpt2 graph uses GELU)');
    if (!c.scale_attn_weights || c.scale_attn_by_inverse_layer_idx) throw new Error('gguf export: llama.cpp scales GPT-2 attention by 1/sqrt(head_dim) only; scale_attn_weights must be true and scale_attn_by_inverse_layer_idx false');
  }
}

/** Where export writes: bytes in order. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
}

/**
 * Writes `model` as a GGUF file llama.cpp loads: header and metadata first, then each tensor
 * read back from the GPU, re-laid out (Q/K permutation, Conv1D transpose) and encoded, one at a
 * time. Returns the number of bytes written.
 */
export async function saveGgufTo(model: CausalLM, out: ByteSink, opts: GgufExportOptions = {}): Promise<number> {
  const type = opts.type ?? 'f32';
  if (!['f32', 'f16', 'q8_0'].includes(type)) throw new Error(`gguf export: type ${JSON.stringify(type)} is not one of f32, f16, q8_0`);
  checkExportable(model.config);
  const params = model.parameters();
  const maps = mapping(model.config);
  const entries = maps.map((m) => ({ name: m.gguf, shape: m.shape, type: tensorType(m.shape, type) }));
  const { header, fileSize } = encodeGgufHeader(modelMetadata(model.config, opts), entries);
  await out.write(header);
  for (let i = 0; i < maps.length; i++) {
    const p = params.get(maps[i]!.hf);
    if (!p) throw new Error(`gguf export: the model has no parameter ${maps[i]!.hf}`);
    const data = toGguf(maps[i]!, (await p.data()) as Float32Array);
    const bytes = encodeGgml(data, entries[i]!.type);
    await out.write(bytes);
    await out.write(ggufPadding(bytes.byteLength));
  }
  return fileSize;
}

/** A GGUF file written to memory. */
export async function encodeModelGguf(model: CausalLM, opts: GgufExportOptions = {}): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const size = await saveGgufTo(model, { write: async (b) => void parts.push(b.slice()) }, opts);
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

function meta(h: GgufHeader, file: string) {
  const get = (key: string) => h.metadata.get(key);
  const num = (key: string, fallback?: number): number => {
    const v = get(key);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new GgufError(file, `metadata ${key} is missing`);
    }
    if (v.type === 'u64' || v.type === 'i64') return Number(v.value);
    if (typeof v.value !== 'number') throw new GgufError(file, `metadata ${key} must be a number, got ${v.type}`);
    return v.value;
  };
  const str = (key: string): string | null => {
    const v = get(key);
    if (v === undefined) return null;
    if (v.type !== 'string') throw new GgufError(file, `metadata ${key} must be a string, got ${v.type}`);
    return v.value;
  };
  return { get, num, str };
}

/** A vocabulary from `tokenizer.ggml.*` metadata, or null when the file has none. */
export function vocabFromMetadata(h: GgufHeader, file = 'file'): GgufVocab | null {
  const m = meta(h, file);
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

/**
 * The kdgpu config a GGUF header describes (architecture "llama" or "gpt2"). Sizes come from the
 * metadata, checked against the tensors' shapes; rope scaling and other features kdgpu's models
 * lack are refused by name.
 */
export function configFromGguf(h: GgufHeader, file = 'file'): ModelConfig {
  const m = meta(h, file);
  const arch = m.str('general.architecture');
  if (arch === null) throw new GgufError(file, 'metadata general.architecture is missing');
  const embd = h.tensors.get('token_embd.weight');
  if (!embd || embd.shape.length !== 2) throw new GgufError(file, 'tensor token_embd.weight is missing or not 2-D');
  const vocab = vocabFromMetadata(h, file);
  const V = embd.shape[0]!;
  const ids = { bos_token_id: vocab?.bosId ?? null, eos_token_id: vocab?.eosId ?? null, pad_token_id: vocab?.padId ?? null };
  const wrap = (f: () => ModelConfig) => {
    try {
      return f();
    } catch (e) {
      throw new GgufError(file, (e as Error).message);
    }
  };
  if (arch === 'llama') {
    for (const k of h.metadata.keys()) {
      if (k.startsWith('llama.rope.scaling.') && k !== 'llama.rope.scaling.type') throw new GgufError(file, `metadata ${k}: rope scaling is not supported by kdgpu's LLaMA (plain RoPE only)`);
      if (k.startsWith('llama.expert_')) throw new GgufError(file, `metadata ${k}: mixture-of-experts models are not supported`);
    }
    const st = m.str('llama.rope.scaling.type');
    if (st !== null && st !== 'none') throw new GgufError(file, `metadata llama.rope.scaling.type = ${st}: kdgpu's LLaMA has plain RoPE only`);
    if (h.tensors.has('rope_freqs.weight')) throw new GgufError(file, 'tensor rope_freqs.weight (Llama 3.1-style rope scaling) is not supported by kdgpu\'s LLaMA');
    const C = m.num('llama.embedding_length');
    const H = m.num('llama.attention.head_count');
    const D = m.num('llama.attention.key_length', H > 0 ? Math.floor(C / H) : 0);
    const rope = m.num('llama.rope.dimension_count', D);
    if (rope !== D) throw new GgufError(file, `llama.rope.dimension_count ${rope} differs from the head size ${D}: partial rotary is not supported`);
    return wrap(() =>
      llamaConfig({
        vocab_size: V,
        hidden_size: C,
        intermediate_size: m.num('llama.feed_forward_length'),
        num_hidden_layers: m.num('llama.block_count'),
        num_attention_heads: H,
        num_key_value_heads: m.num('llama.attention.head_count_kv', H),
        head_dim: D,
        max_position_embeddings: m.num('llama.context_length'),
        rms_norm_eps: m.num('llama.attention.layer_norm_rms_epsilon', 1e-5),
        rope_theta: m.num('llama.rope.freq_base', 10000),
        tie_word_embeddings: !h.tensors.has('output.weight'),
        ...ids,
      }),
    );
  }
  if (arch === 'gpt2') {
    const C = m.num('gpt2.embedding_length');
    return wrap(() =>
      gpt2Config({
        vocab_size: V,
        n_positions: m.num('gpt2.context_length'),
        n_embd: C,
        n_layer: m.num('gpt2.block_count'),
        n_head: m.num('gpt2.attention.head_count'),
        n_inner: m.num('gpt2.feed_forward_length', 4 * C),
        layer_norm_epsilon: m.num('gpt2.attention.layer_norm_epsilon', 1e-5),
        // llama.cpp's graph has no dropout; the imported model is for inference or fine-tuning from.
        resid_pdrop: 0,
        embd_pdrop: 0,
        attn_pdrop: 0,
        tie_word_embeddings: !h.tensors.has('output.weight'),
        ...ids,
      }),
    );
  }
  throw new GgufError(file, `general.architecture ${JSON.stringify(arch).slice(0, 40)} is not supported (kdgpu imports "llama" and "gpt2")`);
}

/** What {@link loadGgufFrom} returns. */
export interface GgufModel {
  model: CausalLM;
  /** The vocabulary in the file, or null; build a Tokenizer with `tokenizerFromGguf` of @kdgpu/tokenizer. */
  vocab: GgufVocab | null;
  header: GgufHeader;
}

/** Options of {@link loadGgufFrom}. */
export interface GgufLoadOptions {
  /** Reject the file when a tensor holds NaN or Inf (scans every tensor before the model changes). */
  checkFinite?: boolean;
}

/**
 * Builds the model a GGUF file describes and loads its weights (F32, F16, BF16 and Q8_0,
 * dequantised to f32), undoing the converter's layout changes. The header, the config, and every
 * tensor's presence and shape are checked before the model is allocated; unknown tensors are
 * refused by name.
 */
export async function loadGgufFrom(src: ByteSource, opts: GgufLoadOptions = {}): Promise<GgufModel> {
  const file = src.name;
  const header = await readGgufHeader(src);
  const config = configFromGguf(header, file);
  const vocab = vocabFromMetadata(header, file);
  if (vocab && vocab.tokens.length > config.vocab_size) throw new GgufError(file, `the vocabulary has ${vocab.tokens.length} tokens but token_embd.weight only ${config.vocab_size} rows`);
  const maps = mapping(config);
  const problems: string[] = [];
  const plan: Array<{ m: Mapped; info: GgufTensorInfo }> = [];
  for (const m of maps) {
    const info = header.tensors.get(m.gguf);
    if (!info) problems.push(`missing ${m.gguf}`);
    else if (info.shape.length !== m.shape.length || info.shape.some((d, i) => d !== m.shape[i])) problems.push(`${m.gguf} is [${info.shape}], the config needs [${m.shape}]`);
    else plan.push({ m, info });
  }
  const known = new Set(maps.map((m) => m.gguf));
  const unexpected = [...header.tensors.keys()].filter((n) => !known.has(n));
  if (unexpected.length) problems.push(`unexpected tensor(s) ${unexpected.slice(0, 10).join(', ')}${unexpected.length > 10 ? ', ...' : ''}`);
  if (problems.length) throw new GgufError(file, `tensors do not match the ${config.model_type} metadata: ${problems.slice(0, 10).join('; ')}`);
  if (countParameters(config) > plan.reduce((a, p) => a + p.m.shape.reduce((x, y) => x * y, 1), 0)) throw new GgufError(file, 'the tensors hold fewer values than the config needs');

  if (opts.checkFinite) {
    const bad: string[] = [];
    for (const { m, info } of plan) {
      const d = await readGgufTensor(src, info);
      const { nan, inf } = countNonFinite(d);
      if (nan || inf) bad.push(`${m.gguf} (${nan} NaN, ${inf} Inf)`);
    }
    if (bad.length) throw new GgufError(file, `non-finite values in ${bad.join(', ')}`);
  }
  const model = createModel(config, { init: 'zeros' });
  try {
    const params = model.parameters();
    for (const { m, info } of plan) {
      const data = fromGguf(m, await readGgufTensor(src, info));
      const p = params.get(m.hf)!;
      const t = tensor(data, { shape: p.shape });
      p.assign(t);
      t.dispose();
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, vocab, header };
}
