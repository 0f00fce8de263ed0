import { type GPT2Config, gpt2Config, type LlamaConfig, llamaConfig, type ModelConfig } from './config.ts';
import { countParameters } from './create.ts';
import { KdgpuError } from '@kdgpu/tensor';

/**
 * Presets for the seed projects' models (shared/reference/kd-spec.md sections 3 and 4) and tiny
 * ones for tests and CPU demos. Each only fills in numbers; pass fields to override.
 *
 * Baby Llama's BPE tokenizer has 16000 tokens with `<pad>`, `<s>`, `</s>` as ids 0, 1, 2
 * (trained with those special tokens first), sequence length 128 and max_position_embeddings
 * 2 * 128 = 256.
 */

/** Baby Llama's student (timinar/BabyLlama, distill-ensemble-pretraining-baby-llama.py): ≈58.3M parameters. */
export function babyLlama58M(fields: Partial<LlamaConfig> = {}): LlamaConfig {
  return llamaConfig({
    vocab_size: 16000,
    hidden_size: 512,
    intermediate_size: 1024,
    num_hidden_layers: 16,
    num_attention_heads: 8,
    max_position_embeddings: 256,
    tie_word_embeddings: false,
    pad_token_id: 0,
    bos_token_id: 1,
    eos_token_id: 2,
    ...fields,
  });
}

/** Baby Llama's LLaMA teacher (config/llama-360M.yaml): ≈360M parameters. */
export function llama360M(fields: Partial<LlamaConfig> = {}): LlamaConfig {
  return llamaConfig({
    vocab_size: 16000,
    hidden_size: 1024,
    intermediate_size: 3072,
    num_hidden_layers: 24,
    num_attention_heads: 8,
    max_position_embeddings: 256,
    tie_word_embeddings: false,
    pad_token_id: 0,
    bos_token_id: 1,
    eos_token_id: 2,
    ...fields,
  });
}

/**
 * Baby Llama's GPT-2 teacher (config/gpt-705M.yaml with train.py): ≈705M parameters, MLP 4 * 1536
 * (the yaml's intermediate_size is unused), n_positions 256, GPT2Config's dropout 0.1.
 * train.py passes only pad_token_id; bos/eos here are the tokenizer's `<s>`/`</s>`, not
 * GPT2Config's 50256 (out of range for a 16000-token vocabulary).
 */
export function gpt2_705M(fields: Partial<GPT2Config> = {}): GPT2Config {
  return gpt2Config({
    vocab_size: 16000,
    n_positions: 256,
    n_embd: 1536,
    n_layer: 24,
    n_head: 16,
    pad_token_id: 0,
    bos_token_id: 1,
    eos_token_id: 2,
    ...fields,
  });
}

/**
 * DistilLlama's student (HenryHuang2/DistilLlama config.py and convert_to_causallm.py): LLaMA-2
 * vocabulary 32000, dim 512, 16 layers, 8 heads, FFN 256 * ceil((2 * 4 * 512 / 3) / 256) = 1536,
 * 128 positions, untied, rms_norm_eps 1e-5: ≈87.3M parameters (the model card says ≈80M).
 */
export function distilLlama80M(fields: Partial<LlamaConfig> = {}): LlamaConfig {
  return llamaConfig({
    vocab_size: 32000,
    hidden_size: 512,
    intermediate_size: 1536,
    num_hidden_layers: 16,
    num_attention_heads: 8,
    max_position_embeddings: 128,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    ...fields,
  });
}

/** A tiny LLaMA for tests: grouped-query attention (4 heads, 2 key/value heads), 2 layers. */
export function tinyLlama(fields: Partial<LlamaConfig> = {}): LlamaConfig {
  return llamaConfig({
    vocab_size: 64,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 64,
    ...fields,
  });
}

/** A tiny GPT-2 for tests: 2 layers, 4 heads, width 32. */
export function tinyGPT2(fields: Partial<GPT2Config> = {}): GPT2Config {
  return gpt2Config({
    vocab_size: 64,
    n_positions: 64,
    n_embd: 32,
    n_layer: 2,
    n_head: 4,
    bos_token_id: 1,
    eos_token_id: 2,
    ...fields,
  });
}

/** A small LLaMA (≈2.7M parameters, tied, with Baby Llama's 16000-token vocabulary) for CPU-adapter demos. */
export function demoLlama(fields: Partial<LlamaConfig> = {}): LlamaConfig {
  return llamaConfig({
    vocab_size: 16000,
    hidden_size: 128,
    intermediate_size: 256,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    max_position_embeddings: 256,
    tie_word_embeddings: true,
    pad_token_id: 0,
    bos_token_id: 1,
    eos_token_id: 2,
    ...fields,
  });
}

/** A preset: fills in a model config's numbers, with `fields` overriding them. */
export type PresetBuilder = (fields?: Record<string, unknown>) => ModelConfig;

/**
 * Every preset by name, for configs that name one (`"model": {"type": "llama", "preset":
 * "babyLlama58M"}`). Adding a preset: one builder function above and one row here.
 */
export const MODEL_PRESETS = {
  babyLlama58M,
  llama360M,
  gpt2_705M,
  distilLlama80M,
  tinyLlama,
  tinyGPT2,
  demoLlama,
} as const satisfies Record<string, (fields?: never) => ModelConfig>;

/** The name of a preset in {@link MODEL_PRESETS}. */
export type PresetName = keyof typeof MODEL_PRESETS;

/** Preset names, all of them or only those building `modelType` ("llama" or "gpt2"). */
export function presetNames(modelType?: ModelConfig['model_type']): PresetName[] {
  const names = Object.keys(MODEL_PRESETS) as PresetName[];
  return modelType === undefined ? names : names.filter((n) => MODEL_PRESETS[n]().model_type === modelType);
}

/**
 * The config preset `name` builds, with `fields` overriding its numbers. An unknown name throws,
 * listing the presets (those of `modelType` first when it is given).
 */
export function modelPreset(name: string, fields: Record<string, unknown> = {}): ModelConfig {
  if (!Object.hasOwn(MODEL_PRESETS, name)) {
    throw new KdgpuError(`unknown model preset ${JSON.stringify(name)}; presets: ${describePresets()}`);
  }
  return (MODEL_PRESETS[name as PresetName] as unknown as PresetBuilder)(fields);
}

/** `babyLlama58M (llama, 58.3M parameters), ...`: every preset with its architecture and size. */
export function describePresets(modelType?: ModelConfig['model_type']): string {
  return presetNames(modelType).map((n) => `${n} (${MODEL_PRESETS[n]().model_type}, ${formatParams(countParameters(MODEL_PRESETS[n]()))})`).join(', ');
}

function formatParams(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M parameters` : `${(n / 1e3).toFixed(0)}k parameters`;
}
