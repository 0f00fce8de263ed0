import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init, noGrad, tidy } from '@kdgpu/tensor';
import { createModel, tinyGPT2, tinyLlama } from '@kdgpu/models';
import { assertClose, ids } from './helpers.ts';

// headWeight() is the LM head parameter itself (the embedding when tied), and logits = hidden @ Wᵀ,
// which is what a fused head + loss (@kdgpu/losses fusedHeadLoss) computes in row blocks.
for (const [name, config, head, embedding] of [
  ['llama untied', tinyLlama({ tie_word_embeddings: false }), 'lm_head.weight', 'model.embed_tokens.weight'],
  ['llama tied', tinyLlama({ tie_word_embeddings: true }), 'model.embed_tokens.weight', 'model.embed_tokens.weight'],
  ['gpt2 tied', tinyGPT2(), 'transformer.wte.weight', 'transformer.wte.weight'],
] as const) {
  test(`${name}: headWeight() is the ${head} parameter and logits = hidden @ headWeight()ᵀ`, async () => {
    await init();
    const model = createModel(config, { seed: 5 });
    try {
      const W = model.headWeight();
      assert.equal(W, model.parameters().get(head));
      assert.equal(W === model.parameters().get(embedding), head === embedding);
      assert.deepEqual(W.shape, [config.vocab_size, model.config.model_type === 'gpt2' ? (config as { n_embd: number }).n_embd : (config as { hidden_size: number }).hidden_size]);
      const x = ids([[1, 2, 3, 4]]);
      const [a, b] = noGrad(() =>
        tidy(() => {
          const h = model.hiddenStates(x);
          return [model.logits(h), h.matmul(W.transpose())];
        }),
      );
      assertClose(await a.data(), await b.data(), 1e-6, 0, 'logits');
      for (const t of [x, a, b]) t.dispose();
    } finally {
      model.dispose();
    }
  });
}
