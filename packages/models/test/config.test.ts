import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  babyLlama58M,
  configFromJson,
  configToJson,
  countParameters,
  demoLlama,
  distilLlama80M,
  gpt2_705M,
  gpt2Config,
  llama360M,
  llamaConfig,
  modelPreset,
  presetNames,
  tinyGPT2,
  tinyLlama,
} from '@kdgpu/models';

test('parameter counts of the seed models, as transformers reports them', () => {
  // Baby Llama 58M (untied, LlamaForCausalLM counts embed_tokens and lm_head separately):
  //   embed 16000*512 = 8,192,000; per layer 4*512*512 (q,k,v,o) + 3*512*1024 (gate,up,down)
  //   + 2*512 (norms) = 2,622,464; x16 = 41,959,424; final norm 512; lm_head 8,192,000
  //   total 58,343,936.
  assert.equal(countParameters(babyLlama58M()), 58_343_936);
  // Llama-360M: embed 16,384,000; per layer 4*1024^2 + 3*1024*3072 + 2*1024 = 13,633,536;
  //   x24 = 327,204,864; norm 1024; lm_head 16,384,000; total 359,973,888.
  assert.equal(countParameters(llama360M()), 359_973_888);
  // GPT2-705M (GPT2LMHeadModel ties lm_head to wte, counted once): wte 16000*1536 = 24,576,000;
  //   wpe 256*1536 = 393,216; per layer 4*1536 (ln_1, ln_2) + 1536*4608 + 4608 (c_attn)
  //   + 1536^2 + 1536 (attn c_proj) + 1536*6144 + 6144 (c_fc) + 6144*1536 + 1536 (mlp c_proj)
  //   = 28,331,520; x24 = 679,956,480; ln_f 3072; total 704,928,768.
  assert.equal(countParameters(gpt2_705M()), 704_928_768);
  // DistilLlama: embed 32000*512 = 16,384,000; per layer 4*512^2 + 3*512*1536 + 2*512
  //   = 3,408,896; x16 = 54,542,336; norm 512; lm_head 16,384,000; total 87,310,848.
  assert.equal(countParameters(distilLlama80M()), 87_310_848);
  // demoLlama (tied): embed 2,048,000; per layer 4*128^2 + 3*128*256 + 2*128 = 164,096; x4 =
  //   656,384; norm 128; total 2,704,512.
  assert.equal(countParameters(demoLlama()), 2_704_512);
  // Grouped-query attention shrinks k/v: tinyLlama has Hkv*D = 16 rows in k_proj and v_proj.
  assert.equal(countParameters(tinyLlama()), 22_688);
  assert.equal(countParameters(tinyGPT2()), 29_568);
});

test('config.json round-trips, keeping fields this package does not use', () => {
  for (const c of [babyLlama58M(), gpt2_705M(), tinyLlama()]) assert.deepEqual(configFromJson(JSON.stringify(configToJson(c))), c);
  const hf = {
    _name_or_path: 'x',
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 64,
    num_attention_heads: 4,
    num_hidden_layers: 1,
    intermediate_size: 128,
    vocab_size: 100,
    pretraining_tp: 1,
    use_cache: true,
    transformers_version: '4.36.2',
  };
  const c = configFromJson(hf);
  assert.equal(c.model_type, 'llama');
  if (c.model_type !== 'llama') return;
  // Older configs have neither num_key_value_heads nor head_dim: transformers derives them.
  assert.equal(c.num_key_value_heads, 4);
  assert.equal(c.head_dim, 16);
  assert.equal(c.rms_norm_eps, 1e-6);
  assert.deepEqual(c.extra, { pretraining_tp: 1, use_cache: true });
  const out = configToJson(c);
  assert.equal(out.pretraining_tp, 1);
  assert.equal(out.transformers_version, undefined);
});

test('architecture comes from model_type, else from architectures', () => {
  assert.equal(configFromJson({ architectures: ['GPT2LMHeadModel'], n_layer: 2 }).model_type, 'gpt2');
  assert.equal(configFromJson({ architectures: ['LlamaForCausalLM'] }).model_type, 'llama');
  assert.throws(() => configFromJson({ model_type: 'mistral' }), /unsupported model_type "mistral"/);
});

test('configs are validated with messages naming the field', () => {
  assert.throws(() => llamaConfig({ num_attention_heads: 6, num_key_value_heads: 4, hidden_size: 48 }), /multiple of num_key_value_heads/);
  assert.throws(() => llamaConfig({ rope_scaling: { type: 'linear', factor: 2 } } as never), /rope_scaling .* is not supported/);
  assert.throws(() => llamaConfig({ hidden_act: 'gelu' } as never), /hidden_act "gelu"/);
  assert.throws(() => gpt2Config({ n_embd: 30, n_head: 4 }), /n_embd \(30\) must be a multiple of n_head \(4\)/);
  assert.throws(() => gpt2Config({ activation_function: 'gelu' } as never), /activation_function "gelu" is not supported/);
  assert.throws(() => gpt2Config({ n_layer: 0 }), /n_layer must be a positive integer/);
});

test('presets by name: MODEL_PRESETS, modelPreset with overrides, unknown names list the presets', () => {
  assert.deepEqual(presetNames(), ['babyLlama58M', 'llama360M', 'gpt2_705M', 'distilLlama80M', 'tinyLlama', 'tinyGPT2', 'demoLlama']);
  assert.deepEqual(presetNames('gpt2'), ['gpt2_705M', 'tinyGPT2']);
  assert.deepEqual(modelPreset('babyLlama58M'), babyLlama58M());
  const c = modelPreset('tinyLlama', { vocab_size: 300 });
  assert.equal(c.vocab_size, 300);
  assert.equal(c.model_type, 'llama');
  assert.throws(() => modelPreset('babyLlama'), /unknown model preset "babyLlama"; presets: babyLlama58M \(llama, 58\.3M parameters\), .*tinyGPT2 \(gpt2/);
  assert.throws(() => modelPreset('toString'), /unknown model preset/);
});
