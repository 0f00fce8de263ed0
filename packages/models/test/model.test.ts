import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cat, init, memoryStats, noGrad, tidy } from '@kdgpu/tensor';
import { countParameters, createModel, tinyGPT2, tinyLlama, type CausalLM } from '@kdgpu/models';
import { loadModel } from '@kdgpu/models/node';
import { assertClose, causalLmLoss, fixture, ids } from './helpers.ts';

function stats(v: Float32Array): { mean: number; std: number } {
  let s = 0;
  for (const x of v) s += x;
  const mean = s / v.length;
  let q = 0;
  for (const x of v) q += (x - mean) ** 2;
  return { mean, std: Math.sqrt(q / v.length) };
}

for (const [name, make] of [['llama', () => createModel(tinyLlama(), { seed: 3 })], ['gpt2', () => createModel(tinyGPT2(), { seed: 3 })]] as const) {
  test(`${name}: chunked logits equal the full logits, hiddenStates + logits equal forward`, async () => {
    await init();
    const model: CausalLM = make();
    try {
      const x = ids([[1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14]]);
      const full = noGrad(() => model.forward(x));
      const chunks = noGrad(() => tidy(() => model.chunkedLogits(model.hiddenStates(x), 3)));
      assert.deepEqual(chunks.map((c) => c.shape[1]), [3, 2, 2]);
      const joined = tidy(() => cat(chunks, 1));
      assertClose(await joined.data(), await full.data(), 1e-6, 0, 'chunked');
      for (const t of [x, full, joined, ...chunks]) t.dispose();
    } finally {
      model.dispose();
    }
  });
}

test('parameter names, layouts and counts follow transformers', async () => {
  await init();
  const llama = createModel(tinyLlama({ pad_token_id: 0 }), { seed: 1 });
  const gpt2 = createModel(tinyGPT2(), { seed: 1 });
  try {
    const lp = llama.parameters();
    assert.deepEqual(lp.get('model.layers.1.self_attn.k_proj.weight')!.shape, [16, 32]); // [Hkv*D, C]
    assert.deepEqual(lp.get('model.layers.0.mlp.down_proj.weight')!.shape, [32, 64]); // [C, I]
    assert.ok(lp.has('lm_head.weight'));
    const gp = gpt2.parameters();
    assert.deepEqual(gp.get('transformer.h.0.attn.c_attn.weight')!.shape, [32, 96]); // Conv1D [in, out]
    assert.deepEqual(gp.get('transformer.h.1.mlp.c_proj.weight')!.shape, [128, 32]);
    assert.ok(!gp.has('lm_head.weight'), 'GPT-2 ties lm_head to wte');
    // tinyLlama: 64*32 embed + 2 * (2*32*32 q,o + 2*32*16 k,v + 3*32*64 mlp + 2*32 norms) + 32 + 64*32 lm_head
    //          = 2048 + 2 * (2048 + 1024 + 6144 + 64) + 32 + 2048 = 22688
    assert.equal(llama.numParameters(), 22688);
    assert.equal(countParameters(llama.config), 22688);
    // tinyGPT2: 64*32 wte + 64*32 wpe + 2 * (4*32 + 32*96+96 + 32*32+32 + 32*128+128 + 128*32+32) + 2*32
    //         = 2048 + 2048 + 2 * (128 + 3168 + 1056 + 4224 + 4128) + 64 = 29568
    assert.equal(gpt2.numParameters(), 29568);
    assert.equal(countParameters(gpt2.config), 29568);
  } finally {
    llama.dispose();
    gpt2.dispose();
  }
});

