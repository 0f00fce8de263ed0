import { keep, nn, type Tensor } from '@kdgpu/tensor';
import type { LlamaConfig } from './config.ts';
import { KVCache } from './kv-cache.ts';
import { type BuildOptions, type CausalLM, checkIds, chunked, type ForwardOptions, makeParam, siteSeed } from './model.ts';
import { linear } from './ops/linear.ts';

/**
 * LLaMA as transformers' LlamaForCausalLM: token embedding, pre-RMSNorm decoder layers with
 * rotary grouped-query attention and a SwiGLU MLP, final RMSNorm, LM head (optionally tied to the
 * embedding). No biases. Parameter names and layouts are the checkpoint's: Linear weights are
 * [out, in].
 *
 * Notation: B batch, T new positions, S = cached + new positions, C hidden_size, H heads,
 * Hkv key/value heads, D head_dim, I intermediate_size, V vocab_size.
 */
export class Llama implements CausalLM {
  private readonly params = new Map<string, Tensor>();
  private rope: { cos: Tensor; sin: Tensor } | null = null;

  constructor(
    readonly config: LlamaConfig,
    opts: BuildOptions = {},
  ) {
    const c = config;
    const C = c.hidden_size;
    const D = c.head_dim;
    const normal = { kind: 'normal', std: c.initializer_range } as const;
    const add = (name: string, shape: number[], init: Parameters<typeof makeParam>[2]) => this.params.set(name, makeParam(name, shape, init, opts));
    add('model.embed_tokens.weight', [c.vocab_size, C], { ...normal, zeroRow: c.pad_token_id });
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const p = `model.layers.${i}.`;
      add(p + 'self_attn.q_proj.weight', [c.num_attention_heads * D, C], normal);
      add(p + 'self_attn.k_proj.weight', [c.num_key_value_heads * D, C], normal);
      add(p + 'self_attn.v_proj.weight', [c.num_key_value_heads * D, C], normal);
      add(p + 'self_attn.o_proj.weight', [C, c.num_attention_heads * D], normal);
      add(p + 'mlp.gate_proj.weight', [c.intermediate_size, C], normal);
      add(p + 'mlp.up_proj.weight', [c.intermediate_size, C], normal);
      add(p + 'mlp.down_proj.weight', [C, c.intermediate_size], normal);
      add(p + 'input_layernorm.weight', [C], { kind: 'ones' });
      add(p + 'post_attention_layernorm.weight', [C], { kind: 'ones' });
    }
    add('model.norm.weight', [C], { kind: 'ones' });
    if (!c.tie_word_embeddings) add('lm_head.weight', [c.vocab_size, C], normal);
  }

  parameters(): Map<string, Tensor> {
    return this.params;
  }

  private p(name: string): Tensor {
    return this.params.get(name)!;
  }

  /**
   * cos/sin tables [P, D/2] covering positions 0 .. offset+T-1 (nn.applyRotary reads the rows
   * from `offset`): one kept for max_position_embeddings, or a larger one for this call only.
   */
  private rotary(offset: number, T: number): { cos: Tensor; sin: Tensor } {
    const c = this.config;
    if (offset + T > c.max_position_embeddings) {
      // Past the table (HF extends dynamically too): build one just long enough; the caller's scope frees it.
      return nn.rotaryTables(c.head_dim, offset + T, c.rope_theta);
    }
    if (!this.rope) {
      const t = nn.rotaryTables(c.head_dim, c.max_position_embeddings, c.rope_theta);
      this.rope = { cos: keep(t.cos), sin: keep(t.sin) };
    }
    return this.rope;
  }

  hiddenStates(ids: Tensor, opts: ForwardOptions = {}): Tensor {
    const c = this.config;
    const [B, T] = checkIds(ids, 'Llama');
    const H = c.num_attention_heads;
    const Hkv = c.num_key_value_heads;
    const D = c.head_dim;
    const cache = opts.kvCache;
    const offset = opts.positionOffset ?? cache?.length ?? 0;
    const seed = opts.dropoutSeed;
    const attnDrop = seed !== undefined && c.attention_dropout > 0 ? c.attention_dropout : 0;
    const { cos, sin } = this.rotary(offset, T); // [P, D/2]

    let x = nn.embedding(this.p('model.embed_tokens.weight'), ids, c.pad_token_id); // [B, T, C]
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const p = `model.layers.${i}.`;
      // Self-attention block.
      const h = nn.rmsNorm(x, this.p(p + 'input_layernorm.weight'), c.rms_norm_eps); // [B, T, C]
      const q = linear(h, this.p(p + 'self_attn.q_proj.weight')).reshape([B, T, H, D]).permute([0, 2, 1, 3]); // [B, H, T, D]
      let k = linear(h, this.p(p + 'self_attn.k_proj.weight')).reshape([B, T, Hkv, D]).permute([0, 2, 1, 3]); // [B, Hkv, T, D]
      let v = linear(h, this.p(p + 'self_attn.v_proj.weight')).reshape([B, T, Hkv, D]).permute([0, 2, 1, 3]); // [B, Hkv, T, D]
      const qr = nn.applyRotary(q, cos, sin, offset); // [B, H, T, D]
      k = nn.applyRotary(k, cos, sin, offset); // [B, Hkv, T, D]
      if (cache) ({ k, v } = cache.update(i, k, v)); // [B, Hkv, S, D]
      const y = nn.causalAttention(qr, k, v, {
        scale: 1 / Math.sqrt(D),
        dropout: attnDrop ? { p: attnDrop, seed: siteSeed(seed!, i) } : undefined,
      }); // [B, H, T, D]
      const merged = y.permute([0, 2, 1, 3]).reshape([B, T, H * D]); // [B, T, H*D]
      x = x.add(linear(merged, this.p(p + 'self_attn.o_proj.weight'))); // [B, T, C]
      // MLP block.
      const h2 = nn.rmsNorm(x, this.p(p + 'post_attention_layernorm.weight'), c.rms_norm_eps); // [B, T, C]
      const gate = linear(h2, this.p(p + 'mlp.gate_proj.weight')); // [B, T, I]
      const up = linear(h2, this.p(p + 'mlp.up_proj.weight')); // [B, T, I]
      x = x.add(linear(nn.swiglu(gate, up), this.p(p + 'mlp.down_proj.weight'))); // [B, T, C]
    }
    return nn.rmsNorm(x, this.p('model.norm.weight'), c.rms_norm_eps); // [B, T, C]
  }

  headWeight(): Tensor {
    return this.config.tie_word_embeddings ? this.p('model.embed_tokens.weight') : this.p('lm_head.weight'); // [V, C]
  }

  logits(hidden: Tensor): Tensor {
    return linear(hidden, this.headWeight()); // [B, T, V]
  }

  forward(ids: Tensor, opts: ForwardOptions = {}): Tensor {
    return this.logits(this.hiddenStates(ids, opts)); // [B, T, V]
  }

  chunkedLogits(hidden: Tensor, numChunks: number): Tensor[] {
    return chunked(hidden, numChunks, (h) => this.logits(h));
  }

  createKVCache(): KVCache {
    return new KVCache(this.config.num_hidden_layers);
  }

  numParameters(): number {
    let n = 0;
    for (const t of this.params.values()) n += t.size;
    return n;
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
    this.rope?.cos.dispose();
    this.rope?.sin.dispose();
    this.rope = null;
  }
}
