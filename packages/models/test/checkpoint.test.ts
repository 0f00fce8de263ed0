import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { init, noGrad } from '@kdgpu/tensor';
import { type CausalLM, createModel, loadModelFrom, memoryFiles, memorySink, readHeader, saveModelTo, tinyGPT2, tinyLlama } from '@kdgpu/models';
import { fileSource, loadModel, saveModel } from '@kdgpu/models/node';
import { assertClose, ids } from './helpers.ts';

const X = [[3, 1, 4, 1, 5, 9], [2, 6, 5, 3, 5, 8]];

async function logitsOf(model: CausalLM): Promise<Float32Array> {
  const x = ids(X);
  const y = noGrad(() => model.forward(x));
  const d = (await y.data()) as Float32Array;
  x.dispose();
  y.dispose();
  return d;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'kdgpu-models-'));
}

for (const [name, cfg] of [['llama', tinyLlama({ tie_word_embeddings: true })], ['gpt2', tinyGPT2()]] as const) {
  test(`${name}: saveModel -> loadModel gives the same logits (f32 exactly, f16 closely)`, async () => {
    await init();
    const dir = tempDir();
    const model = createModel(cfg, { seed: 11 });
    try {
      const want = await logitsOf(model);
      await saveModel(model, join(dir, 'f32'));
      assert.deepEqual(readdirSync(join(dir, 'f32')).sort(), ['config.json', 'model.safetensors']);
      const config = JSON.parse(readFileSync(join(dir, 'f32', 'config.json'), 'utf8'));
      assert.equal(config.model_type, name);
      assert.deepEqual(config.architectures, [name === 'llama' ? 'LlamaForCausalLM' : 'GPT2LMHeadModel']);
      assert.equal(config.extra, undefined);
      const src = await fileSource(join(dir, 'f32', 'model.safetensors'));
      const h = await readHeader(src);
      await src.close?.();
      assert.equal(h.metadata.format, 'pt', 'transformers requires metadata.format');
      // Tied weights are written once, as transformers does.
      assert.deepEqual([...h.tensors.keys()], [...model.parameters().keys()]);
      assert.ok(!h.tensors.has('lm_head.weight'));
      const back = await loadModel(join(dir, 'f32'));
      assert.deepEqual(back.config, model.config);
      assert.deepEqual(await logitsOf(back), want);
      back.dispose();

      await saveModel(model, join(dir, 'f16'), { dtype: 'F16' });
      const half = await loadModel(join(dir, 'f16'));
      assert.equal(half.config.torch_dtype, 'float16');
      assertClose(await logitsOf(half), want, 2e-3, 1e-2, 'f16 round trip');
      half.dispose();
    } finally {
      model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('sharded checkpoints (model.safetensors.index.json) save and load', async () => {
  await init();
  const dir = tempDir();
  const model = createModel(tinyLlama(), { seed: 5 });
  try {
    await saveModel(model, dir, { maxShardBytes: 40_000 });
    const files = readdirSync(dir).sort();
    assert.ok(files.includes('model.safetensors.index.json'));
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    assert.ok(shards.length >= 2, `shards: ${files.join(', ')}`);
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    assert.equal(Object.keys(index.weight_map).length, model.parameters().size);
    assert.equal(index.metadata.total_size, model.numParameters() * 4);
    const back = await loadModel(dir);
    assert.deepEqual(await logitsOf(back), await logitsOf(model));
    back.dispose();
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('in-memory checkpoints (browser path) round-trip', async () => {
  await init();
  const model = createModel(tinyGPT2(), { seed: 9 });
  try {
    const sink = memorySink();
    await saveModelTo(model, sink);
    assert.deepEqual([...sink.dir.keys()].sort(), ['config.json', 'model.safetensors']);
    const back = await loadModelFrom(memoryFiles(sink.dir));
    assert.deepEqual(await logitsOf(back), await logitsOf(model));
    back.dispose();
    await assert.rejects(loadModelFrom(memoryFiles(new Map())), /config.json not found/);
  } finally {
    model.dispose();
  }
});
