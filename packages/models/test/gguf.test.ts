import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { init, noGrad, tensor } from '@kdgpu/tensor';
import {
  bytesSource,
  type CausalLM,
  createModel,
  decodeGgml,
  encodeGguf,
  encodeGgml,
  encodeModelGguf,
  f32ToF16Bits,
  gguf,
  type GgufValue,
  loadGgufFrom,
  permuteRotary,
  readGgufHeader,
  readGgufTensor,
  tinyGPT2,
  tinyLlama,
} from '@kdgpu/models';
import { ids } from './helpers.ts';

const REF = fileURLToPath(new URL('../../../test/fixtures/gguf/reference.gguf', import.meta.url));

/** The values of make_gguf_reference.py: ((i * 7919 + 13 k) mod 1000 - 500) / 97 as f32, first block zero for odd k. */
function values(n: number, k: number): Float32Array {
  const x = Float32Array.from({ length: n }, (_, i) => (((i * 7919 + 13 * k) % 1000) - 500) / 97);
  if (k % 2 === 1) x.fill(0, 0, 32);
  return x;
}

const REF_META: Array<[string, GgufValue]> = [
  ['general.architecture', gguf.str('llama')],
  ['t.u8', { type: 'u8', value: 200 }],
  ['t.i8', { type: 'i8', value: -100 }],
  ['t.u16', { type: 'u16', value: 60000 }],
  ['t.i16', { type: 'i16', value: -30000 }],
  ['t.u32', gguf.u32(4000000000)],
  ['t.i32', gguf.i32(-2000000000)],
  ['t.f32', gguf.f32(0.1)],
  ['t.bool', gguf.bool(true)],
  ['t.string', gguf.str('héllo ✓')],
  ['t.u64', { type: 'u64', value: 2n ** 63n + 5n }],
  ['t.i64', { type: 'i64', value: -(2n ** 62n) }],
  ['t.f64', { type: 'f64', value: 1e-300 }],
  ['t.strs', gguf.strs(['a', '', 'Ġb c'])],
  ['t.i32s', gguf.i32s([1, -2, 3])],
  ['t.f32s', gguf.f32s([0.5, -1.25])],
  ['t.bools', { type: 'array', itemType: 'bool', value: [true, false] }],
];
const REF_TENSORS = [
  { name: 'a.f32', shape: [3, 32], type: 'F32' as const, data: values(96, 0) },
  { name: 'b.f16', shape: [2, 64], type: 'F16' as const, data: values(128, 1) },
  { name: 'c.f32_1d', shape: [5], type: 'F32' as const, data: values(5, 2) },
  { name: 'd.q8_0', shape: [4, 64], type: 'Q8_0' as const, data: values(256, 3) },
];

test('gguf: the writer reproduces gguf-py\'s file byte for byte (metadata of every type, F32, F16, Q8_0)', () => {
  const ref = readFileSync(REF);
  const mine = encodeGguf(REF_META, REF_TENSORS);
  assert.equal(mine.byteLength, ref.byteLength);
  const first = mine.findIndex((b, i) => b !== ref[i]);
  assert.equal(first, -1, `first differing byte at ${first}`);
});

test('gguf: the reader reads gguf-py\'s file: every metadata value and tensor', async () => {
  const src = bytesSource(readFileSync(REF), 'reference.gguf');
  const h = await readGgufHeader(src);
  assert.equal(h.version, 3);
  assert.deepEqual([...h.metadata.keys()], REF_META.map(([k]) => k));
  for (const [k, v] of REF_META) {
    const got = h.metadata.get(k)!;
    if (v.type === 'f32') assert.equal(got.value, Math.fround(v.value));
    else if (v.type === 'array' && v.itemType === 'f32') assert.deepEqual(got.value, v.value.map((x) => Math.fround(x as number)));
    else assert.deepEqual(got, v, k);
  }
  for (const t of REF_TENSORS) {
    const info = h.tensors.get(t.name)!;
    assert.deepEqual(info.shape, t.shape);
    assert.equal(info.type, t.type);
    const got = await readGgufTensor(src, info);
    // Q8_0 and F16 are lossy: compare with the value after that rounding.
    const want = decodeGgml(encodeGgml(t.data, t.type), t.type);
    assert.deepEqual([...got], [...want], t.name);
  }
});

