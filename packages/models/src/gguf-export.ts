/**
 * Model export to GGUF: the metadata of a LLaMA or GPT-2 model in the converter's order
 * (`general.*`, `<arch>.context_length`, `<arch>.embedding_length`, ..., then `tokenizer.ggml.*`)
 * and the streamed writer that reads each tensor back from the GPU, re-lays it out
 * (gguf-names.ts) and encodes it, one at a time, so a whole model never sits in memory twice.
 */
import { gpt2Inner, type ModelConfig } from './config.ts';
import { encodeGgml } from './ggml-codec.ts';
import type { GgufValue } from './gguf-format.ts';
import { mapping, toGguf } from './gguf-names.ts';
import { type GgufVocab, vocabMetadata } from './gguf-vocab.ts';
import { encodeGgufHeader, gguf, type GgufTensorEntry, ggufPadding } from './gguf-write.ts';
import type { CausalLM } from './model.ts';

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

function tensorType(shape: readonly number[], type: GgufExportType): GgufTensorEntry['type'] {
  if (type === 'f32' || shape.length < 2) return 'F32';
  if (type === 'f16') return 'F16';
  // As the converter: Q8_0 needs whole blocks of 32 along a row; other tensors fall back to F16.
  return shape[shape.length - 1]! % 32 === 0 ? 'Q8_0' : 'F16';
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
