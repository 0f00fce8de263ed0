/**
 * The GGUF file format of llama.cpp / ggml (version 3, little-endian): a header (magic "GGUF",
 * version, tensor count, metadata count), typed metadata key/values, tensor infos (name, dims in
 * ggml order — innermost first —, ggml type, offset), padding to `general.alignment` (default 32),
 * then the tensor data, each tensor padded to the alignment, as gguf-py's GGUFWriter lays it out.
 *
 * Everything works on bytes (a `ByteSource` in, `Uint8Array`s out) so it runs in a browser; files
 * are in `@kdgpu/models/node`. Hostile files get the safetensors treatment: every count, length,
 * dimension and offset is checked against the file size and fixed limits before anything is
 * allocated from it, and errors name the file and the field.
 *
 * Tensor types: F32, F16, BF16 and Q8_0 are decoded to f32; F32, F16 and Q8_0 are written (Q8_0
 * rounds exactly as ggml's `quantize_row_q8_0_ref` and gguf-py's `quants.Q8_0`).
 */
import { type ByteSource, f32ToF16Bits } from './safetensors.ts';
import { halfTable, LITTLE } from './half.ts';

/** GGUF metadata value types, by their ids in the file. */
export const GGUF_VALUE_TYPES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'] as const;

/** A scalar metadata type name. */
export type GgufScalarType = Exclude<(typeof GGUF_VALUE_TYPES)[number], 'array'>;

/** A metadata value: numbers as JS numbers (u64/i64 as bigint, exact), bool, string, or an array of one scalar type. */
export type GgufValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; value: number }
  | { type: 'u64' | 'i64'; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: GgufScalarType; value: ReadonlyArray<number | bigint | boolean | string> };

/** ggml tensor types this package knows the layout of: id, elements per block, bytes per block. */
export const GGML_TYPES = {
  F32: { id: 0, block: 1, bytes: 4 },
  F16: { id: 1, block: 1, bytes: 2 },
  Q8_0: { id: 8, block: 32, bytes: 34 },
  BF16: { id: 30, block: 1, bytes: 2 },
} as const;

/** A ggml tensor type this package reads. */
export type GgmlType = keyof typeof GGML_TYPES;

// Names of the other ggml types, for error messages only (ggml.h's enum ggml_type).
const OTHER_GGML_TYPES: Record<number, string> = {
  2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K',
  16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16',
  26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

/** One tensor of a GGUF file. */
export interface GgufTensorInfo {
  readonly name: string;
  readonly type: GgmlType;
  /** ggml order: dims[0] is the innermost (contiguous) dimension. */
  readonly dims: readonly number[];
  /** Row-major shape (dims reversed), as a PyTorch tensor of the same bytes. */
  readonly shape: readonly number[];
  /** Absolute byte range in the file. */
  readonly begin: number;
  readonly end: number;
}

/** A parsed and validated GGUF header. */
export interface GgufHeader {
  readonly version: number;
  readonly metadata: Map<string, GgufValue>;
  readonly tensors: Map<string, GgufTensorInfo>;
  readonly alignment: number;
  /** Where the tensor data section starts. */
  readonly dataStart: number;
}

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
/** Largest header (metadata + tensor infos) accepted. Big vocabularies take ~10 MB. */
export const GGUF_MAX_HEADER = 256 * 2 ** 20;
/** Largest metadata count and tensor count accepted. */
const MAX_KV = 1_000_000;
const MAX_TENSORS = 1_000_000;
/** ggml's GGML_MAX_NAME (names are stored in a 64-byte field, NUL included). */
const MAX_NAME = 63;
/** ggml's GGML_MAX_DIMS. */
const MAX_DIMS = 4;
const SCALAR_BYTES: Record<Exclude<GgufScalarType, 'string'>, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8 };

