import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init, noGrad, tensor } from '@kdgpu/tensor';
import {
  bytesSource,
  createModel,
  decodeF32,
  encodeSafetensors,
  f32ToF16Bits,
  loadWeights,
  readHeader,
  readTensor,
  tinyGPT2,
  tinyLlama,
} from '@kdgpu/models';
import { fileSource } from '@kdgpu/models/node';
import { fixture, readJson } from './helpers.ts';

/** A safetensors file from a header object and a data section, written by hand. */
function rawFile(header: unknown, data: Uint8Array, lengthOverride?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setUint32(0, lengthOverride ?? json.byteLength, true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

const parse = (bytes: Uint8Array) => readHeader(bytesSource(bytes, 'bad.safetensors'));

test('reads F16, BF16 and F32 written by PyTorch, streaming from disk', async () => {
  const expected = readJson<Record<string, { shape: number[]; values: string[] }>>('dtypes.json');
  const src = await fileSource(fixture('dtypes.safetensors'));
  try {
    const h = await readHeader(src);
    assert.equal(h.metadata.format, 'pt');
    assert.deepEqual([...h.tensors.keys()].sort(), ['a_f16', 'b_bf16', 'c_f32']);
    for (const [name, e] of Object.entries(expected)) {
      const info = h.tensors.get(name)!;
      assert.deepEqual(info.shape, e.shape);
      const got = await readTensor(src, info);
      const want = e.values.map((s) => (s === 'inf' ? Infinity : s === '-inf' ? -Infinity : Number(s)));
      assert.equal(got.length, want.length);
      for (let i = 0; i < want.length; i++) assert.ok(Object.is(got[i], Math.fround(want[i])), `${name}[${i}]: ${got[i]} vs ${want[i]}`);
    }
  } finally {
    await src.close?.();
  }
});

test('f32 -> f16 rounds to nearest even, overflows to inf, and round-trips every half value', () => {
  const cases: Array<[number, number]> = [
    [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [6.103515625e-5, 0x0400],
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001], [0.1, 0x2e66], [-0, 0x8000], [Infinity, 0x7c00],
  ];
  for (const [v, bits] of cases) assert.equal(f32ToF16Bits(v), bits, `f16(${v})`);
  assert.equal(f32ToF16Bits(NaN) & 0x7e00, 0x7e00);
  const all = new Uint8Array(65536 * 2);
  const dv = new DataView(all.buffer);
  for (let h = 0; h < 65536; h++) dv.setUint16(2 * h, h, true);
  const f = decodeF32(all, 'F16');
  for (let h = 0; h < 65536; h++) {
    if (Number.isNaN(f[h])) continue;
    assert.equal(f32ToF16Bits(f[h]), h, `half 0x${h.toString(16)}`);
  }
});

test('writer pads the header to 8 bytes and reads back exactly', async () => {
  const data = Float32Array.from([1, -2.5, 3e-8, 1e20, 0.1, 7]);
  const bytes = encodeSafetensors([{ name: 'w', shape: [2, 3], data }, { name: 'e', shape: [0], data: new Float32Array(0) }], 'F32', { format: 'pt', note: 'x' });
  const n = new DataView(bytes.buffer).getUint32(0, true);
  assert.equal(n % 8, 0);
  const src = bytesSource(bytes);
  const h = await readHeader(src);
  assert.deepEqual(h.metadata, { format: 'pt', note: 'x' });
  assert.deepEqual(await readTensor(src, h.tensors.get('w')!), data);
  assert.equal((await readTensor(src, h.tensors.get('e')!)).length, 0);
  const half = await readHeader(bytesSource(encodeSafetensors([{ name: 'w', shape: [6], data }], 'F16')));
  assert.equal(half.tensors.get('w')!.dtype, 'F16');
});

test('rejects malformed files with errors that say what is wrong', async () => {
  const f32 = (n: number) => new Uint8Array(4 * n);
  await assert.rejects(parse(new Uint8Array(4)), /too short/);
  await assert.rejects(parse(rawFile({}, f32(2), 1000)), /header length 1000 runs past the end of the file/);
  await assert.rejects(parse(rawFile('not an object', f32(0))), /must be a JSON object/);
  const broken = rawFile({ a: 1 }, f32(0));
  broken[9] = 0x7b; // corrupt the JSON
  await assert.rejects(parse(broken), /not valid UTF-8 JSON/);
  await assert.rejects(parse(rawFile({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, f32(4))), /need 16 bytes, but data_offsets \[0,12\] span 12/);
  await assert.rejects(parse(rawFile({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32(3))), /out of range \(the data section has 12 bytes\)/);
  await assert.rejects(
    parse(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(3))),
    /tensors "a" and "b" overlap/,
  );
  await assert.rejects(parse(rawFile({ w: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, f32(1))), /unknown dtype "F33"/);
  await assert.rejects(parse(rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1))), /bad shape/);
  await assert.rejects(parse(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, f32(1))), /bad data_offsets/);
});

/** Every parameter of `model` as in-memory tensors, renamed / extended by `edit`. */
async function stateBytes(model: ReturnType<typeof createModel>, edit: (m: Map<string, { shape: number[]; data: Float32Array }>) => void): Promise<Uint8Array> {
  const m = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of model.parameters()) m.set(name, { shape: [...t.shape], data: (await t.data()) as Float32Array });
  edit(m);
  return encodeSafetensors([...m].map(([name, v]) => ({ name, ...v })));
}

