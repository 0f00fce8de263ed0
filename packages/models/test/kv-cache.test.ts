import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cat, init, noGrad, type Tensor, tidy } from '@kdgpu/tensor';
import { loadModel } from '@kdgpu/models/node';
import { assertClose, fixture, ids } from './helpers.ts';

/**
 * Decoding with the KV cache gives the logits of the full forward: prefill 3 positions, then a
 * chunk of 2 (a multi-token step after cached positions, which needs the offset causal mask),
 * then one token per step. Fixture weights (not HF init) so logits are far from uniform.
 */
const SEQ = [[5, 17, 3, 60, 22, 9, 41, 30], [1, 2, 66, 0, 13, 13, 7, 50]];

for (const name of ['tiny-llama', 'tiny-gpt2']) {
  test(`${name}: KV-cache decoding equals the full forward`, async () => {
    await init();
    const model = await loadModel(fixture(name));
    const cache = model.createKVCache();
    try {
      const x = ids(SEQ);
      const full = noGrad(() => model.forward(x)); // [2, 8, V]
      const pieces: Tensor[] = [];
      for (const [a, b] of [[0, 3], [3, 5], [5, 6], [6, 7], [7, 8]]) {
        const step = ids(SEQ.map((r) => r.slice(a, b)));
        pieces.push(noGrad(() => model.forward(step, { kvCache: cache })));
        step.dispose();
        assert.equal(cache.length, b);
      }
      const inc = tidy(() => cat(pieces, 1));
      assertClose(await inc.data(), await full.data(), 2e-5, 1e-5, `${name} cached vs full logits`);
      for (const t of [x, full, inc, ...pieces]) t.dispose();
    } finally {
      cache.dispose();
      model.dispose();
    }
  });
}

test('positionOffset without a cache shifts positions (GPT-2 rejects positions past n_positions)', async () => {
  await init();
  const model = await loadModel(fixture('tiny-gpt2'));
  try {
    const x = ids([[1, 2, 3]]);
    assert.throws(() => noGrad(() => model.forward(x, { positionOffset: 62 })), /exceed n_positions \(64\)/);
    const a = noGrad(() => model.forward(x, { positionOffset: 4 }));
    const b = noGrad(() => model.forward(x));
    assert.notDeepEqual(await a.data(), await b.data());
    for (const t of [x, a, b]) t.dispose();
  } finally {
    model.dispose();
  }
});
