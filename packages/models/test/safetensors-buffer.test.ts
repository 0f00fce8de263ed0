/**
 * Small files read into a Node Buffer: Buffer.slice() is a view into Node's shared 8 KiB pool, so
 * a decoder that took `.slice().buffer` from offset 0 read other bytes of the pool
 * (seen: [7.26e22, ...] instead of [1, 2, 3, 4]).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { bytesSource, encodeSafetensors, readHeader, readTensor } from '../src/safetensors.ts';

test('F32 tensors of a small safetensors file held in a pooled Node Buffer decode to their values', async () => {
  Buffer.from('something else first, so the file does not start the pool');
  const bytes = Buffer.from(encodeSafetensors([{ name: 'w', shape: [4], data: Float32Array.of(1, 2, 3, 4) }]));
  assert.ok(bytes.byteOffset > 0, 'the Buffer sits inside the shared pool');
  const src = bytesSource(bytes, 'small.safetensors');
  const header = await readHeader(src);
  const info = header.tensors.get('w');
  assert.deepEqual([...(await readTensor(src, info!))], [1, 2, 3, 4]);
});
