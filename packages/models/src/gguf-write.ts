/**
 * The GGUF writer: the header bytes (metadata and tensor infos, validated as the reader would
 * refuse them), the alignment padding between tensors, a whole file in memory, and the `gguf`
 * shorthands for metadata values. The layout is gguf-py's GGUFWriter's, byte for byte. Output is
 * `Uint8Array`s, so it runs in a browser; streaming a model to a file is gguf-export.ts's.
 */
import { encodeGgml, ggmlBytes } from './ggml-codec.ts';
import { GGML_TYPES, GGUF_VALUE_TYPES, type GgufScalarType, type GgufValue, MAGIC, MAX_DIMS, MAX_NAME, SCALAR_BYTES, show } from './gguf-format.ts';

/** A tensor to write: name, row-major shape, ggml type. */
export interface GgufTensorEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: 'F32' | 'F16' | 'Q8_0';
}

/** Little-endian byte building for the header. */
class Builder {
  private parts: Uint8Array[] = [];
  size = 0;
  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.byteLength;
  }
  num(type: Exclude<GgufScalarType, 'string' | 'bool'>, v: number | bigint): void {
    const b = new Uint8Array(SCALAR_BYTES[type]);
    const dv = new DataView(b.buffer);
    switch (type) {
      case 'u8': dv.setUint8(0, Number(v)); break;
      case 'i8': dv.setInt8(0, Number(v)); break;
      case 'u16': dv.setUint16(0, Number(v), true); break;
      case 'i16': dv.setInt16(0, Number(v), true); break;
      case 'u32': dv.setUint32(0, Number(v), true); break;
      case 'i32': dv.setInt32(0, Number(v), true); break;
      case 'f32': dv.setFloat32(0, Number(v), true); break;
      case 'f64': dv.setFloat64(0, Number(v), true); break;
      case 'u64': dv.setBigUint64(0, BigInt(v), true); break;
      case 'i64': dv.setBigInt64(0, BigInt(v), true); break;
      default: void (type satisfies never);
    }
    this.push(b);
  }
  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.num('u64', BigInt(b.byteLength));
    this.push(b);
  }
  scalar(type: GgufScalarType, v: number | bigint | boolean | string): void {
    if (type === 'string') this.str(String(v));
    else if (type === 'bool') this.num('u8', v ? 1 : 0);
    else this.num(type, v as number | bigint);
  }
  pad(alignment: number): void {
    const n = (alignment - (this.size % alignment)) % alignment;
    if (n) this.push(new Uint8Array(n));
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.byteLength;
    }
    return out;
  }
}

function checkValue(key: string, v: GgufValue): void {
  const bad = (why: string) => new Error(`gguf: metadata ${show(key)}: ${why}`);
  const int = (x: unknown, lo: number, hi: number) => typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
  const ok = (type: GgufScalarType, x: unknown): boolean => {
    switch (type) {
      case 'u8': return int(x, 0, 255);
      case 'i8': return int(x, -128, 127);
      case 'u16': return int(x, 0, 65535);
      case 'i16': return int(x, -32768, 32767);
      case 'u32': return int(x, 0, 2 ** 32 - 1);
      case 'i32': return int(x, -(2 ** 31), 2 ** 31 - 1);
      case 'f32': case 'f64': return typeof x === 'number';
      case 'u64': return typeof x === 'bigint' && x >= 0n && x < 2n ** 64n;
      case 'i64': return typeof x === 'bigint' && x >= -(2n ** 63n) && x < 2n ** 63n;
      case 'bool': return typeof x === 'boolean';
      case 'string': return typeof x === 'string';
      default: return type satisfies never;
    }
  };
  if (v.type === 'array') {
    const i = v.value.findIndex((x) => !ok(v.itemType, x));
    if (i >= 0) throw bad(`item ${i} is not a ${v.itemType}`);
  } else if (!ok(v.type, v.value)) throw bad(`value ${String(v.value).slice(0, 40)} is not a ${v.type}`);
}

/**
 * The header bytes of a GGUF v3 file holding `metadata` (in order) and `tensors` (in order, each
 * at the next aligned offset), padded to the alignment; then each tensor's data follows, padded
 * to the alignment (`ggufPadding`). The layout is gguf-py's GGUFWriter's.
 */
