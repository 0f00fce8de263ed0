import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init, tidy } from '@kdgpu/tensor';
import { countParameters, generate } from '@kdgpu/models';
import { loadModel } from '@kdgpu/models/node';
import { assertClose, causalLmLoss, fixture, ids, readJson } from './helpers.ts';

/**
 * Parity with the PyTorch reference in fixtures/make_fixtures.py (plain torch following
 * transformers' modeling code): logits, the causal-LM loss, gradients of a few parameters, and
 * greedy tokens. Tolerances: f32 on both sides, different summation orders; logits within
 * 5e-5 + 1e-5 relative (observed max 7e-6), loss within 1e-5 relative, gradients within
 * 5e-6 + 1e-4 relative (observed max 8e-7).
 */

interface Expected {
  ids: number[][];
  logits_shape: number[];
  logits: number[];
  loss: number;
  num_parameters: number;
  grads: Record<string, { shape: number[]; values: number[] }>;
  greedy: { prompt: number[][]; max_new_tokens: number; tokens: number[][] };
}

for (const name of ['tiny-llama', 'tiny-gpt2']) {
  test(`${name}: logits, loss and gradients match PyTorch`, async () => {
    await init();
    const exp = readJson<Expected>(`${name}/expected.json`);
    const model = await loadModel(fixture(name));
    try {
      assert.equal(model.numParameters(), exp.num_parameters);
      assert.equal(countParameters(model.config), exp.num_parameters);
      const x = ids(exp.ids);
      const { logits, loss } = tidy(() => {
        const logits = model.forward(x);
        return { logits, loss: causalLmLoss(logits, x) };
      });
      assert.deepEqual(logits.shape, exp.logits_shape);
      assertClose(await logits.data(), exp.logits, 5e-5, 1e-5, `${name} logits`);
      const l = await loss.item();
      assert.ok(Math.abs(l - exp.loss) <= 1e-5 * Math.abs(exp.loss), `${name} loss ${l} vs ${exp.loss}`);
      loss.backward();
      const params = model.parameters();
      for (const [pname, g] of Object.entries(exp.grads)) {
        const p = params.get(pname);
        assert.ok(p?.grad, `${name}: no gradient for ${pname}`);
        assert.deepEqual(p.grad.shape, g.shape, pname);
        assertClose(await p.grad.data(), g.values, 5e-6, 1e-4, `${name} grad ${pname}`);
      }
      for (const t of [x, logits, loss]) t.dispose();
    } finally {
      model.dispose();
    }
  });

  test(`${name}: greedy generation matches PyTorch, with and without the KV cache`, async () => {
    await init();
    const exp = readJson<Expected>(`${name}/expected.json`);
    const model = await loadModel(fixture(name));
    try {
      const opts = { maxNewTokens: exp.greedy.max_new_tokens, eosTokenId: null };
      const cached = await generate(model, exp.greedy.prompt, opts);
      assert.deepEqual(cached.tokens, exp.greedy.tokens);
      const uncached = await generate(model, exp.greedy.prompt, { ...opts, useCache: false });
      assert.deepEqual(uncached.tokens, exp.greedy.tokens);
    } finally {
      model.dispose();
    }
  });
}
