/**
 * LLaMA and GPT-2 tensors under llama.cpp's names, as llama.cpp's convert_hf_to_gguf.py writes
 * them (`token_embd.weight`, `blk.N.attn_q.weight`, ...), each paired with its checkpoint
 * (Hugging Face) name and shape. Two layout changes happen on the way, as in the converter, and are
 * undone on import; this module owns both directions so export and import cannot drift apart:
 * - LLaMA: the rows of q_proj and k_proj are permuted per head from Hugging Face's rotary layout
 *   (rotate_half: pairs (i, i + D/2)) to llama.cpp's interleaved one (pairs (2i, 2i + 1));
 * - GPT-2: the Conv1D weights ([in, out]) are transposed to Linear layout ([out, in]).
 */
import { gpt2Inner, type GPT2Config, type LlamaConfig, type ModelConfig } from './config.ts';

/** One tensor of the mapping: GGUF name, checkpoint name, and how the data changes on the way. */
export interface Mapped {
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

/** The tensors of a model of config `c`, in the converter's order. */
export function mapping(c: ModelConfig): Mapped[] {
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

/** Checkpoint layout -> GGUF layout. */
export function toGguf(m: Mapped, data: Float32Array): Float32Array {
  if (m.transform === 'none') return data;
  if (m.transform === 'transpose') return transpose(data, m.shape[1]!, m.shape[0]!); // checkpoint [in, out] -> [out, in]
  return permuteRotary(data, m.transform.permuteHeads, m.shape[1]!);
}

/** GGUF layout -> checkpoint layout. */
export function fromGguf(m: Mapped, data: Float32Array): Float32Array {
  if (m.transform === 'none') return data;
  if (m.transform === 'transpose') return transpose(data, m.shape[0]!, m.shape[1]!);
  return permuteRotary(data, m.transform.permuteHeads, m.shape[1]!, true);
}