/** The error type of this reader: its message starts with `gguf <file>: `. */
export class GgufError extends Error {
  constructor(file: string, msg: string) {
    super(`gguf ${file}: ${msg}`);
    this.name = 'GgufError';
  }
}

/** A short, safe rendering of a name or value for messages. */
function show(s: string): string {
  const j = JSON.stringify(s);
  return j.length > 80 ? `${j.slice(0, 80)}..."` : j;
}

/**
 * Sequential reads over a ByteSource through a window that grows in chunks, never past the file
 * or GGUF_MAX_HEADER: a count claimed in the header is checked against the bytes left before any
 * array of that size is made.
 */
class Cursor {
  pos = 0;
  private buf = new Uint8Array(0);
  private dv = new DataView(this.buf.buffer);
  private bufStart = 0;

  constructor(
    private readonly src: ByteSource,
    readonly file: string,
  ) {}

  get left(): number {
    return this.src.size - this.pos;
  }

  /** Makes bytes [pos, pos + n) available; `what` names the field for the error. */
  async need(n: number, what: string): Promise<void> {
    if (n > this.left) throw new GgufError(this.file, `${what} needs ${n} bytes at offset ${this.pos}, but the file ends at ${this.src.size}: truncated or not a GGUF file`);
    const end = this.pos + n;
    if (end > GGUF_MAX_HEADER) throw new GgufError(this.file, `${what} ends at byte ${end}, past the ${GGUF_MAX_HEADER}-byte header limit`);
    if (end <= this.bufStart + this.buf.byteLength) return;
    // Keep what is unread and read at least 1 MiB more (fewer small reads on a file).
    const want = Math.min(this.src.size, GGUF_MAX_HEADER, Math.max(end, this.pos + 2 ** 20)) - this.pos;
    this.buf = (await this.src.read(this.pos, want)).slice();
    this.bufStart = this.pos;
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private at(n: number): number {
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }

  async u32(what: string): Promise<number> {
    await this.need(4, what);
    return this.dv.getUint32(this.at(4), true);
  }

  /** A u64 that must fit a safe integer (sizes, counts, offsets). */
  async u64(what: string): Promise<number> {
    await this.need(8, what);
    const o = this.at(8);
    const lo = this.dv.getUint32(o, true);
    const hi = this.dv.getUint32(o + 4, true);
    if (hi >= 2 ** 21) throw new GgufError(this.file, `${what} is ${(BigInt(hi) << 32n) | BigInt(lo)}, too large (at most 2^53 - 1)`);
    return hi * 2 ** 32 + lo;
  }

  async string(what: string, max = GGUF_MAX_HEADER): Promise<string> {
    const n = await this.u64(`${what} length`);
    if (n > max) throw new GgufError(this.file, `${what} is ${n} bytes long, over the ${max}-byte limit`);
    await this.need(n, what);
    const o = this.at(n);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.buf.subarray(o, o + n));
    } catch {
      throw new GgufError(this.file, `${what} is not valid UTF-8`);
    }
  }

  async scalar(type: GgufScalarType, what: string): Promise<number | bigint | boolean | string> {
    if (type === 'string') return this.string(what);
    await this.need(SCALAR_BYTES[type], what);
    const o = this.at(SCALAR_BYTES[type]);
    const dv = this.dv;
    switch (type) {
      case 'u8': return dv.getUint8(o);
      case 'i8': return dv.getInt8(o);
      case 'u16': return dv.getUint16(o, true);
      case 'i16': return dv.getInt16(o, true);
      case 'u32': return dv.getUint32(o, true);
      case 'i32': return dv.getInt32(o, true);
      case 'f32': return dv.getFloat32(o, true);
      case 'f64': return dv.getFloat64(o, true);
      case 'u64': return dv.getBigUint64(o, true);
      case 'i64': return dv.getBigInt64(o, true);
      case 'bool': {
        const b = dv.getUint8(o);
        if (b > 1) throw new GgufError(this.file, `${what} is a bool stored as ${b} (must be 0 or 1)`);
        return b === 1;
      }
      default:
        return type satisfies never;
    }
  }
}

