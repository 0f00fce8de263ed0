/**
 * Fuzzing the GGUF reader: mutated bytes (hot spots on the counts, lengths, dims, types and
 * offsets of the header) must be read consistently or rejected with a GgufError naming the file,
 * never crash, hang, or allocate what a header claims before checking it against the file size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesSource, encodeGguf, gguf, GGML_TYPES, GgufError, readGgufHeader, readGgufTensor } from '@kdgpu/models';
import { assertCoverage, fuzz, mutateBytes, PATH_NAMES, PROTO_KEYS, type Rng, summary } from './fuzz.ts';

const NAME = 'fuzz.gguf';

/** A valid file: a few metadata values of several types and 1-3 small tensors. */
function validFile(r: Rng): Uint8Array {
  const meta: Array<[string, ReturnType<typeof gguf.u32>]> = [
    ['general.architecture', gguf.str('llama')],
    ['llama.block_count', gguf.u32(r.int(100))],
    ['tokenizer.ggml.tokens', gguf.strs(Array.from({ length: r.int(6) }, (_, i) => (r.chance(0.3) ? r.pick([...PATH_NAMES, ...PROTO_KEYS]) : `t${i}`)))],
    ['tokenizer.ggml.token_type', gguf.i32s(Array.from({ length: r.int(6) }, () => r.int(7)))],
    ['x.f32', gguf.f32(r.next())],
    ['x.bool', gguf.bool(r.chance(0.5))],
  ];
  const tensors = Array.from({ length: 1 + r.int(3) }, (_, i) => {
    const type = r.pick(['F32', 'F16', 'Q8_0'] as const);
    const shape = [1 + r.int(3), type === 'Q8_0' ? 32 : 1 + r.int(8)];
    return { name: r.chance(0.2) ? r.pick([...PROTO_KEYS]) + i : `blk.${i}.w`, shape, type, data: Float32Array.from({ length: shape[0]! * shape[1]! }, () => r.next() - 0.5) };
  });
  return encodeGguf(meta, tensors);
}

/** Offsets of the header's numbers: the fixed fields, and every 8-byte-aligned spot of the first 512 bytes. */
function hotSpots(b: Uint8Array): number[] {
  const hot = [4, 8, 16];
  for (let i = 24; i < Math.min(b.length, 512); i += 4) hot.push(i);
  return hot;
}

async function read(bytes: Uint8Array): Promise<void> {
  const src = bytesSource(bytes, NAME);
  const h = await readGgufHeader(src);
  for (const t of h.tensors.values()) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    const k = GGML_TYPES[t.type];
    assert.equal(t.end - t.begin, (n / k.block) * k.bytes);
    assert.ok(t.begin >= h.dataStart && t.end <= bytes.byteLength && (t.begin - h.dataStart) % h.alignment === 0);
    assert.equal((await readGgufTensor(src, t)).length, n);
  }
}

test('gguf: mutated files are read consistently or rejected naming the file', async () => {
  const rep = await fuzz('gguf', {
    input: (r) => {
      const f = validFile(r);
      return r.chance(0.1) ? f : mutateBytes(f, r, hotSpots(f));
    },
    run: read,
    expected: (e) => e instanceof GgufError && e.message.startsWith(`gguf ${NAME}: `),
  });
  console.log(summary('gguf', rep));
  assertCoverage(rep);
});

test('gguf: huge claimed counts and lengths fail before allocating or reading them', async () => {
  const file = validFile((await import('./fuzz.ts')).rng(3));
  for (const [at, what] of [[8, /tensor_count/], [16, /metadata_kv_count|need more bytes/], [24, /metadata key 0/]] as const) {
    for (const v of [2n ** 53n - 1n, 2n ** 40n, 2n ** 32n]) {
      const b = file.slice();
      new DataView(b.buffer).setBigUint64(at, v, true);
      let asked = 0;
      const src = { ...bytesSource(b, NAME), read: (off: number, len: number) => ((asked = Math.max(asked, len)), bytesSource(b, NAME).read(off, len)) };
      await assert.rejects(readGgufHeader(src), (e: Error) => e instanceof GgufError && what.test(e.message));
      assert.ok(asked <= b.byteLength, `read ${asked} bytes of a ${b.byteLength}-byte file`);
    }
  }
});