export function encodeGgufHeader(metadata: ReadonlyArray<readonly [string, GgufValue]>, tensors: readonly GgufTensorEntry[], alignment = 32): { header: Uint8Array; fileSize: number } {
  const al = metadata.find(([k]) => k === 'general.alignment')?.[1];
  if (al && (al.type !== 'u32' || al.value !== alignment)) throw new Error(`gguf: general.alignment in the metadata (${String(al.value)}) differs from the alignment ${alignment}`);
  const b = new Builder();
  b.num('u32', MAGIC);
  b.num('u32', 3);
  b.num('u64', BigInt(tensors.length));
  b.num('u64', BigInt(metadata.length));
  const keys = new Set<string>();
  for (const [key, v] of metadata) {
    if (keys.has(key)) throw new Error(`gguf: metadata key ${show(key)} given twice`);
    keys.add(key);
    checkValue(key, v);
    b.str(key);
    b.num('u32', GGUF_VALUE_TYPES.indexOf(v.type));
    if (v.type === 'array') {
      b.num('u32', GGUF_VALUE_TYPES.indexOf(v.itemType));
      b.num('u64', BigInt(v.value.length));
      for (const x of v.value) b.scalar(v.itemType, x);
    } else b.scalar(v.type, v.value);
  }
  let offset = 0;
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`gguf: tensor ${show(t.name)} given twice`);
    names.add(t.name);
    if (new TextEncoder().encode(t.name).byteLength > MAX_NAME) throw new Error(`gguf: tensor name ${show(t.name)} is longer than ggml's ${MAX_NAME} bytes`);
    if (t.shape.length < 1 || t.shape.length > MAX_DIMS) throw new Error(`gguf: tensor ${show(t.name)} has ${t.shape.length} dims (1 to ${MAX_DIMS})`);
    const inner = t.shape[t.shape.length - 1]!;
    if (inner % GGML_TYPES[t.type].block !== 0) throw new Error(`gguf: tensor ${show(t.name)}: last dim ${inner} is not a multiple of ${t.type}'s block size ${GGML_TYPES[t.type].block}`);
    b.str(t.name);
    b.num('u32', t.shape.length);
    for (const d of [...t.shape].reverse()) b.num('u64', BigInt(d));
    b.num('u32', GGML_TYPES[t.type].id);
    b.num('u64', BigInt(offset));
    offset += ggufPadded(ggmlBytes(t.shape, t.type), alignment);
  }
  b.pad(alignment);
  const header = b.bytes();
  return { header, fileSize: header.byteLength + offset };
}

/** `n` rounded up to a multiple of `alignment`. */
export function ggufPadded(n: number, alignment = 32): number {
  return Math.ceil(n / alignment) * alignment;
}

/** The zero bytes that follow `n` data bytes to reach the alignment. */
export function ggufPadding(n: number, alignment = 32): Uint8Array {
  return new Uint8Array(ggufPadded(n, alignment) - n);
}

/** A whole GGUF file in memory (tests, small models, browser downloads). */
export function encodeGguf(metadata: ReadonlyArray<readonly [string, GgufValue]>, tensors: ReadonlyArray<GgufTensorEntry & { data: Float32Array }>, alignment = 32): Uint8Array {
  const { header, fileSize } = encodeGgufHeader(metadata, tensors, alignment);
  const out = new Uint8Array(fileSize);
  out.set(header);
  let o = header.byteLength;
  for (const t of tensors) {
    const n = t.shape.reduce((a, c) => a * c, 1);
    if (t.data.length !== n) throw new Error(`gguf: tensor ${show(t.name)} has ${t.data.length} values for shape [${t.shape}]`);
    const bytes = encodeGgml(t.data, t.type);
    out.set(bytes, o);
    o += ggufPadded(bytes.byteLength, alignment);
  }
  return out;
}

/** Shorthands for metadata values. */
export const gguf = {
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  str: (value: string): GgufValue => ({ type: 'string', value }),
  strs: (value: readonly string[]): GgufValue => ({ type: 'array', itemType: 'string', value }),
  i32s: (value: readonly number[]): GgufValue => ({ type: 'array', itemType: 'i32', value }),
  f32s: (value: readonly number[]): GgufValue => ({ type: 'array', itemType: 'f32', value }),
};
