/**
 * Model import from GGUF: the kdgpu config a file's `general.architecture` and `<arch>.*`
 * metadata describe (features kdgpu's models lack are refused by name), and the loader that checks
 * every tensor against that config before allocating the model, then dequantises the weights and
 * undoes the converter's layout changes (gguf-names.ts).
 */
import { tensor } from '@kdgpu/tensor';
import { gpt2Config, llamaConfig, type ModelConfig } from './config.ts';
import { countParameters, createModel } from './create.ts';
import { GgufError, type GgufHeader, type GgufTensorInfo } from './gguf-format.ts';
import { fromGguf, type Mapped, mapping } from './gguf-names.ts';
import { ggufMeta, readGgufHeader, readGgufTensor } from './gguf-read.ts';
import { type GgufVocab, vocabFromMetadata } from './gguf-vocab.ts';
import type { CausalLM } from './model.ts';
import { type ByteSource, countNonFinite } from './safetensors.ts';

/**
 * The kdgpu config a GGUF header describes (architecture "llama" or "gpt2"). Sizes come from the
 * metadata, checked against the tensors' shapes; rope scaling and other features kdgpu's models
 * lack are refused by name.
 */
export function configFromGguf(h: GgufHeader, file = 'file'): ModelConfig {
  const m = ggufMeta(h, file);
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
