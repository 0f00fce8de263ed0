/**
 * Model configs as plain typed objects with Hugging Face's `config.json` field names
 * (`LlamaConfig`, `GPT2Config`), so a config written here loads in transformers and a
 * transformers config loads here. Defaults are transformers' defaults.
 */

/** Hugging Face `LlamaConfig` fields this package reads (others are kept as `extra`). */
export interface LlamaConfig {
  model_type: 'llama';
  architectures: string[];
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  /** Grouped-query attention: heads share key/value heads in groups of `num_attention_heads / num_key_value_heads`. */
  num_key_value_heads: number;
  /** Per-head width; transformers >= 4.45 writes it, older configs imply `hidden_size / num_attention_heads`. */
  head_dim: number;
  hidden_act: 'silu';
  max_position_embeddings: number;
  initializer_range: number;
  rms_norm_eps: number;
  rope_theta: number;
  /** Only `null` (plain RoPE) is supported. */
  rope_scaling: null;
  attention_bias: false;
  attention_dropout: number;
  mlp_bias: false;
  tie_word_embeddings: boolean;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
  pad_token_id: number | null;
  torch_dtype: string;
  /** Fields of the source config.json this package does not use, written back unchanged. */
  extra?: Record<string, unknown>;
}

/** Hugging Face `GPT2Config` fields this package reads (others are kept as `extra`). */
export interface GPT2Config {
  model_type: 'gpt2';
  architectures: string[];
  vocab_size: number;
  /** Learned positions: the longest sequence the model accepts. */
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  /** MLP width; `null` means 4 * n_embd. */
  n_inner: number | null;
  activation_function: 'gelu_new' | 'gelu_pytorch_tanh' | 'relu';
  resid_pdrop: number;
  embd_pdrop: number;
  attn_pdrop: number;
  layer_norm_epsilon: number;
  initializer_range: number;
  scale_attn_weights: boolean;
  scale_attn_by_inverse_layer_idx: boolean;
  /** Only `false` is supported (it changes f16 numerics, not f32 results). */
  reorder_and_upcast_attn: boolean;
  tie_word_embeddings: boolean;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
  pad_token_id: number | null;
  torch_dtype: string;
  extra?: Record<string, unknown>;
}

/** Any supported config; `model_type` discriminates. */
export type ModelConfig = LlamaConfig | GPT2Config;

/** transformers' `LlamaConfig()` defaults (head_dim and num_key_value_heads follow the others). */
export function llamaConfig(fields: Partial<LlamaConfig> = {}): LlamaConfig {
  const heads = fields.num_attention_heads ?? 32;
  const hidden = fields.hidden_size ?? 4096;
  const cfg: LlamaConfig = {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    vocab_size: 32000,
    hidden_size: hidden,
    intermediate_size: 11008,
    num_hidden_layers: 32,
    num_attention_heads: heads,
    num_key_value_heads: heads,
    // Checked later (validateLlama); a hostile value must not throw here.
    head_dim: typeof hidden === 'number' && typeof heads === 'number' ? Math.floor(hidden / heads) : NaN,
    hidden_act: 'silu',
    max_position_embeddings: 2048,
    initializer_range: 0.02,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    rope_scaling: null,
    attention_bias: false,
    attention_dropout: 0,
    mlp_bias: false,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: null,
    torch_dtype: 'float32',
    ...stripUndefined(fields),
  };
  validateLlama(cfg);
  return cfg;
}

