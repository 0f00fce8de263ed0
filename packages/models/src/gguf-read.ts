/**
 * The GGUF header reader. Everything works on bytes (a `ByteSource` in) so it runs in a browser;
 * files are in `@kdgpu/models/node`. Hostile files get the safetensors treatment: every count,
 * length, dimension and offset is checked against the file size and fixed limits before anything
 * is allocated from it, and errors name the file and the field.
 *
 * Also here: reading one tensor's data, and typed lookups in a parsed header's metadata (shared by
 * the model and vocabulary import, so both report missing or mistyped keys the same way).
 */
import type { ByteSource } from './safetensors.ts';
import { decodeGgml } from './ggml-codec.ts';
import {
  GGML_TYPES,
  type GgmlType,
  GGUF_MAX_HEADER,
  GGUF_VALUE_TYPES,
  GgufError,
  type GgufHeader,
  type GgufScalarType,
  type GgufTensorInfo,
  type GgufValue,
  MAGIC,
  MAX_DIMS,
  MAX_NAME,
  OTHER_GGML_TYPES,
  SCALAR_BYTES,
  show,
} from './gguf-format.ts';

/** Largest metadata count and tensor count accepted. */
const MAX_KV = 1_000_000;
const MAX_TENSORS = 1_000_000;

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

/** Reads one tensor's data as f32. */
export async function readGgufTensor(src: ByteSource, info: GgufTensorInfo): Promise<Float32Array> {
  return decodeGgml(await src.read(info.begin, info.end - info.begin), info.type);
}

/** Typed lookups in a header's metadata; a missing or mistyped key is a GgufError naming it. */
export interface GgufMeta {
  get(key: string): GgufValue | undefined;
  /** A number (u64/i64 converted); `fallback` when missing, else an error. */
  num(key: string, fallback?: number): number;
  /** A string, or null when missing. */
  str(key: string): string | null;
}

/** {@link GgufMeta} over `h`, errors naming `file`. */
export function ggufMeta(h: GgufHeader, file: string): GgufMeta {
  const get = (key: string) => h.metadata.get(key);
  const num = (key: string, fallback?: number): number => {
    const v = get(key);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new GgufError(file, `metadata ${key} is missing`);
    }
    if (v.type === 'u64' || v.type === 'i64') return Number(v.value);
    if (typeof v.value !== 'number') throw new GgufError(file, `metadata ${key} must be a number, got ${v.type}`);
    return v.value;
  };
  const str = (key: string): string | null => {
    const v = get(key);
    if (v === undefined) return null;
    if (v.type !== 'string') throw new GgufError(file, `metadata ${key} must be a string, got ${v.type}`);
    return v.value;
  };
  return { get, num, str };
}
