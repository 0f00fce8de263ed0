import { KdgpuError } from './errors.ts';

/**
 * A kernel's interface, declared once: named input buffers (read-only storage), named output
 * buffers (read-write storage) and named, typed parameters. From the declaration the engine
 * writes the WGSL binding lines and a `struct Params`, and packs the host values by name into the
 * kernel's slot of the parameter arena (f32 values are written as floats: no bit patterns in
 * callers). The types follow the declaration, so a missing, misspelled or extra parameter or
 * buffer in a `dispatch` fails `tsc` instead of giving wrong numbers:
 *
 * ```ts
 * const SCALE = defineKernel({
 *   key: 'scale',
 *   inputs: { x: 'f32' },
 *   outputs: { y: 'f32' },
 *   params: { n: 'u32', factor: 'f32' },
 *   body: () => `@compute @workgroup_size(64)
 * fn main(@builtin(global_invocation_id) gid: vec3u) {
 *   if (gid.x < params.n) { y[gid.x] = x[gid.x] * params.factor; }
 * }`,
 * });
 * dispatch(SCALE, { x: a.storage.buf, y: b.storage.buf }, { n, factor: 0.5 }, grid(n, 64));
 * ```
 *
 * Bindings, in order: the inputs, the outputs, then `params` (bound with a dynamic offset into
 * the arena; see `engine.ts`). Parameters are 4-byte words in declaration order; an array
 * parameter `[type, length]` takes `length` words, and a shorter host array is zero-filled.
 */

/** Element type of a buffer binding (WGSL `array<T>`). */
export type BufferType = 'f32' | 'i32' | 'u32' | 'vec4f' | 'vec4i' | 'vec4u';

/** Type of a scalar parameter. */
export type ScalarType = 'f32' | 'i32' | 'u32';

/** A parameter: a scalar, or `[type, length]`, an array of fixed length (e.g. a shape up to rank 8). */
export type ParamType = ScalarType | readonly [ScalarType, number];

/** Named buffers of one direction. */
export type BufferDecl = { readonly [name: string]: BufferType };

/** Named parameters. */
export type ParamDecl = { readonly [name: string]: ParamType };

/** What a kernel states about itself. */
export interface KernelSpec<I extends BufferDecl, O extends BufferDecl, P extends ParamDecl> {
  /** Pipeline cache key: kernels that share a key must generate the same WGSL. */
  readonly key: string;
  /** Read-only storage buffers, bound first, in this order. */
  readonly inputs: I;
  /** Read-write storage buffers, bound after the inputs. */
  readonly outputs: O;
  /** The parameters, read in WGSL as `params.<name>`. */
  readonly params: P;
  /** The WGSL after the generated declarations (helper functions and `main`), built on first use. */
  readonly body: () => string;
}

interface Field {
  readonly name: string;
  /** 0: u32, 1: i32, 2: f32. */
  readonly kind: 0 | 1 | 2;
  /** Word offset in the parameter block. */
  readonly at: number;
  /** Array length; 0 for a scalar. */
  readonly len: number;
}

/** A declared kernel, ready for `dispatch`. */
export interface Kernel<I extends BufferDecl = BufferDecl, O extends BufferDecl = BufferDecl, P extends ParamDecl = ParamDecl> extends KernelSpec<I, O, P> {
  readonly nIn: number;
  readonly nOut: number;
  /** Buffer names in binding order (inputs, then outputs). */
  readonly bindings: readonly string[];
  /** Parameter words used. */
  readonly words: number;
  /** @internal The packing plan, in declaration order. */
  readonly fields: readonly Field[];
  /** The whole shader: generated declarations, then `body()`. */
  readonly code: () => string;
}

/** The buffers of a dispatch, by name (a key per declared input and output). */
export type Bindings<I extends BufferDecl, O extends BufferDecl, B> = { readonly [K in keyof I]: B } & { readonly [K in keyof O]: B };

/** The parameter values of a dispatch, by name: a number per scalar, numbers per array. */
export type ParamValues<P extends ParamDecl> = {
  readonly [K in keyof P]: P[K] extends readonly [ScalarType, number] ? ArrayLike<number> : P[K] extends ScalarType ? number : number | ArrayLike<number>;
};

/** Largest parameter block: the arena slot is 256 bytes (`minStorageBufferOffsetAlignment`). */
export const PARAM_WORDS = 64;

