/**
 * The GGUF file format of llama.cpp / ggml (version 3, little-endian): a header (magic "GGUF",
 * version, tensor count, metadata count), typed metadata key/values, tensor infos (name, dims in
 * ggml order — innermost first —, ggml type, offset), padding to `general.alignment` (default 32),
 * then the tensor data, each tensor padded to the alignment, as gguf-py's GGUFWriter lays it out.
 *
 * This module owns what the reader (gguf-read.ts), the writer (gguf-write.ts) and the block codecs
 * (ggml-codec.ts) share: the value and ggml type tables, the parsed-header types, the format's
 * limits and GgufError. It holds no I/O, so the others depend on it and never on each other's
 * internals.
 */

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
export const OTHER_GGML_TYPES: Record<number, string> = {
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

/** "GGUF" read as a little-endian u32. */
export const MAGIC: number = 0x46554747;
/** Largest header (metadata + tensor infos) accepted. Big vocabularies take ~10 MB. */
export const GGUF_MAX_HEADER: number = 256 * 2 ** 20;
/** ggml's GGML_MAX_NAME (names are stored in a 64-byte field, NUL included). */
export const MAX_NAME: number = 63;
/** ggml's GGML_MAX_DIMS. */
export const MAX_DIMS: number = 4;
/** Bytes of each fixed-size metadata scalar type. */
export const SCALAR_BYTES: Record<Exclude<GgufScalarType, 'string'>, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8 };

/** The error type of this reader: its message starts with `gguf <file>: `. */
export class GgufError extends Error {
  constructor(file: string, msg: string) {
    super(`gguf ${file}: ${msg}`);
    this.name = 'GgufError';
  }
}

/** A short, safe rendering of a name or value for messages. */
export function show(s: string): string {
  const j = JSON.stringify(s);
  return j.length > 80 ? `${j.slice(0, 80)}..."` : j;
}
