/**
 * Fuzzing `config.json` (configFromJson) and whole checkpoint directories (loadModelFrom: config,
 * shard index, safetensors shards): every malformed input is rejected with an error naming the
 * file, a shard index cannot name files outside the directory, and a config claiming more
 * parameters than the weights hold is refused before the model is allocated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, memoryStats } from '@kdgpu/tensor';
import { configFromJson, configToJson, gpt2Config, llamaConfig, loadModelFrom, memoryFiles, memorySink, type MemoryDir, type ModelConfig, type ModelFiles, createModel, saveModelTo, shardFiles, tinyGPT2, tinyLlama } from '@kdgpu/models';
import { assertCoverage, fuzz, mutateBytes, mutateJson, mutateJsonText, PATH_NAMES, type Rng, summary } from './fuzz.ts';

/** A Hugging Face style config.json, as transformers writes them (extra fields included). */
function baseConfig(r: Rng): Record<string, unknown> {
  const c: ModelConfig = r.chance(0.5) ? tinyLlama({ vocab_size: 16 + r.int(50) }) : tinyGPT2({ vocab_size: 16 + r.int(50) });
  return { ...configToJson(c), transformers_version: '4.46.0', _name_or_path: 'x', use_cache: true };
}

const CONFIG_ERROR = /^(config\.json|model config): /;

test('config.json: mutated configs load or fail naming the field', async () => {
  const rep = await fuzz('config.json', {
    input: (r) => {
      const base = baseConfig(r);
      switch (r.int(3)) {
        case 0: return mutateJsonText(JSON.stringify(base), r);
        case 1: return JSON.stringify(mutateJson(base, r));
        default: return mutateJson(base, r, true) as Record<string, unknown>; // parsed objects may hold NaN/Infinity
      }
    },
    run: (input) => {
      const cfg = configFromJson(input as string | Record<string, unknown>);
      // What loads is usable: sizes are safe positive integers, and it round-trips through JSON.
      const sizes = cfg.model_type === 'llama' ? [cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers, cfg.head_dim] : [cfg.vocab_size, cfg.n_embd, cfg.n_layer, cfg.n_positions];
      for (const n of sizes) assert.ok(Number.isSafeInteger(n) && n > 0, `size ${n}`);
      if (typeof input === 'string') assert.deepEqual(configFromJson(JSON.stringify(configToJson(cfg))), cfg);
    },
    expected: (e) => CONFIG_ERROR.test(e.message),
    sizeOf: (i) => (typeof i === 'string' ? i.length : 1000),
  });
  console.log(summary('config.json', rep));
  assertCoverage(rep);
});

test('config.json: __proto__ and constructor keys stay ordinary keys', () => {
  const text = '{"model_type":"llama","hidden_size":8,"num_attention_heads":2,"__proto__":{"vocab_size":7,"polluted":1},"constructor":{"prototype":{"polluted":1}}}';
  const cfg = configFromJson(text);
  assert.equal(cfg.vocab_size, 32000); // not taken from a prototype
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.ok(cfg.extra && Object.hasOwn(cfg.extra, '__proto__') && Object.hasOwn(cfg.extra, 'constructor'));
  assert.equal(Object.getPrototypeOf(cfg.extra), Object.prototype);
  // And they are written back unchanged.
  assert.deepEqual(JSON.parse(JSON.stringify(configToJson(cfg))).__proto__, { vocab_size: 7, polluted: 1 });
});

test('config.json: sizes past 2^53, wrong types and non-objects are named', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ model_type: 'llama', hidden_size: 1e300 }, /hidden_size must be a positive integer, got 1e\+300/],
    [{ model_type: 'gpt2', n_layer: 2 ** 53 }, /n_layer must be a positive integer/],
    [{ model_type: 'gpt2', layer_norm_epsilon: 'tiny' }, /layer_norm_epsilon must be a non-negative number/],
    [{ model_type: 'llama', rms_norm_eps: NaN }, /rms_norm_eps must be a non-negative number, got NaN/],
    [{ model_type: 'llama', tie_word_embeddings: 'yes' }, /tie_word_embeddings must be true or false/],
    [{ model_type: 'llama', eos_token_id: [2, -1] }, /eos_token_id must be null or a non-negative integer/],
    [{ architectures: [1, null] }, /unsupported model_type/],
    [{ model_type: 'llama', architectures: 'Llama' }, /architectures must be a list of strings/],
  ];
  for (const [json, re] of cases) assert.throws(() => configFromJson(json as Record<string, unknown>), re);
  for (const text of ['null', '[]', '3', '"llama"', '{"model_type":', '']) assert.throws(() => configFromJson(text), /^Error: config\.json: /);
  // transformers' own defaults still load.
  assert.deepEqual(configFromJson({ model_type: 'llama' }), llamaConfig());
  assert.equal(configFromJson({ architectures: ['GPT2LMHeadModel'] }).model_type, gpt2Config().model_type);
});