test('initialization follows transformers and is reproducible by seed', async () => {
  await init();
  const cfg = tinyGPT2({ n_embd: 64, n_layer: 4 });
  const a = createModel(cfg, { seed: 7 });
  const b = createModel(cfg, { seed: 7 });
  const c = createModel(cfg, { seed: 8 });
  const llama = createModel(tinyLlama({ pad_token_id: 3 }), { seed: 7 });
  try {
    const name = 'transformer.h.2.attn.c_attn.weight';
    const wa = (await a.parameters().get(name)!.data()) as Float32Array;
    assert.deepEqual(wa, await b.parameters().get(name)!.data());
    assert.notDeepEqual(wa, await c.parameters().get(name)!.data());
    const s = stats(wa);
    assert.ok(Math.abs(s.std - 0.02) < 0.002 && Math.abs(s.mean) < 0.002, `c_attn std ${s.std}`);
    // Residual projections: std 0.02 / sqrt(2 * n_layer).
    const proj = stats((await a.parameters().get('transformer.h.0.mlp.c_proj.weight')!.data()) as Float32Array);
    assert.ok(Math.abs(proj.std - 0.02 / Math.sqrt(8)) < 0.0008, `c_proj std ${proj.std}`);
    assert.deepEqual([...(await a.parameters().get('transformer.h.0.ln_1.weight')!.data())], new Array(64).fill(1));
    assert.deepEqual([...(await a.parameters().get('transformer.h.0.attn.c_attn.bias')!.data())], new Array(192).fill(0));
    // LLaMA: the padding row of the embedding starts at zero (nn.Embedding(padding_idx)).
    const emb = (await llama.parameters().get('model.embed_tokens.weight')!.data()) as Float32Array;
    assert.ok(emb.subarray(3 * 32, 4 * 32).every((v) => v === 0), 'padding row is zero');
    assert.ok(emb.subarray(2 * 32, 3 * 32).some((v) => v !== 0));
  } finally {
    for (const m of [a, b, c, llama]) m.dispose();
  }
});

test('LLaMA padding row gets no gradient (nn.Embedding padding_idx)', async () => {
  await init();
  const model = createModel(tinyLlama({ pad_token_id: 0 }), { seed: 2 });
  try {
    const x = ids([[0, 0, 5, 6, 7]]);
    const loss = tidy(() => causalLmLoss(model.forward(x), x));
    loss.backward();
    const g = (await model.parameters().get('model.embed_tokens.weight')!.grad!.data()) as Float32Array;
    assert.ok(g.subarray(0, 32).every((v) => v === 0), 'pad row gradient is zero');
    assert.ok(g.subarray(5 * 32, 6 * 32).some((v) => v !== 0), 'other rows get gradients');
    x.dispose();
    loss.dispose();
  } finally {
    model.dispose();
  }
});

test('dropout applies only with a seed, and a seed reproduces it', async () => {
  await init();
  const model = await loadModel(fixture('tiny-gpt2')); // dropout 0.1 everywhere
  try {
    const x = ids([[1, 2, 3, 4, 5, 6]]);
    const [e1, e2, d1, d2, d3] = noGrad(() => [model.forward(x), model.forward(x), model.forward(x, { dropoutSeed: 1 }), model.forward(x, { dropoutSeed: 1 }), model.forward(x, { dropoutSeed: 2 })]);
    assert.deepEqual(await e1.data(), await e2.data());
    assert.deepEqual(await d1.data(), await d2.data());
    assert.notDeepEqual(await d1.data(), await e1.data());
    assert.notDeepEqual(await d1.data(), await d3.data());
    for (const t of [x, e1, e2, d1, d2, d3]) t.dispose();
  } finally {
    model.dispose();
  }
});

test('forward rejects bad ids with a clear message', async () => {
  await init();
  const model = createModel(tinyLlama(), { init: 'zeros' });
  try {
    const f = tidy(() => ids([[1.0, 2.0]]).cast('f32'));
    assert.throws(() => model.forward(f), /ids must be i32 \[B, T\]/);
    f.dispose();
  } finally {
    model.dispose();
  }
});

for (const [name, make] of [['llama', () => createModel(tinyLlama(), { seed: 4 })], ['gpt2', () => createModel(tinyGPT2(), { seed: 4 })]] as const) {
  test(`${name}: a training step leaves only the gradients behind`, async () => {
    await init();
    const model: CausalLM = make();
    try {
      const x = ids([[1, 2, 3, 4], [5, 6, 7, 8]]);
      const step = () => {
        const loss = tidy(() => causalLmLoss(model.forward(x, { dropoutSeed: 1 }), x));
        loss.backward();
        loss.dispose();
      };
      step(); // builds the rotary table the model keeps
      for (const p of model.parameters().values()) p.zeroGrad();
      const live = memoryStats().liveTensors;
      step();
      assert.equal(memoryStats().liveTensors, live + model.parameters().size, 'one gradient per parameter, no activations');
      for (const p of model.parameters().values()) p.zeroGrad();
      assert.equal(memoryStats().liveTensors, live);
      x.dispose();
    } finally {
      model.dispose();
    }
  });
}
