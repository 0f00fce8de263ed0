/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian header length N,
 * N bytes of JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {...} }`,
 * then the raw little-endian tensor bytes (offsets are relative to the end of the header).
 *
 * Everything here works on bytes from a `ByteSource`, so a file is read tensor by tensor and
 * never as one string or one buffer; the Node adapter (`@kdgpu/models/node`) supplies files.
 * Reading decodes F32, F16 and BF16 to f32; writing produces F32 or F16.
 */
import { halfTable, LITTLE } from './half.ts';

/** Random access to bytes: a file, a Blob, a buffer in memory. */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** Name used in error messages (a file path or URL). */
  readonly name: string;
  /** Exactly `length` bytes from `offset`. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases the underlying handle, if any. */
  close?(): Promise<void>;
}

/** A ByteSource over bytes already in memory. */
export function bytesSource(bytes: Uint8Array | ArrayBuffer, name = 'buffer'): ByteSource {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return {
    size: b.byteLength,
    name,
    read: (offset, length) => {
      if (offset < 0 || offset + length > b.byteLength) return Promise.reject(new Error(`${name}: read of ${length} bytes at ${offset} is past the end (${b.byteLength} bytes)`));
      return Promise.resolve(b.subarray(offset, offset + length));
    },
  };
}

/** A ByteSource over a Blob or File (browser file inputs, fetched blobs); reads slices lazily. */
export function blobSource(blob: Blob, name = (blob as { name?: string }).name ?? 'blob'): ByteSource {
  return {
    size: blob.size,
    name,
    read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
  };
}

/** Element types of the format, with their sizes in bytes. */
export const DTYPE_BYTES = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
} as const;

/** A safetensors dtype name. */
export type StDType = keyof typeof DTYPE_BYTES;

/** One tensor's entry in a header. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: StDType;
  readonly shape: readonly number[];
  /** Absolute byte offsets in the file. */
  readonly begin: number;
  readonly end: number;
}

/** A parsed and validated header. */
export interface SafetensorsHeader {
  readonly tensors: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  /** Where tensor data starts (8 + header length). */
  readonly dataStart: number;
}

/** Largest header accepted (the reference implementation's limit). */
const MAX_HEADER = 100_000_000;

function fail(file: string, msg: string): never {
  throw new Error(`safetensors ${file}: ${msg}`);
}

/** A header value for an error message: short, and safe for hostile values (deep, huge). */
function show(v: unknown): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = undefined;
  }
  if (s === undefined) return typeof v;
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}

/**
 * Validates a header: the length fits in the file, the JSON parses, every entry has a known dtype,
 * a shape of non-negative integers and offsets whose span equals numel * itemsize, offsets stay in
 * the file, and no two tensors overlap.
 */
export function parseHeader(prefix: Uint8Array, headerBytes: Uint8Array | null, fileSize: number, file = 'file'): SafetensorsHeader {
  if (fileSize < 8 || prefix.byteLength < 8) fail(file, `is ${fileSize} bytes, too short to hold the 8-byte header length`);
  const n = headerLength(prefix);
  if (n > fileSize - 8) fail(file, `header length ${n} runs past the end of the file (${fileSize} bytes): truncated or not a safetensors file`);
  if (n > MAX_HEADER) fail(file, `header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
  if (!headerBytes) fail(file, 'header bytes missing');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    fail(file, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(file, 'header must be a JSON object');
  const dataStart = 8 + n;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || Object.values(raw).some((v) => typeof v !== 'string')) fail(file, '__metadata__ must map strings to strings');
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== 'object') fail(file, `entry ${show(name)} is not an object`);
    if (typeof e.dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, e.dtype)) fail(file, `tensor ${show(name)} has unknown dtype ${show(e.dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')})`);
    const shape = e.shape;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(file, `tensor ${show(name)} has a bad shape ${show(shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((d) => !Number.isSafeInteger(d) || d < 0) || off[0] > off[1]) {
      fail(file, `tensor ${show(name)} has bad data_offsets ${show(off)} (want [begin, end] with 0 <= begin <= end)`);
    }
    const dtype = e.dtype as StDType;
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const bytes = numel * DTYPE_BYTES[dtype];
    if (off[1] - off[0] !== bytes) {
      fail(file, `tensor ${show(name)}: dtype ${dtype} and shape ${show(shape)} need ${bytes} bytes, but data_offsets [${off}] span ${off[1] - off[0]}`);
    }
    if (off[1] > dataSize) fail(file, `tensor ${show(name)}: data_offsets [${off}] are out of range (the data section has ${dataSize} bytes)`);
    tensors.set(name, { name, dtype, shape: shape as number[], begin: dataStart + off[0], end: dataStart + off[1] });
  }
  const sorted = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) {
      fail(file, `tensors ${show(sorted[i - 1].name)} and ${show(sorted[i].name)} overlap (bytes ${sorted[i - 1].begin - dataStart}..${sorted[i - 1].end - dataStart} and ${sorted[i].begin - dataStart}..${sorted[i].end - dataStart})`);
    }
  }
  return { tensors, metadata, dataStart };
}

function headerLength(prefix: Uint8Array): number {
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  return hi * 2 ** 32 + lo;
}

/** Reads and validates the header of a safetensors source (two small reads). */
export async function readHeader(src: ByteSource): Promise<SafetensorsHeader> {
  if (src.size < 8) fail(src.name, `is ${src.size} bytes, too short to hold the 8-byte header length`);
  const prefix = await src.read(0, 8);
  const n = headerLength(prefix);
  if (n > src.size - 8 || n > MAX_HEADER) return parseHeader(prefix, null, src.size, src.name);
  return parseHeader(prefix, await src.read(8, n), src.size, src.name);
}

/** Decodes little-endian F32, F16 or BF16 bytes to f32 values. */
export function decodeF32(bytes: Uint8Array, dtype: StDType, what = 'tensor'): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      // A copy into a fresh buffer: a Node Buffer's slice() is a view into a shared pool, not a copy.
      if (LITTLE) return new Float32Array(new Uint8Array(bytes).buffer);
      const out = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    }
    case 'F16': {
      const t = halfTable();
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = t[dv.getUint16(2 * i, true)];
      return out;
    }
    case 'BF16': {
      const u = new Uint32Array(bytes.byteLength / 2);
      for (let i = 0; i < u.length; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      return new Float32Array(u.buffer);
    }
    default:
      throw new Error(`${what}: dtype ${dtype} cannot be loaded as model weights (supported: F32, F16, BF16)`);
  }
}

/** Reads one tensor's data as f32. */
export async function readTensor(src: ByteSource, info: TensorInfo): Promise<Float32Array> {
  return decodeF32(await src.read(info.begin, info.end - info.begin), info.dtype, `safetensors ${src.name}: tensor ${show(info.name)}`);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** f32 -> f16 bit pattern, rounding to nearest even; overflow gives ±inf, NaN stays NaN. */
export function f32ToF16Bits(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is the correct rounding (up to inf).
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Encodes f32 values as little-endian F32 or F16 bytes. */
export function encodeTensor(data: Float32Array, dtype: 'F32' | 'F16'): Uint8Array {
  if (dtype === 'F32') {
    if (LITTLE) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const out = new Uint8Array(data.length * 4);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i], true);
    return out;
  }
  const out = new Uint8Array(data.length * 2);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setUint16(2 * i, f32ToF16Bits(data[i]), true);
  return out;
}

/** A tensor to write: name, shape and dtype (data comes separately, so it can be streamed). */
export interface TensorEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'F32' | 'F16';
}

/**
 * The header bytes for `entries` in order (8-byte length + JSON padded with spaces to a multiple of
 * 8, as the reference writer does), and the total file size.
 */
export function encodeHeader(entries: readonly TensorEntry[], metadata: Record<string, string> = { format: 'pt' }): { header: Uint8Array; fileSize: number } {
  // Built from entries, not by assignment: a tensor named `__proto__` must stay a key.
  const fields: Array<[string, unknown]> = [['__metadata__', metadata]];
  const names = new Set<string>();
  let off = 0;
  for (const e of entries) {
    if (e.name === '__metadata__' || names.has(e.name)) throw new Error(`safetensors: tensor name "${e.name}" is ${names.has(e.name) ? 'repeated' : 'reserved'}`);
    names.add(e.name);
    const bytes = e.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[e.dtype];
    fields.push([e.name, { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + bytes] }]);
    off += bytes;
  }
  let json = JSON.stringify(Object.fromEntries(fields));
  json += ' '.repeat((8 - (new TextEncoder().encode(json).byteLength % 8)) % 8);
  const body = new TextEncoder().encode(json);
  const header = new Uint8Array(8 + body.byteLength);
  new DataView(header.buffer).setUint32(0, body.byteLength, true);
  header.set(body, 8);
  return { header, fileSize: header.byteLength + off };
}

/** A whole safetensors file in memory (small models, tests, browser downloads). */
export function encodeSafetensors(tensors: ReadonlyArray<{ name: string; shape: readonly number[]; data: Float32Array }>, dtype: 'F32' | 'F16' = 'F32', metadata?: Record<string, string>): Uint8Array {
  const entries = tensors.map((t) => ({ name: t.name, shape: t.shape, dtype }));
  const { header, fileSize } = encodeHeader(entries, metadata);
  const out = new Uint8Array(fileSize);
  out.set(header, 0);
  let off = header.byteLength;
  for (const t of tensors) {
    const b = encodeTensor(t.data, dtype);
    out.set(b, off);
    off += b.byteLength;
  }
  return out;
}

/** Counts of NaN and ±Inf values. */
export function countNonFinite(data: Float32Array): { nan: number; inf: number } {
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v !== v) nan++;
    else if (v === Infinity || v === -Infinity) inf++;
  }
  return { nan, inf };
}