/** transformers' `GPT2Config()` defaults. */
export function gpt2Config(fields: Partial<GPT2Config> = {}): GPT2Config {
  const cfg: GPT2Config = {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: 50257,
    n_positions: 1024,
    n_embd: 768,
    n_layer: 12,
    n_head: 12,
    n_inner: null,
    activation_function: 'gelu_new',
    resid_pdrop: 0.1,
    embd_pdrop: 0.1,
    attn_pdrop: 0.1,
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    scale_attn_weights: true,
    scale_attn_by_inverse_layer_idx: false,
    reorder_and_upcast_attn: false,
    tie_word_embeddings: true,
    bos_token_id: 50256,
    eos_token_id: 50256,
    pad_token_id: null,
    torch_dtype: 'float32',
    ...stripUndefined(fields),
  };
  validateGpt2(cfg);
  return cfg;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function need(ok: boolean, msg: string): void {
  if (!ok) throw new Error(`model config: ${msg}`);
}

/** A config value for an error message (short, whatever it is). */
function show(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'number' ? String(v) : JSON.stringify(v) ?? String(v);
  } catch {
    s = Array.isArray(v) ? 'an array' : typeof v;
  }
  return s.length > 60 ? `${s.slice(0, 60)}...` : s;
}

function positiveInt(cfg: object, keys: string[]): void {
  for (const k of keys) {
    const v = (cfg as Record<string, unknown>)[k];
    // Safe integers only: sizes are multiplied together into buffer sizes.
    need(typeof v === 'number' && Number.isSafeInteger(v) && v > 0, `${k} must be a positive integer, got ${show(v)}`);
  }
}

function finite(cfg: object, keys: string[]): void {
  for (const k of keys) {
    const v = (cfg as Record<string, unknown>)[k];
    need(typeof v === 'number' && Number.isFinite(v) && v >= 0, `${k} must be a non-negative number, got ${show(v)}`);
  }
}

function bool(cfg: object, keys: string[]): void {
  for (const k of keys) {
    const v = (cfg as Record<string, unknown>)[k];
    need(typeof v === 'boolean', `${k} must be true or false, got ${show(v)}`);
  }
}

function names(cfg: { architectures: unknown; torch_dtype: unknown }): void {
  need(Array.isArray(cfg.architectures) && cfg.architectures.every((a) => typeof a === 'string'), `architectures must be a list of strings, got ${show(cfg.architectures)}`);
  need(typeof cfg.torch_dtype === 'string', `torch_dtype must be a string, got ${show(cfg.torch_dtype)}`);
}

function tokenIds(cfg: object): void {
  for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id']) {
    const v = (cfg as Record<string, unknown>)[k];
    const ok = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
    need(v === null || ok(v) || (k === 'eos_token_id' && Array.isArray(v) && v.every(ok)), `${k} must be null or a non-negative integer${k === 'eos_token_id' ? ' (or a list of them)' : ''}, got ${show(v)}`);
  }
}

function validateLlama(c: LlamaConfig): void {
  need(c.model_type === 'llama', `model_type must be "llama", got ${show(c.model_type)}`);
  positiveInt(c, ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'max_position_embeddings']);
  finite(c, ['initializer_range', 'rms_norm_eps', 'rope_theta', 'attention_dropout']);
  bool(c, ['tie_word_embeddings']);
  tokenIds(c);
  names(c);
  need(c.num_attention_heads % c.num_key_value_heads === 0, `num_attention_heads (${c.num_attention_heads}) must be a multiple of num_key_value_heads (${c.num_key_value_heads})`);
  need(c.head_dim % 2 === 0, `head_dim (${c.head_dim}) must be even for rotary embeddings`);
  need(c.hidden_act === 'silu', `hidden_act ${show(c.hidden_act)} is not supported (only "silu")`);
  need(c.rope_scaling === null, `rope_scaling ${show(c.rope_scaling)} is not supported (only null, plain RoPE)`);
  need(c.attention_bias === false && c.mlp_bias === false, 'attention_bias / mlp_bias = true is not supported (LLaMA here has no biases)');
}

