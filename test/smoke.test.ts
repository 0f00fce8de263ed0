import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, tensor } from '@kdgpu/tensor';

test('a tensor round-trips through the GPU', async () => {
  await init();
  const t = tensor([[1, 2], [3, 4]]);
  assert.deepEqual(await t.add(1).toArray(), [[2, 3], [4, 5]]);
});