test('loading checks names and shapes, listing what is missing or unexpected, and leaves the model untouched', async () => {
  await init();
  const src = createModel(tinyLlama(), { seed: 1 });
  const dst = createModel(tinyLlama(), { seed: 2 });
  try {
    const before = await dst.parameters().get('model.norm.weight')!.data();
    const bad = await stateBytes(src, (m) => {
      m.delete('model.layers.1.mlp.up_proj.weight');
      m.delete('lm_head.weight');
      m.set('model.layers.9.extra.weight', { shape: [1], data: new Float32Array(1) });
    });
    await assert.rejects(
      loadWeights(dst, [bytesSource(bad)]),
      /missing 2 tensor\(s\): model.layers.1.mlp.up_proj.weight, lm_head.weight; unexpected 1 tensor\(s\): model.layers.9.extra.weight/,
    );
    const wrongShape = await stateBytes(src, (m) => m.set('model.norm.weight', { shape: [16], data: new Float32Array(16) }));
    await assert.rejects(loadWeights(dst, [bytesSource(wrongShape)]), /model.norm.weight: checkpoint \[16\] vs model \[32\]/);
    const nan = await stateBytes(src, (m) => {
      const d = m.get('model.layers.0.self_attn.q_proj.weight')!.data;
      d[3] = NaN;
      d[4] = Infinity;
    });
    await assert.rejects(loadWeights(dst, [bytesSource(nan)], { checkFinite: true }), /non-finite values in 1 tensor\(s\): model.layers.0.self_attn.q_proj.weight \(1 NaN, 1 Inf\)/);
    assert.deepEqual(await dst.parameters().get('model.norm.weight')!.data(), before);
    const dup = await stateBytes(src, () => {});
    await assert.rejects(loadWeights(dst, [bytesSource(dup, 'a'), bytesSource(dup, 'b')]), /appears in both a and b/);
  } finally {
    src.dispose();
    dst.dispose();
  }
});

test('accepts original GPT-2 names (no "transformer." prefix), skips attention-mask and rotary buffers and a tied lm_head copy', async () => {
  await init();
  const src = createModel(tinyGPT2(), { seed: 1 });
  const dst = createModel(tinyGPT2(), { init: 'zeros' });
  const llama = createModel(tinyLlama({ tie_word_embeddings: true }), { seed: 1 });
  const llama2 = createModel(tinyLlama({ tie_word_embeddings: true }), { init: 'zeros' });
  try {
    const bytes = await stateBytes(src, (m) => {
      for (const [k, v] of [...m]) {
        m.delete(k);
        m.set(k.replace(/^transformer\./, ''), v);
      }
      m.set('h.0.attn.bias', { shape: [1, 1, 4, 4], data: new Float32Array(16) });
      m.set('h.0.attn.masked_bias', { shape: [1], data: new Float32Array(1) });
      m.set('lm_head.weight', m.get('wte.weight')!);
    });
    const report = await loadWeights(dst, [bytesSource(bytes)]);
    assert.deepEqual(report.ignored.sort(), ['h.0.attn.bias', 'h.0.attn.masked_bias', 'lm_head.weight']);
    const x = tensor([[1, 2, 3]], { dtype: 'i32' });
    const [a, b] = noGrad(() => [src.forward(x), dst.forward(x)]);
    assert.deepEqual(await a.data(), await b.data());
    const lb = await stateBytes(llama, (m) => m.set('model.layers.0.self_attn.rotary_emb.inv_freq', { shape: [4], data: new Float32Array(4) }));
    assert.deepEqual((await loadWeights(llama2, [bytesSource(lb)])).ignored, ['model.layers.0.self_attn.rotary_emb.inv_freq']);
    for (const t of [x, a, b]) t.dispose();
  } finally {
    for (const m of [src, dst, llama, llama2]) m.dispose();
  }
});

test('refuses weight dtypes it cannot convert, before changing any parameter', async () => {
  await init();
  const model = createModel(tinyLlama({ num_hidden_layers: 1 }), { init: 'zeros' });
  try {
    const ok = await stateBytes(model, () => {});
    const src = bytesSource(ok);
    const h = await readHeader(src);
    // Rewrite one tensor's dtype to I32 (same size) to check the error.
    const text = new TextDecoder().decode(ok.subarray(8, h.dataStart)).replace('"model.norm.weight":{"dtype":"F32"', '"model.norm.weight":{"dtype":"I32"');
    const patched = new Uint8Array(ok);
    patched.set(new TextEncoder().encode(text), 8);
    await assert.rejects(loadWeights(model, [bytesSource(patched)]), /dtype cannot be loaded as model weights \(supported: F32, F16, BF16\): model.norm.weight \(I32\)/);
  } finally {
    model.dispose();
  }
});