const IDENT = /^[A-Za-z][A-Za-z0-9_]*$/;
// WGSL keywords and reserved words a parameter or buffer might plausibly be named (the full list
// is long; the compiler rejects the rest with a less friendly message).
const RESERVED = new Set([
  'alias', 'array', 'bitcast', 'bool', 'break', 'case', 'const', 'continue', 'default', 'diagnostic', 'discard', 'else', 'enable',
  'f16', 'f32', 'false', 'fn', 'for', 'i32', 'if', 'let', 'loop', 'override', 'requires', 'return', 'struct', 'switch', 'true',
  'u32', 'var', 'while', 'from', 'get', 'set', 'target', 'type', 'of', 'where', 'filter', 'match', 'mod', 'pass', 'self', 'new',
  'null', 'this', 'params', 'main', 'bitsToF32',
]);

function checkName(key: string, what: string, name: string): void {
  if (!IDENT.test(name) || RESERVED.has(name)) {
    throw new KdgpuError(`kernel ${key}: ${what} name '${name}' is not usable in WGSL; use letters, digits and _ (starting with a letter), not a keyword or a generated name`);
  }
}

const KIND = { u32: 0, i32: 1, f32: 2 } as const;

/**
 * Declares a kernel (see the file comment). Checks the names and the parameter block's size at
 * once, so a bad declaration fails where it is written, not at its first dispatch.
 */
export function defineKernel<const I extends BufferDecl, const O extends BufferDecl, const P extends ParamDecl>(spec: KernelSpec<I, O, P>): Kernel<I, O, P> {
  const ins = Object.keys(spec.inputs);
  const outs = Object.keys(spec.outputs);
  const bindings = [...ins, ...outs];
  for (const n of bindings) checkName(spec.key, 'buffer', n);
  if (new Set(bindings).size !== bindings.length) throw new KdgpuError(`kernel ${spec.key}: buffer names repeat (${bindings.join(', ')})`);
  const fields: Field[] = [];
  let words = 0;
  for (const [name, t] of Object.entries(spec.params)) {
    checkName(spec.key, 'parameter', name);
    if (bindings.includes(name)) throw new KdgpuError(`kernel ${spec.key}: '${name}' names both a buffer and a parameter`);
    const [type, len] = typeof t === 'string' ? [t, 0] : [t[0], t[1]];
    if (typeof t !== 'string' && !(Number.isInteger(len) && len >= 1)) throw new KdgpuError(`kernel ${spec.key}: parameter '${name}' has array length ${len}; use an integer >= 1`);
    fields.push({ name, kind: KIND[type], at: words, len });
    words += Math.max(len, 1);
  }
  if (words > PARAM_WORDS) throw new KdgpuError(`kernel ${spec.key}: parameters take ${words} words; at most ${PARAM_WORDS} fit a slot`);
  const header = () => {
    const buf = (n: string, t: BufferType, i: number, rw: boolean) => `@group(0) @binding(${i}) var<storage, ${rw ? 'read_write' : 'read'}> ${n}: array<${t}>;\n`;
    let s = '';
    ins.forEach((n, i) => (s += buf(n, spec.inputs[n], i, false)));
    outs.forEach((n, i) => (s += buf(n, spec.outputs[n], ins.length + i, true)));
    const members = fields.map((f) => {
      const t = (['u32', 'i32', 'f32'] as const)[f.kind];
      return `  ${f.name}: ${f.len ? `array<${t}, ${f.len}>` : t},\n`;
    });
    // A struct needs a member; a kernel without parameters still has the binding.
    s += `struct Params {\n${members.length ? members.join('') : '  unused: u32,\n'}}\n`;
    return s + `@group(0) @binding(${bindings.length}) var<storage, read> params: Params;\n`;
  };
  return { ...spec, nIn: ins.length, nOut: outs.length, bindings, words, fields, code: () => header() + spec.body() };
}

/**
 * Writes `values` into a parameter block at word `base` of the three views (one buffer). Throws,
 * naming the kernel and the parameter, when a value is missing or an array is too long: the
 * declared types catch that at compile time for written-out kernels, this for generated ones.
 */
export function packParams(k: Kernel, values: ParamValues<ParamDecl>, base: number, u: Uint32Array, i: Int32Array, f: Float32Array): void {
  for (const fl of k.fields) {
    const v = values[fl.name];
    const view = fl.kind === 2 ? f : fl.kind === 1 ? i : u;
    if (fl.len === 0) {
      if (typeof v !== 'number') throw new KdgpuError(`kernel ${k.key}: parameter '${fl.name}' must be a number, got ${v === undefined ? 'nothing' : typeof v}`);
      view[base + fl.at] = v;
      continue;
    }
    if (v === undefined || typeof v === 'number') throw new KdgpuError(`kernel ${k.key}: parameter '${fl.name}' must be an array of at most ${fl.len} numbers`);
    if (v.length > fl.len) throw new KdgpuError(`kernel ${k.key}: parameter '${fl.name}' has ${v.length} values; at most ${fl.len} are declared`);
    const at = base + fl.at;
    for (let j = 0; j < fl.len; j++) view[at + j] = j < v.length ? v[j] : 0;
  }
}