test('model.safetensors.index.json: shard names cannot leave the directory', () => {
  for (const name of [...PATH_NAMES, 'a/b.safetensors', 7, null]) {
    assert.throws(() => shardFiles(JSON.stringify({ weight_map: { w: 'model-00001-of-00002.safetensors', v: name } })), /model\.safetensors\.index\.json: shard .* is not a file name in the checkpoint directory/);
  }
  for (const text of ['null', '{}', '{"weight_map":[]}', '{"weight_map":null}', '[1]']) assert.throws(() => shardFiles(text), /model\.safetensors\.index\.json has no "weight_map" object/);
  assert.deepEqual(shardFiles('{"weight_map":{"a":"x.safetensors","b":"x.safetensors","c":"y.safetensors"}}'), ['x.safetensors', 'y.safetensors']);
});

/** Checkpoint directories (config + one file or shards + index) of a tiny model, in memory. */
async function baseDirs(): Promise<MemoryDir[]> {
  await init();
  const out: MemoryDir[] = [];
  for (const cfg of [tinyLlama({ vocab_size: 12, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1 }), tinyGPT2({ vocab_size: 12, n_embd: 8, n_layer: 1, n_head: 2, n_positions: 8 })]) {
    const model = createModel(cfg, { seed: 1 });
    for (const maxShardBytes of [undefined, 400]) {
      const sink = memorySink();
      await saveModelTo(model, sink, { maxShardBytes });
      out.push(sink.dir);
    }
    model.dispose();
  }
  return out;
}

test('checkpoint directories: mutated config, index or shards load or fail naming the file', async () => {
  const dirs = await baseDirs();
  const liveBefore = memoryStats().liveBytes;
  const opened: string[] = [];
  const rep = await fuzz('checkpoint directory', {
    input: (r) => {
      const dir: MemoryDir = new Map(r.pick(dirs));
      const names = [...dir.keys()];
      const f = r.pick(names);
      const bytes = dir.get(f)!;
      if (f.endsWith('.json')) {
        const text = new TextDecoder().decode(bytes);
        dir.set(f, new TextEncoder().encode(r.chance(0.5) ? mutateJsonText(text, r) : JSON.stringify(mutateJson(JSON.parse(text), r))));
      } else {
        dir.set(f, mutateBytes(bytes, r, [0, 4]));
      }
      return dir;
    },
    run: async (dir) => {
      const base = memoryFiles(dir);
      const files: ModelFiles = { readText: base.readText, open: (name) => (opened.push(name), base.open(name)) };
      const model = await loadModelFrom(files);
      model.dispose();
    },
    expected: (e) => /^(checkpoint|safetensors \S+: |config\.json|model config: |model\.safetensors\.index\.json)/.test(e.message),
    sizeOf: (dir) => [...dir.values()].reduce((a, b) => a + b.byteLength, 0),
  });
  console.log(summary('checkpoint directory', rep));
  assertCoverage(rep, 0.2, 3);
  for (const name of opened) assert.ok(!/[/\\\0]/.test(name) && name !== '..' && name !== '.', `opened ${JSON.stringify(name)}: only file names of the directory may be opened`);
  assert.equal(memoryStats().liveBytes, liveBefore, 'rejected checkpoints leave no GPU memory behind');
});

test('checkpoint directories: a config claiming more parameters than the weights hold is refused before allocating', async () => {
  const [dir] = await baseDirs();
  const cfg = JSON.parse(new TextDecoder().decode(dir!.get('config.json')!));
  const before = memoryStats();
  for (const claim of [{ num_hidden_layers: 100_000 }, { vocab_size: 2 ** 40 }, { intermediate_size: 2 ** 30 }]) {
    const d = new Map(dir);
    d.set('config.json', new TextEncoder().encode(JSON.stringify({ ...cfg, ...claim })));
    await assert.rejects(loadModelFrom(memoryFiles(d)), /checkpoint: config\.json describes \d+ parameters but the weights hold \d+ values/);
  }
  assert.equal(memoryStats().liveBytes, before.liveBytes);
  assert.equal(memoryStats().peakBytes, before.peakBytes, 'nothing was allocated on the GPU');
});
