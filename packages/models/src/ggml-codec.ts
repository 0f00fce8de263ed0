/**
 * ggml's tensor data blocks, to and from f32: F32, F16, BF16 and Q8_0 are decoded; F32, F16 and
 * Q8_0 are encoded (Q8_0 rounds exactly as ggml's `quantize_row_q8_0_ref` and gguf-py's
 * `quants.Q8_0`). Pure byte work with no file format around it, so the reader and the writers
 * share it.
 */
import { f32ToF16Bits } from './safetensors.ts';
import { halfTable, LITTLE } from './half.ts';
import { GGML_TYPES, type GgmlType } from './gguf-format.ts';

/** Decodes `bytes` of ggml type `type` to f32 (Q8_0: d * q per block of 32, as ggml's dequantize_row_q8_0). */
export function decodeGgml(bytes: Uint8Array, type: GgmlType): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const t = GGML_TYPES[type];
  if (bytes.byteLength % t.bytes !== 0) throw new Error(`decodeGgml: ${bytes.byteLength} bytes is not a whole number of ${type} blocks (${t.bytes} bytes each)`);
  const out = new Float32Array((bytes.byteLength / t.bytes) * t.block);
  switch (type) {
    case 'F32':
      if (LITTLE) {
        // A copy into a fresh buffer (a Node Buffer's slice() would be a view into its pool).
        const c = new Uint8Array(bytes.byteLength);
        c.set(bytes);
        return new Float32Array(c.buffer);
      }
      for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    case 'F16': {
      const h = halfTable();
      for (let i = 0; i < out.length; i++) out[i] = h[dv.getUint16(2 * i, true)]!;
      return out;
    }
    case 'BF16': {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'Q8_0': {
      const h = halfTable();
      for (let b = 0, o = 0; o < bytes.byteLength; b++, o += 34) {
        const d = h[dv.getUint16(o, true)]!;
        for (let j = 0; j < 32; j++) out[b * 32 + j] = d * dv.getInt8(o + 2 + j);
      }
      return out;
    }
    default:
      return type satisfies never;
  }
}

/** ggml's roundf: halves away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/**
 * Encodes f32 values as ggml type `type`. Q8_0 follows ggml's quantize_row_q8_0_ref in f32
 * arithmetic: per block of 32, d = max|x| / 127, q = roundf(x * (1 / d)), d stored as f16.
 */
export function encodeGgml(data: Float32Array, type: 'F32' | 'F16' | 'Q8_0'): Uint8Array {
  const f = Math.fround;
  switch (type) {
    case 'F32': {
      if (LITTLE) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const out = new Uint8Array(data.length * 4);
      const dv = new DataView(out.buffer);
      for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i]!, true);
      return out;
    }
    case 'F16': {
      const out = new Uint8Array(data.length * 2);
      const dv = new DataView(out.buffer);
      for (let i = 0; i < data.length; i++) dv.setUint16(2 * i, f32ToF16Bits(data[i]!), true);
      return out;
    }
    case 'Q8_0': {
      if (data.length % 32 !== 0) throw new Error(`encodeGgml: Q8_0 needs a multiple of 32 values, got ${data.length}`);
      const out = new Uint8Array((data.length / 32) * 34);
      const dv = new DataView(out.buffer);
      for (let b = 0; b < data.length / 32; b++) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(data[b * 32 + j]!));
        const d = f(amax / 127);
        const id = d ? f(1 / d) : 0;
        dv.setUint16(b * 34, f32ToF16Bits(d), true);
        for (let j = 0; j < 32; j++) dv.setInt8(b * 34 + 2 + j, roundf(f(data[b * 32 + j]! * id)));
      }
      return out;
    }
    default:
      return type satisfies never;
  }
}

/** Bytes of a tensor of `shape` stored as `type`. */
export function ggmlBytes(shape: readonly number[], type: GgmlType): number {
  const t = GGML_TYPES[type];
  return (shape.reduce((a, b) => a * b, 1) / t.block) * t.bytes;
}
