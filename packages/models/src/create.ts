import { gpt2Inner, type ModelConfig } from './config.ts';
import { GPT2 } from './gpt2.ts';
import { Llama } from './llama.ts';
import type { BuildOptions, CausalLM } from './model.ts';

/** Builds the model a config describes (`model_type` "llama" -> Llama, "gpt2" -> GPT2), initialized as transformers does. */
export function createModel(config: ModelConfig, opts: BuildOptions = {}): CausalLM {
  switch (config.model_type) {
    case 'llama':
      return new Llama(config, opts);
    case 'gpt2':
      return new GPT2(config, opts);
    default:
      return config satisfies never;
  }
}

/**
 * Parameter count from the config alone, as transformers' `model.num_parameters()` reports it:
 * tied embeddings count once, buffers (rotary inv_freq, GPT-2's causal mask) not at all.
 *
 * LLaMA: V*C (embed) + L * (C*H*D + 2*C*Hkv*D + H*D*C (attention) + 3*C*I (MLP) + 2*C (norms))
 *        + C (final norm) + V*C (lm_head, when untied).
 * GPT-2: V*C (wte) + P*C (wpe) + L * (4*C (two LayerNorms) + C*3C + 3C (c_attn) + C*C + C
 *        (attn c_proj) + C*I + I (c_fc) + I*C + C (mlp c_proj)) + 2*C (ln_f) [+ V*C untied].
 */
export function countParameters(config: ModelConfig): number {
  switch (config.model_type) {
    case 'llama': {
      const c = config;
      const C = c.hidden_size;
      const qo = 2 * C * c.num_attention_heads * c.head_dim;
      const kv = 2 * C * c.num_key_value_heads * c.head_dim;
      const layer = qo + kv + 3 * C * c.intermediate_size + 2 * C;
      return c.vocab_size * C * (c.tie_word_embeddings ? 1 : 2) + c.num_hidden_layers * layer + C;
    }
    case 'gpt2': {
      const c = config;
      const C = c.n_embd;
      const I = gpt2Inner(c);
      const layer = 4 * C + (3 * C * C + 3 * C) + (C * C + C) + (C * I + I) + (I * C + C);
      return c.vocab_size * C * (c.tie_word_embeddings ? 1 : 2) + c.n_positions * C + c.n_layer * layer + 2 * C;
    }
    default:
      return config satisfies never;
  }
}
