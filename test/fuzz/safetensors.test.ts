/**
 * Fuzzing the safetensors reader (header and body): mutated bytes and mutated header JSON must be
 * read or rejected with an error naming the file, never crash, hang, or allocate what a header
 * claims before checking it against the file size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesSource, DTYPE_BYTES, encodeSafetensors, readHeader, readTensor } from '@kdgpu/models';
import { assertCoverage, fuzz, mutateBytes, mutateJson, PATH_NAMES, PROTO_KEYS, type Rng, summary } from './fuzz.ts';

const NAME = 'fuzz.safetensors';

/** A valid file of 1-4 small tensors, some with hostile names. */
function validFile(r: Rng): Uint8Array {
  const tensors = Array.from({ length: 1 + r.int(4) }, (_, i) => {
    const shape = Array.from({ length: r.int(4) }, () => r.int(5));
    const n = shape.reduce((a, b) => a * b, 1);
    const name = r.chance(0.2) ? r.pick([...PATH_NAMES, ...PROTO_KEYS]) + i : `model.layers.${i}.weight`;
    return { name, shape, data: Float32Array.from({ length: n }, () => r.next() - 0.5) };
  });
  return encodeSafetensors(tensors, r.chance(0.5) ? 'F32' : 'F16', { format: 'pt', step: String(r.int(100)) });
}

function headerLength(b: Uint8Array): number {
  const dv = new DataView(b.buffer, b.byteOffset, 8);
  return dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
}

/** The file with its header JSON mutated and re-encoded (length prefix kept consistent, or not). */
function withMutatedHeader(file: Uint8Array, r: Rng): Uint8Array {
  const n = headerLength(file);
  const json = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n)));
  const text = new TextEncoder().encode(JSON.stringify(mutateJson(json, r)) ?? 'null');
  const out = new Uint8Array(8 + text.byteLength + file.byteLength - 8 - n);
  const dv = new DataView(out.buffer);
  const claimed = r.chance(0.9) ? text.byteLength : r.pick([text.byteLength + 1, text.byteLength - 1, 2 ** 32 + text.byteLength]);
  dv.setUint32(0, claimed >>> 0, true);
  dv.setUint32(4, Math.floor(claimed / 2 ** 32), true);
  out.set(text, 8);
  out.set(file.subarray(8 + n), 8 + text.byteLength);
  return out;
}

function input(r: Rng): Uint8Array {
  const file = validFile(r);
  switch (r.int(4)) {
    case 0:
      return file;
    case 1:
      return withMutatedHeader(file, r);
    default: {
      const n = headerLength(file);
      // Hot spots: the length prefix, and the digits of shapes and offsets in the header.
      const hot = [0, 4, ...[...new TextDecoder().decode(file.subarray(8, 8 + n)).matchAll(/\d+/g)].map((m) => 8 + m.index!)];
      return mutateBytes(file, r, hot);
    }
  }
}

async function read(bytes: Uint8Array): Promise<void> {
  const src = bytesSource(bytes, NAME);
  const h = await readHeader(src);
  for (const t of h.tensors.values()) {
    // What the reader accepted must be consistent with the file.
    const n = t.shape.reduce((a, b) => a * b, 1);
    assert.equal(t.end - t.begin, n * DTYPE_BYTES[t.dtype]);
    assert.ok(t.begin >= h.dataStart && t.end <= bytes.byteLength);
    if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') assert.equal((await readTensor(src, t)).length, n);
    else await assert.rejects(readTensor(src, t), /cannot be loaded as model weights/);
  }
  for (const v of Object.values(h.metadata)) assert.equal(typeof v, 'string');
}

test('safetensors: mutated files are read consistently or rejected naming the file', async () => {
  const rep = await fuzz('safetensors', {
    input,
    run: read,
    expected: (e) => e.message.startsWith(`safetensors ${NAME}: `) && !(e instanceof assert.AssertionError),
  });
  console.log(summary('safetensors', rep));
  assertCoverage(rep);
});

test('safetensors: a header claiming more bytes than the file holds fails before reading them', async () => {
  const file = validFile((await import('./fuzz.ts')).rng(7));
  for (const claimed of [2 ** 53 - 1, 2 ** 40, 99_999_999, file.byteLength]) {
    const b = file.slice();
    const dv = new DataView(b.buffer);
    dv.setUint32(0, claimed >>> 0, true);
    dv.setUint32(4, Math.floor(claimed / 2 ** 32), true);
    let asked = 0;
    const src = { ...bytesSource(b, NAME), read: (off: number, len: number) => ((asked = Math.max(asked, len)), bytesSource(b, NAME).read(off, len)) };
    await assert.rejects(readHeader(src), new RegExp(`safetensors ${NAME}: header length ${claimed} runs past the end of the file`));
    assert.ok(asked <= 8, `read ${asked} bytes`);
  }
});

test('safetensors: tensor names with path or prototype names are only names', async () => {
  const names = [...PATH_NAMES.filter((n) => n !== ''), ...PROTO_KEYS];
  const file = encodeSafetensors(names.map((name) => ({ name, shape: [1], data: new Float32Array([1]) })));
  const h = await readHeader(bytesSource(file, NAME));
  assert.deepEqual([...h.tensors.keys()].sort(), [...names].sort());
  // An unknown dtype spelled like an Object.prototype member is an unknown dtype.
  for (const dtype of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const header = new TextEncoder().encode(JSON.stringify({ w: { dtype, shape: [1], data_offsets: [0, 4] } }));
    const b = new Uint8Array(8 + header.byteLength + 4);
    new DataView(b.buffer).setUint32(0, header.byteLength, true);
    b.set(header, 8);
    await assert.rejects(readHeader(bytesSource(b, NAME)), new RegExp(`tensor "w" has unknown dtype "${dtype.replace(/_/g, '_')}"`));
  }
});