function validateGpt2(c: GPT2Config): void {
  need(c.model_type === 'gpt2', `model_type must be "gpt2", got ${show(c.model_type)}`);
  positiveInt(c, ['vocab_size', 'n_positions', 'n_embd', 'n_layer', 'n_head']);
  finite(c, ['resid_pdrop', 'embd_pdrop', 'attn_pdrop', 'layer_norm_epsilon', 'initializer_range']);
  bool(c, ['tie_word_embeddings', 'scale_attn_weights', 'scale_attn_by_inverse_layer_idx', 'reorder_and_upcast_attn']);
  tokenIds(c);
  names(c);
  need(c.n_embd % c.n_head === 0, `n_embd (${c.n_embd}) must be a multiple of n_head (${c.n_head})`);
  need(c.n_inner === null || (Number.isSafeInteger(c.n_inner) && c.n_inner > 0), `n_inner must be null or a positive integer, got ${show(c.n_inner)}`);
  const acts = ['gelu_new', 'gelu_pytorch_tanh', 'relu'];
  need(acts.includes(c.activation_function), `activation_function ${show(c.activation_function)} is not supported (use one of ${acts.join(', ')})`);
  need(!c.reorder_and_upcast_attn, 'reorder_and_upcast_attn = true is not supported');
}

const LLAMA_KEYS = Object.keys(llamaConfig({ hidden_size: 8, num_attention_heads: 2 })) as Array<keyof LlamaConfig>;
const GPT2_KEYS = Object.keys(gpt2Config()) as Array<keyof GPT2Config>;
// Written by transformers but meaningless to the model: not worth keeping in `extra`.
const DROP = new Set(['transformers_version', '_name_or_path']);

function split<K extends string>(json: Record<string, unknown>, keys: readonly K[]): { known: Record<string, unknown>; extra: Record<string, unknown> } {
  const known: Array<[string, unknown]> = [];
  const extra: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(json)) {
    if ((keys as readonly string[]).includes(k)) known.push([k, v]);
    else if (!DROP.has(k)) extra.push([k, v]);
  }
  // fromEntries, not assignment: a "__proto__" key in config.json stays an ordinary (extra) key.
  return { known: Object.fromEntries(known), extra: Object.fromEntries(extra) };
}

/**
 * Reads a Hugging Face `config.json` (text or parsed). The architecture comes from `model_type`,
 * or from `architectures` when `model_type` is missing; missing fields take transformers' defaults.
 */
export function configFromJson(json: string | Record<string, unknown>): ModelConfig {
  let obj: Record<string, unknown>;
  if (typeof json === 'string') {
    try {
      obj = JSON.parse(json);
    } catch (e) {
      throw new Error(`config.json: not valid JSON (${(e as Error).message})`);
    }
  } else obj = json;
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new Error(`config.json: must be a JSON object, got ${show(obj)}`);
  const arch: unknown[] = Array.isArray(obj.architectures) ? obj.architectures : [];
  const named = (prefix: string) => arch.some((a) => typeof a === 'string' && a.startsWith(prefix));
  const type = obj.model_type ?? (named('Llama') ? 'llama' : named('GPT2') ? 'gpt2' : undefined);
  if (type === 'llama') {
    const { known, extra } = split(obj, LLAMA_KEYS);
    const f = { ...known, model_type: type } as Partial<LlamaConfig>; // a null model_type was resolved from architectures
    // Older configs have no head_dim / num_key_value_heads; transformers derives them.
    if (f.head_dim == null) delete f.head_dim;
    if (f.num_key_value_heads == null) delete f.num_key_value_heads;
    return { ...llamaConfig(f), ...(Object.keys(extra).length ? { extra } : {}) };
  }
  if (type === 'gpt2') {
    const { known, extra } = split(obj, GPT2_KEYS);
    return { ...gpt2Config({ ...known, model_type: type } as Partial<GPT2Config>), ...(Object.keys(extra).length ? { extra } : {}) };
  }
  throw new Error(
    `config.json: unsupported model_type ${show(obj.model_type)} / architectures ${show(obj.architectures)}; ` +
      'this package builds "llama" (LlamaForCausalLM) and "gpt2" (GPT2LMHeadModel)',
  );
}

/** The config as a Hugging Face `config.json` object (unknown source fields included). */
export function configToJson(cfg: ModelConfig): Record<string, unknown> {
  const { extra, ...rest } = cfg;
  return { ...(extra ?? {}), ...rest };
}

/** The MLP width of a GPT-2 config (`n_inner`, or 4 * n_embd). */
export function gpt2Inner(c: GPT2Config): number {
  return c.n_inner ?? 4 * c.n_embd;
}
