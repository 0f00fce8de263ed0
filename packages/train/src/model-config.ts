/**
 * The student's model config from a training config's `model` section: a preset from
 * `@kdgpu/models`' `MODEL_PRESETS` (by name) and/or explicit Hugging Face fields, sized to the
 * tokenizer's vocabulary and special tokens. Browser-safe.
 * @module
 */

import { KdgpuError } from '@kdgpu/tensor';
import { describePresets, gpt2Config, llamaConfig, type ModelConfig, modelPreset, MODEL_PRESETS, presetNames } from '@kdgpu/models';
import type { TrainConfig } from './config-schema.ts';
import { checkVocabulary } from './vocab.ts';

/** What the student's config takes from the tokenizer. */
export interface TokenizerFacts {
  vocabSize: number;
  /** Ids of `<s>`, `</s>`, `<pad>` when the tokenizer has them. */
  bos?: number;
  eos?: number;
  pad?: number;
  /** Where the tokenizer comes from, for messages. */
  name?: string;
}

/**
 * The student's config: `model.preset` (a name in `MODEL_PRESETS`) and/or `model.config` fields,
 * with the tokenizer's vocabulary size and special-token ids (the config's fields win). A `type`
 * with neither preset nor config is refused, listing the presets: transformers' bare defaults are
 * a 7B model. `log` receives a note when `model.config.vocab_size` pads the tokenizer's vocabulary.
 */
export function studentModelConfig(model: TrainConfig['model'], tok: TokenizerFacts, log: (s: string) => void = () => {}): ModelConfig {
  if (model.preset === undefined && model.config === undefined) {
    throw new KdgpuError(
      `model: "type": "${model.type}" alone gives transformers' default size (a 7-billion-parameter ${model.type}); ` +
        `set model.preset to one of ${describePresets(model.type)}, or give model.config with the sizes ` +
        `(e.g. hidden_size, num_hidden_layers, num_attention_heads, intermediate_size)`,
    );
  }
  // The tokenizer's special tokens, not the architecture's defaults (e.g. GPT-2's 50256, outside a
  // small vocabulary); the config may still override them.
  const fields: Record<string, unknown> = { vocab_size: tok.vocabSize };
  if (tok.bos !== undefined) fields.bos_token_id = tok.bos;
  if (tok.eos !== undefined) fields.eos_token_id = tok.eos;
  if (tok.pad !== undefined) fields.pad_token_id = tok.pad;
  Object.assign(fields, model.config ?? {});
  let config: ModelConfig;
  if (model.preset !== undefined) {
    if (!Object.hasOwn(MODEL_PRESETS, model.preset)) {
      throw new KdgpuError(`model.preset: unknown preset "${model.preset}"; presets: ${describePresets()}`);
    }
    config = modelPreset(model.preset, fields);
    if (config.model_type !== model.type) {
      throw new KdgpuError(`model.type is "${model.type}" but preset ${model.preset} builds a ${config.model_type}; ${model.type} presets: ${presetNames(model.type).join(', ') || 'none'}`);
    }
  } else {
    config = model.type === 'llama' ? llamaConfig(fields) : gpt2Config(fields);
  }
  const note = checkVocabulary({
    model: { vocabSize: config.vocab_size, name: 'model.config.vocab_size' },
    tokenizer: { vocabSize: tok.vocabSize, name: tok.name ?? 'the tokenizer' },
    fix: 'Remove model.config.vocab_size (it defaults to the tokenizer\'s size) or set it to at least the tokenizer\'s size',
  });
  if (note) log(note);
  return config;
}