function valueType(id: number, file: string, what: string): (typeof GGUF_VALUE_TYPES)[number] {
  const t = GGUF_VALUE_TYPES[id];
  if (t === undefined) throw new GgufError(file, `${what} has unknown value type ${id} (known: 0..${GGUF_VALUE_TYPES.length - 1})`);
  return t;
}

function ggmlType(id: number, file: string, what: string): GgmlType {
  for (const [name, t] of Object.entries(GGML_TYPES)) if (t.id === id) return name as GgmlType;
  const known = Object.keys(GGML_TYPES).join(', ');
  if (OTHER_GGML_TYPES[id]) throw new GgufError(file, `${what} has ggml type ${OTHER_GGML_TYPES[id]} (${id}), which kdgpu does not read (it reads ${known}); requantize the file to one of those with llama-quantize`);
  throw new GgufError(file, `${what} has unknown ggml type ${id} (kdgpu reads ${known})`);
}

/**
 * Reads and validates a GGUF header: magic and version, every metadata key and value (bounded
 * lengths and counts), every tensor info (name length, 1-4 dims, known type, a first dim that is a
 * multiple of the type's block, an aligned offset), then checks that tensors lie in the file, do
 * not overlap and have unique names. Reads only the header bytes.
 */
export async function readGgufHeader(src: ByteSource): Promise<GgufHeader> {
  const file = src.name;
  const c = new Cursor(src, file);
  if (src.size < 24) throw new GgufError(file, `is ${src.size} bytes, too short for a GGUF header (24 bytes)`);
  const magic = await c.u32('magic');
  if (magic !== MAGIC) throw new GgufError(file, `does not start with the GGUF magic (found bytes ${[0, 8, 16, 24].map((s) => ((magic >>> s) & 0xff).toString(16).padStart(2, '0')).join(' ')}): not a GGUF file`);
  const version = await c.u32('version');
  if (version !== 2 && version !== 3) {
    const swapped = version > 0xffff ? ' (a big-endian file?)' : '';
    throw new GgufError(file, `version ${version} is not supported${swapped}; kdgpu reads GGUF versions 2 and 3 (little-endian)`);
  }
  const nTensors = await c.u64('tensor_count');
  const nKv = await c.u64('metadata_kv_count');
  if (nTensors > MAX_TENSORS) throw new GgufError(file, `tensor_count ${nTensors} is over the limit of ${MAX_TENSORS}`);
  if (nKv > MAX_KV) throw new GgufError(file, `metadata_kv_count ${nKv} is over the limit of ${MAX_KV}`);
  // Each KV takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 8 + 4 + 8 + 4 + 8.
  if (nKv * 13 + nTensors * 32 > c.left) throw new GgufError(file, `metadata_kv_count ${nKv} and tensor_count ${nTensors} need more bytes than the file holds (${src.size}): truncated or corrupt`);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = await c.string(`metadata key ${i}`, 65535);
    if (metadata.has(key)) throw new GgufError(file, `metadata key ${show(key)} appears twice`);
    const what = `metadata ${show(key)}`;
    const type = valueType(await c.u32(`${what} type`), file, what);
    if (type === 'array') {
      const itemType = valueType(await c.u32(`${what} array item type`), file, `${what} array`);
      if (itemType === 'array') throw new GgufError(file, `${what} is an array of arrays, which kdgpu does not read`);
      const n = await c.u64(`${what} array length`);
      const min = itemType === 'string' ? 8 : SCALAR_BYTES[itemType];
      if (n * min > c.left) throw new GgufError(file, `${what} claims ${n} items of type ${itemType}, more than the ${c.left} bytes left in the file`);
      const items: Array<number | bigint | boolean | string> = [];
      for (let j = 0; j < n; j++) items.push(await c.scalar(itemType, `${what}[${j}]`));
      metadata.set(key, { type: 'array', itemType, value: items });
    } else {
      metadata.set(key, { type, value: await c.scalar(type, what) } as GgufValue);
    }
  }

  let alignment = 32;
  const al = metadata.get('general.alignment');
  if (al !== undefined) {
    if (al.type !== 'u32' || al.value === 0 || (al.value & (al.value - 1)) !== 0) {
      throw new GgufError(file, `general.alignment must be a u32 power of two, got ${al.type} ${String(al.value).slice(0, 40)}`);
    }
    alignment = al.value;
  }

  const infos: Array<Omit<GgufTensorInfo, 'begin' | 'end'> & { offset: number; bytes: number }> = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = await c.string(`tensor ${i} name`, 65535);
    const what = `tensor ${show(name)}`;
    if (new TextEncoder().encode(name).byteLength > MAX_NAME) throw new GgufError(file, `${what}: name is longer than ggml's ${MAX_NAME} bytes`);
    if (names.has(name)) throw new GgufError(file, `${what} appears twice`);
    names.add(name);
    const nDims = await c.u32(`${what} n_dims`);
    if (nDims < 1 || nDims > MAX_DIMS) throw new GgufError(file, `${what} has ${nDims} dims (ggml allows 1 to ${MAX_DIMS})`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(await c.u64(`${what} dims[${d}]`));
    const type = ggmlType(await c.u32(`${what} type`), file, what);
    const offset = await c.u64(`${what} offset`);
    const t = GGML_TYPES[type];
    let numel = 1;
    for (const d of dims) {
      numel *= d;
      if (numel > Number.MAX_SAFE_INTEGER) throw new GgufError(file, `${what} dims [${dims}] hold too many elements`);
    }
    if (dims[0]! % t.block !== 0) throw new GgufError(file, `${what}: dims[0] = ${dims[0]} is not a multiple of ${type}'s block size ${t.block}`);
    if (offset % alignment !== 0) throw new GgufError(file, `${what}: offset ${offset} is not a multiple of the alignment ${alignment}`);
    infos.push({ name, type, dims, shape: [...dims].reverse(), offset, bytes: (numel / t.block) * t.bytes });
  }
  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  const dataSize = src.size - dataStart;
  if (dataSize < 0 && infos.length > 0) throw new GgufError(file, `the data section would start at ${dataStart}, past the end of the file (${src.size} bytes)`);
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of infos) {
    if (t.offset + t.bytes > dataSize) {
      throw new GgufError(file, `tensor ${show(t.name)}: ${t.type} [${t.dims}] needs ${t.bytes} bytes at data offset ${t.offset}, past the end of the data section (${Math.max(0, dataSize)} bytes): truncated file`);
    }
    tensors.set(t.name, { name: t.name, type: t.type, dims: t.dims, shape: t.shape, begin: dataStart + t.offset, end: dataStart + t.offset + t.bytes });
  }
  const sorted = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.begin < sorted[i - 1]!.end) throw new GgufError(file, `tensors ${show(sorted[i - 1]!.name)} and ${show(sorted[i]!.name)} overlap`);
  }
  return { version, metadata, tensors, alignment, dataStart };
}

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

/** Reads one tensor's data as f32. */
export async function readGgufTensor(src: ByteSource, info: GgufTensorInfo): Promise<Float32Array> {
  return decodeGgml(await src.read(info.begin, info.end - info.begin), info.type);
}

/** A tensor to write: name, row-major shape, ggml type. */
export interface GgufTensorEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: 'F32' | 'F16' | 'Q8_0';
}

/** Bytes of a tensor of `shape` stored as `type`. */
export function ggmlBytes(shape: readonly number[], type: GgmlType): number {
  const t = GGML_TYPES[type];
  return (shape.reduce((a, b) => a * b, 1) / t.block) * t.bytes;
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