test('gguf: Q8_0 follows ggml (d = amax/127 as f16, roundf half away from zero, zero blocks)', () => {
  const x = new Float32Array(64);
  for (let i = 0; i < 32; i++) x[i] = (i - 16) / 2; // amax 8 at i = 0: d = 8/127
  const q = encodeGgml(x, 'Q8_0');
  const dv = new DataView(q.buffer);
  assert.equal(dv.getUint16(0, true), f32ToF16Bits(Math.fround(8 / 127)));
  const id = Math.fround(1 / Math.fround(8 / 127));
  for (let i = 0; i < 32; i++) {
    const v = Math.fround(x[i]! * id);
    assert.equal(dv.getInt8(2 + i), Math.sign(v) * Math.floor(Math.abs(v) + 0.5), `q[${i}]`);
  }
  assert.equal(dv.getUint16(34, true), 0, 'zero block: d = 0');
  assert.ok(q.subarray(36).every((b) => b === 0), 'zero block: q = 0');
  const back = decodeGgml(q, 'Q8_0');
  for (let i = 0; i < 32; i++) assert.ok(Math.abs(back[i]! - x[i]!) <= 8 / 127 / 2 + 1e-3, `dequantised ${i}`);
});

test('gguf: permuteRotary is convert_hf_to_gguf.py\'s permute (rows [H, 2, D/2] -> [H, D/2, 2]) and its inverse undoes it', () => {
  const H = 2;
  const D = 6;
  const C = 1;
  const w = Float32Array.from({ length: H * D * C }, (_, i) => i);
  // numpy: w.reshape(2, 2, 3).swapaxes(1, 2).reshape(12)
  assert.deepEqual([...permuteRotary(w, H, C)], [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11]);
  const w2 = Float32Array.from({ length: 4 * 8 * 3 }, (_, i) => Math.sin(i));
  assert.deepEqual([...permuteRotary(permuteRotary(w2, 4, 3), 4, 3, true)], [...w2]);
});

/** A GGUF whose header is built by hand, for the malformed cases. */
function rawFile(parts: Array<['u32' | 'u64' | 'u8', number | bigint] | ['str', string] | ['bytes', Uint8Array]>): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const [t, v] of parts) {
    if (t === 'str') {
      const b = new TextEncoder().encode(v);
      const n = new Uint8Array(8);
      new DataView(n.buffer).setBigUint64(0, BigInt(b.byteLength), true);
      chunks.push(n, b);
    } else if (t === 'bytes') chunks.push(v);
    else {
      const b = new Uint8Array(t === 'u64' ? 8 : t === 'u32' ? 4 : 1);
      const dv = new DataView(b.buffer);
      if (t === 'u64') dv.setBigUint64(0, BigInt(v), true);
      else if (t === 'u32') dv.setUint32(0, Number(v), true);
      else dv.setUint8(0, Number(v));
      chunks.push(b);
    }
  }
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.byteLength, 0) + 64);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

const HEAD = (nT: number, nKv: number) => [['u32', 0x46554747], ['u32', 3], ['u64', nT], ['u64', nKv]] as Array<['u32' | 'u64', number]>;
const TENSOR = (name: string, dims: number[], type: number, offset: number) =>
  [['str', name], ['u32', dims.length], ...dims.map((d) => ['u64', d] as ['u64', number]), ['u32', type], ['u64', offset]] as Array<['u32' | 'u64', number] | ['str', string]>;

