import { nn, type Tensor } from '@kdgpu/tensor';
import { type GPT2Config, gpt2Inner } from './config.ts';
import { KVCache } from './kv-cache.ts';
import { type BuildOptions, type CausalLM, checkIds, chunked, type ForwardOptions, makeParam, siteSeed } from './model.ts';
import { conv1d, linear } from './ops/linear.ts';

/**
 * GPT-2 as transformers' GPT2LMHeadModel: token + learned position embeddings, pre-LayerNorm
 * blocks with a fused c_attn projection, a GELU-tanh MLP of width n_inner (default 4 * n_embd),
 * final LayerNorm, LM head tied to the token embedding. Weights use transformers' Conv1D layout
 * [in, out]. Dropout (embd_pdrop, attn_pdrop, resid_pdrop) applies only with `dropoutSeed`.
 *
 * Notation: B batch, T new positions, S = cached + new positions, C n_embd, H n_head, D = C / H,
 * I n_inner, V vocab_size, P n_positions.
 */
export class GPT2 implements CausalLM {
  private readonly params = new Map<string, Tensor>();

  constructor(
    readonly config: GPT2Config,
    opts: BuildOptions = {},
  ) {
    const c = config;
    const C = c.n_embd;
    const I = gpt2Inner(c);
    const normal = { kind: 'normal', std: c.initializer_range } as const;
    // transformers scales the residual projections' init by 1 / sqrt(2 * n_layer) (GPT-2 paper).
    const proj = { kind: 'normal', std: c.initializer_range / Math.sqrt(2 * c.n_layer) } as const;
    const zeros = { kind: 'zeros' } as const;
    const ones = { kind: 'ones' } as const;
    const add = (name: string, shape: number[], init: Parameters<typeof makeParam>[2]) => this.params.set(name, makeParam(name, shape, init, opts));
    add('transformer.wte.weight', [c.vocab_size, C], normal);
    add('transformer.wpe.weight', [c.n_positions, C], normal);
    for (let i = 0; i < c.n_layer; i++) {
      const p = `transformer.h.${i}.`;
      add(p + 'ln_1.weight', [C], ones);
      add(p + 'ln_1.bias', [C], zeros);
      add(p + 'attn.c_attn.weight', [C, 3 * C], normal);
      add(p + 'attn.c_attn.bias', [3 * C], zeros);
      add(p + 'attn.c_proj.weight', [C, C], proj);
      add(p + 'attn.c_proj.bias', [C], zeros);
      add(p + 'ln_2.weight', [C], ones);
      add(p + 'ln_2.bias', [C], zeros);
      add(p + 'mlp.c_fc.weight', [C, I], normal);
      add(p + 'mlp.c_fc.bias', [I], zeros);
      add(p + 'mlp.c_proj.weight', [I, C], proj);
      add(p + 'mlp.c_proj.bias', [C], zeros);
    }
    add('transformer.ln_f.weight', [C], ones);
    add('transformer.ln_f.bias', [C], zeros);
    if (!c.tie_word_embeddings) add('lm_head.weight', [c.vocab_size, C], normal);
  }

  parameters(): Map<string, Tensor> {
    return this.params;
  }

  private p(name: string): Tensor {
    return this.params.get(name)!;
  }

  private act(x: Tensor): Tensor {
    const a = this.config.activation_function;
    switch (a) {
      case 'gelu_new':
      case 'gelu_pytorch_tanh':
        return nn.geluTanh(x);
      case 'relu':
        return x.relu();
      default:
        return a satisfies never;
    }
  }

  hiddenStates(ids: Tensor, opts: ForwardOptions = {}): Tensor {
    const c = this.config;
    const [B, T] = checkIds(ids, 'GPT2');
    const C = c.n_embd;
    const H = c.n_head;
    const D = C / H;
    const cache = opts.kvCache;
    const offset = opts.positionOffset ?? cache?.length ?? 0;
    if (offset + T > c.n_positions) {
      throw new Error(`GPT2.forward: positions ${offset}..${offset + T - 1} exceed n_positions (${c.n_positions}); shorten the input or generate fewer tokens`);
    }
    const seed = opts.dropoutSeed;
    const drop = (x: Tensor, p: number, site: number) => (seed === undefined ? x : nn.dropout(x, p, siteSeed(seed, site)));

    const pos = this.p('transformer.wpe.weight').slice(0, offset, offset + T); // [T, C]
    let x = nn.embedding(this.p('transformer.wte.weight'), ids).add(pos); // [B, T, C]
    x = drop(x, c.embd_pdrop, 0);
    for (let i = 0; i < c.n_layer; i++) {
      const p = `transformer.h.${i}.`;
      // Attention block.
      const h = nn.layerNorm(x, this.p(p + 'ln_1.weight'), this.p(p + 'ln_1.bias'), c.layer_norm_epsilon); // [B, T, C]
      const qkv = conv1d(h, this.p(p + 'attn.c_attn.weight'), this.p(p + 'attn.c_attn.bias')).reshape([B, T, 3, H, D]); // [B, T, 3, H, D]
      const split = (j: number) => qkv.slice(2, j, j + 1).reshape([B, T, H, D]).permute([0, 2, 1, 3]); // [B, H, T, D]
      let k = split(1);
      let v = split(2);
      if (cache) ({ k, v } = cache.update(i, k, v)); // [B, H, S, D]
      let scale = c.scale_attn_weights ? 1 / Math.sqrt(D) : 1;
      if (c.scale_attn_by_inverse_layer_idx) scale /= i + 1;
      const y = nn.causalAttention(split(0), k, v, {
        scale,
        dropout: seed !== undefined && c.attn_pdrop > 0 ? { p: c.attn_pdrop, seed: siteSeed(seed, 1 + 3 * i) } : undefined,
      }); // [B, H, T, D]
      const merged = y.permute([0, 2, 1, 3]).reshape([B, T, C]); // [B, T, C]
      const a = conv1d(merged, this.p(p + 'attn.c_proj.weight'), this.p(p + 'attn.c_proj.bias')); // [B, T, C]
      x = x.add(drop(a, c.resid_pdrop, 2 + 3 * i));
      // MLP block.
      const h2 = nn.layerNorm(x, this.p(p + 'ln_2.weight'), this.p(p + 'ln_2.bias'), c.layer_norm_epsilon); // [B, T, C]
      const f = this.act(conv1d(h2, this.p(p + 'mlp.c_fc.weight'), this.p(p + 'mlp.c_fc.bias'))); // [B, T, I]
      const m = conv1d(f, this.p(p + 'mlp.c_proj.weight'), this.p(p + 'mlp.c_proj.bias')); // [B, T, C]
      x = x.add(drop(m, c.resid_pdrop, 3 + 3 * i));
    }
    return nn.layerNorm(x, this.p('transformer.ln_f.weight'), this.p('transformer.ln_f.bias'), c.layer_norm_epsilon); // [B, T, C]
  }

  headWeight(): Tensor {
    return this.config.tie_word_embeddings ? this.p('transformer.wte.weight') : this.p('lm_head.weight'); // [V, C]
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
    return new KVCache(this.config.n_layer);
  }

  numParameters(): number {
    let n = 0;
    for (const t of this.params.values()) n += t.size;
    return n;
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }
}
