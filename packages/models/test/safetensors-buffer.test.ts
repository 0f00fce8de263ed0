/**
 * Small files read into a Node Buffer: Buffer.slice() is a view into Node's shared 8 KiB pool, so
 * a decoder that took `.slice().buffer` from offset 0 read other bytes of the pool
 * (seen: [7.26e22, ...] instead of [1, 2, 3, 4]). Deno's Buffer does not pool, so the test also
 * builds the same situation by hand: a Buffer at a non-zero offset into a larger buffer whose
 * other bytes are garbage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { bytesSource, encodeSafetensors, readHeader, readTensor } from '../src/safetensors.ts';

async function decodeW(bytes: Uint8Array): Promise<number[]> {
  const src = bytesSource(bytes, 'small.safetensors');
  const header = await readHeader(src);
  const info = header.tensors.get('w');
  assert.ok(info, 'tensor w is listed in the header');
  return [...(await readTensor(src, info))];
}

const file = encodeSafetensors([{ name: 'w', shape: [4], data: Float32Array.of(1, 2, 3, 4) }]);

test('F32 tensors of a small safetensors file held in a pooled Node Buffer decode to their values', async () => {
  Buffer.from('something else first, so the file does not start the pool');
  assert.deepEqual(await decodeW(Buffer.from(file)), [1, 2, 3, 4]);
});

test('F32 tensors of a safetensors file in a Buffer at an offset into a larger buffer decode to their values', async () => {
  const offset = 24;
  const backing = new Uint8Array(offset + file.byteLength + 16).fill(0xa5);
  backing.set(file, offset);
  // A Buffer (whose slice() is a view, unlike Uint8Array's) over the middle of `backing`: what
  // Node's pool gives, made by hand so that Deno meets it too.
  const view = Buffer.from(backing.buffer, offset, file.byteLength);
  assert.ok(view.byteOffset > 0 && view.buffer.byteLength > view.byteLength);
  assert.deepEqual(await decodeW(view), [1, 2, 3, 4]);
});