const BAD: Array<[string, Uint8Array, RegExp]> = [
  ['magic', rawFile([['u32', 0x46554746], ['u32', 3], ['u64', 0], ['u64', 0]]), /does not start with the GGUF magic/],
  ['version', rawFile([['u32', 0x46554747], ['u32', 1], ['u64', 0], ['u64', 0]]), /version 1 is not supported/],
  ['big-endian', rawFile([['u32', 0x46554747], ['u32', 0x03000000], ['u64', 0], ['u64', 0]]), /big-endian/],
  ['huge tensor count', rawFile([...HEAD(0, 0).slice(0, 2), ['u64', 2 ** 40], ['u64', 0]]), /tensor_count 1099511627776 is over the limit/],
  ['counts past the file', rawFile(HEAD(1000, 1000)), /need more bytes than the file holds/],
  ['key length past the file', rawFile([...HEAD(0, 1), ['u64', 2 ** 30]]), /metadata key 0 is 1073741824 bytes long|metadata key 0 needs 1073741824 bytes/],
  ['u64 over 2^53', rawFile([...HEAD(0, 1), ['u64', 2n ** 60n]]), /metadata key 0 length is 1152921504606846976, too large/],
  ['unknown value type', rawFile([...HEAD(0, 1), ['str', 'k'], ['u32', 13]]), /metadata "k" has unknown value type 13/],
  ['array count past the file', rawFile([...HEAD(0, 1), ['str', 'k'], ['u32', 9], ['u32', 5], ['u64', 2 ** 40]]), /metadata "k" claims 1099511627776 items of type i32/],
  ['nested array', rawFile([...HEAD(0, 1), ['str', 'k'], ['u32', 9], ['u32', 9], ['u64', 1]]), /array of arrays/],
  ['bool 2', rawFile([...HEAD(0, 1), ['str', 'k'], ['u32', 7], ['u8', 2]]), /metadata "k" is a bool stored as 2/],
  ['invalid UTF-8', rawFile([...HEAD(0, 1), ['u64', 2], ['bytes', new Uint8Array([0xff, 0xfe])], ['u32', 4], ['u32', 1]]), /metadata key 0 is not valid UTF-8/],
  ['duplicate key', rawFile([...HEAD(0, 2), ['str', 'k'], ['u32', 4], ['u32', 1], ['str', 'k'], ['u32', 4], ['u32', 1]]), /metadata key "k" appears twice/],
  ['alignment not a power of two', rawFile([...HEAD(0, 1), ['str', 'general.alignment'], ['u32', 4], ['u32', 24]]), /general.alignment must be a u32 power of two/],
  ['five dims', rawFile([...HEAD(1, 0), ...TENSOR('w', [1, 1, 1, 1, 1], 0, 0)]), /tensor "w" has 5 dims/],
  ['Q4_K', rawFile([...HEAD(1, 0), ...TENSOR('w', [256], 12, 0)]), /tensor "w" has ggml type Q4_K \(12\), which kdgpu does not read/],
  ['unknown ggml type', rawFile([...HEAD(1, 0), ...TENSOR('w', [4], 99, 0)]), /unknown ggml type 99/],
  ['Q8_0 row not a multiple of 32', rawFile([...HEAD(1, 0), ...TENSOR('w', [16], 8, 0)]), /dims\[0\] = 16 is not a multiple of Q8_0's block size 32/],
  ['unaligned offset', rawFile([...HEAD(1, 0), ...TENSOR('w', [4], 0, 4)]), /offset 4 is not a multiple of the alignment 32/],
  ['tensor past the end', rawFile([...HEAD(1, 0), ...TENSOR('w', [1000], 0, 0)]), /needs 4000 bytes at data offset 0, past the end of the data section/],
  ['overlap', rawFile([...HEAD(2, 0), ...TENSOR('a', [4], 0, 0), ...TENSOR('b', [4], 0, 0)]), /tensors "a" and "b" overlap/],
  ['duplicate tensor', rawFile([...HEAD(2, 0), ...TENSOR('a', [4], 0, 0), ...TENSOR('a', [4], 0, 32)]), /tensor "a" appears twice/],
  ['long name', rawFile([...HEAD(1, 0), ...TENSOR('x'.repeat(64), [4], 0, 0)]), /name is longer than ggml's 63 bytes/],
  ['dims overflow', rawFile([...HEAD(1, 0), ...TENSOR('w', [2 ** 30, 2 ** 30, 2 ** 30], 0, 0)]), /hold too many elements/],
  ['truncated', new Uint8Array(12), /too short for a GGUF header/],
];

for (const [what, bytes, re] of BAD) {
  test(`gguf: a file with a bad ${what} is refused naming the file and field`, async () => {
    await assert.rejects(readGgufHeader(bytesSource(bytes, 'bad.gguf')), (e: Error) => {
      assert.ok(e.message.startsWith('gguf bad.gguf: '), e.message);
      assert.match(e.message, re);
      return true;
    });
  });
}

test('gguf: a valid hand-built header with the same fields is accepted (the malformed cases are not refused for another reason)', async () => {
  const ok = rawFile([...HEAD(2, 2), ['str', 'k'], ['u32', 4], ['u32', 1], ['str', 'general.alignment'], ['u32', 4], ['u32', 32], ...TENSOR('a', [4], 0, 0), ...TENSOR('b', [32], 8, 32)]);
  // Header is 8+8+8+8... long; make the file long enough for both tensors after the aligned data start.
  const h0 = await readGgufHeader(bytesSource(new Uint8Array([...ok, ...new Uint8Array(128)]), 'ok.gguf'));
  assert.deepEqual([...h0.tensors.keys()], ['a', 'b']);
  assert.equal(h0.tensors.get('b')!.end - h0.tensors.get('b')!.begin, 34);
});

const X = [[3, 1, 4, 1, 5, 9, 2, 6]];

async function logits(model: CausalLM): Promise<Float32Array> {
  const x = ids(X);
  const y = noGrad(() => model.forward(x));
  const d = (await y.data()) as Float32Array;
  x.dispose();
  y.dispose();
  return d;
}

/** The model with every parameter replaced by itself after a round trip through `type`. */
async function rounded(model: CausalLM, type: 'F16' | 'Q8_0'): Promise<void> {
  for (const [, p] of model.parameters()) {
    const d = (await p.data()) as Float32Array;
    // As the export: 1-D tensors stay F32; Q8_0 rows of 32 (here every 2-D tensor), in GGUF layout, which for Q8_0 blocks along rows is the same blocks after the permutation.
    if (p.shape.length < 2) continue;
    const t = tensor(decodeGgml(encodeGgml(d, type), type), { shape: p.shape });
    p.assign(t);
    t.dispose();
  }
}

const CONFIGS = [
  ['llama (GQA, untied)', tinyLlama({ num_key_value_heads: 2 })],
  ['llama (tied)', tinyLlama({ tie_word_embeddings: true, num_key_value_heads: 4 })],
  ['gpt2 (tied)', tinyGPT2()],
  ['gpt2 (untied)', tinyGPT2({ tie_word_embeddings: false })],
] as const;

for (const [name, cfg] of CONFIGS) {
  test(`gguf: ${name} exported and imported gives equal logits (f32 exactly; f16 equal to f16-rounded weights)`, async () => {
    await init();
    const model = createModel(cfg, { seed: 5 });
    const want = await logits(model);
    const f32 = await loadGgufFrom(bytesSource(await encodeModelGguf(model, { type: 'f32' }), 'm.gguf'));
    assert.deepEqual(f32.model.config.model_type, cfg.model_type);
    assert.deepEqual([...(await logits(f32.model))], [...want]);
    assert.deepEqual([...f32.model.parameters().keys()].sort(), [...model.parameters().keys()].sort());
    f32.model.dispose();
    const f16 = await loadGgufFrom(bytesSource(await encodeModelGguf(model, { type: 'f16' }), 'm.gguf'));
    await rounded(model, 'F16');
    const want16 = await logits(model);
    const got16 = await logits(f16.model);
    let worst = 0;
    for (let i = 0; i < want16.length; i++) worst = Math.max(worst, Math.abs(got16[i]! - want16[i]!));
    assert.ok(worst < 1e-5, `f16: max |diff| ${worst}`);
    f16.model.dispose();
    model.dispose();
  });
}

test('gguf: q8_0 export quantises 2-D tensors and keeps 1-D ones F32; import equals the dequantised weights', async () => {
  await init();
  const model = createModel(tinyLlama(), { seed: 6 });
  const bytes = await encodeModelGguf(model, { type: 'q8_0' });
  const h = await readGgufHeader(bytesSource(bytes, 'q.gguf'));
  assert.equal(h.tensors.get('blk.0.attn_q.weight')!.type, 'Q8_0');
  assert.equal(h.tensors.get('blk.0.attn_norm.weight')!.type, 'F32');
  assert.equal(h.metadata.get('general.file_type')!.value, 7);
  const back = await loadGgufFrom(bytesSource(bytes, 'q.gguf'));
  await rounded(model, 'Q8_0');
  const want = await logits(model);
  const got = await logits(back.model);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  assert.ok(worst < 1e-5, `q8_0: max |diff| ${worst}`);
  back.model.dispose();
  model.dispose();
});

test('gguf: llama metadata has llama.cpp\'s keys and the Q/K rows are permuted', async () => {
  await init();
  const cfg = tinyLlama({ rope_theta: 5e5, rms_norm_eps: 1e-5 });
  const model = createModel(cfg, { seed: 2 });
  const src = bytesSource(await encodeModelGguf(model, { type: 'f32', name: 'tiny' }), 'm.gguf');
  const h = await readGgufHeader(src);
  const m = (k: string) => h.metadata.get(k)?.value;
  assert.equal(m('general.architecture'), 'llama');
  assert.equal(m('general.name'), 'tiny');
  assert.equal(m('llama.block_count'), cfg.num_hidden_layers);
  assert.equal(m('llama.context_length'), cfg.max_position_embeddings);
  assert.equal(m('llama.embedding_length'), cfg.hidden_size);
  assert.equal(m('llama.feed_forward_length'), cfg.intermediate_size);
  assert.equal(m('llama.attention.head_count'), cfg.num_attention_heads);
  assert.equal(m('llama.attention.head_count_kv'), cfg.num_key_value_heads);
  assert.equal(m('llama.rope.freq_base'), 5e5);
  assert.equal(m('llama.attention.layer_norm_rms_epsilon'), Math.fround(1e-5));
  assert.equal(m('llama.rope.dimension_count'), cfg.head_dim);
  const q = (await model.parameters().get('model.layers.1.self_attn.k_proj.weight')!.data()) as Float32Array;
  const info = h.tensors.get('blk.1.attn_k.weight')!;
  assert.deepEqual(info.dims, [cfg.hidden_size, cfg.num_key_value_heads * cfg.head_dim]);
  assert.deepEqual([...(await readGgufTensor(src, info))], [...permuteRotary(q, cfg.num_key_value_heads, cfg.hidden_size)]);
  model.dispose();
});

test('gguf: import refuses files whose tensors or metadata do not fit kdgpu\'s models, by name', async () => {
  await init();
  const model = createModel(tinyLlama(), { seed: 1 });
  const good = await encodeModelGguf(model, { type: 'f32' });
  model.dispose();
  const h = await readGgufHeader(bytesSource(good, 'g.gguf'));
  const meta = [...h.metadata] as Array<[string, GgufValue]>;
  const tensors = await Promise.all([...h.tensors.values()].map(async (t) => ({ name: t.name, shape: t.shape, type: 'F32' as const, data: await readGgufTensor(bytesSource(good, 'g.gguf'), t) })));
  const cases: Array<[string, Array<[string, GgufValue]>, typeof tensors, RegExp]> = [
    ['architecture', meta.map(([k, v]) => [k, k === 'general.architecture' ? gguf.str('qwen2') : v]), tensors, /general.architecture "qwen2" is not supported/],
    ['rope scaling', [...meta, ['llama.rope.scaling.factor', gguf.f32(8)]], tensors, /llama.rope.scaling.factor: rope scaling is not supported/],
    ['missing tensor', meta, tensors.filter((t) => t.name !== 'blk.1.ffn_up.weight'), /missing blk.1.ffn_up.weight/],
    ['extra tensor', meta, [...tensors, { name: 'blk.1.attn_q.bias', shape: [32], type: 'F32', data: new Float32Array(32) }], /unexpected tensor\(s\) blk.1.attn_q.bias/],
    ['wrong shape', meta.map(([k, v]) => [k, k === 'llama.feed_forward_length' ? gguf.u32(96) : v]), tensors, /blk.0.ffn_gate.weight is \[64,32\], the config needs \[96,32\]/],
    ['bad head count', meta.map(([k, v]) => [k, k === 'llama.attention.head_count_kv' ? gguf.u32(3) : v]), tensors, /num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/],
  ];
  for (const [what, m, t, re] of cases) {
    await assert.rejects(loadGgufFrom(bytesSource(encodeGguf(m, t), 'bad.gguf')), (e: Error) => {
      assert.match(e.message, /^gguf bad.gguf: /, what);
      assert.match(e.message, re, what);
      return true;
    });
  }
});

test('gguf: BF16 and F16 tensors decode to f32 (BF16: the upper 16 bits of an f32)', () => {
  const want = [1, -2, 0.5, 3.140625, -0, 65280]; // exact in both BF16 and F16
  const f32 = new Float32Array(want);
  const u32 = new Uint32Array(f32.buffer);
  const bf16 = new Uint8Array(want.length * 2);
  const dv = new DataView(bf16.buffer);
  u32.forEach((u, i) => dv.setUint16(2 * i, u >>> 16, true));
  assert.deepEqual([...decodeGgml(bf16, 'BF16')], want);
  assert.deepEqual([...decodeGgml(encodeGgml(f32, 'F16'), 'F16')], want);
  assert.throws(() => decodeGgml(new Uint8Array(33), 'Q8_0'), /33 bytes is not a whole number of Q8_0 blocks/);
});
