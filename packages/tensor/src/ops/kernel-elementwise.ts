import { dispatch, f32bits, grid, type Kernel, LINEAR_ID } from '../engine.ts';
import { Storage, type DType, wgslType } from '../storage.ts';
import { broadcastStrides, contiguousStrides, isContiguous, numel, sameShape } from '../shape.ts';
import { Tensor } from '../tensor.ts';

/**
 * One generated kernel for every elementwise op: any number of operands, each a tensor read
 * through strides (broadcast dims have stride 0, so views and broadcasting need no copies), a
 * contiguous tensor of the output's shape (fast path: `base + i`), or a scalar passed in the
 * parameter block. The output is contiguous.
 */

/** A tensor, a number (converted to the compute type), or raw u32 bits (`{ u32 }`, read as u32). */
export type Operand = Tensor | number | { u32: number };

const WG = 64;
const MAX_RANK = 8;

/**
 * How a tensor operand is indexed from the output's linear index i:
 * - `c`: contiguous, same shape: offset + i.
 * - `r`: contiguous, broadcast over leading dims only (a bias [C] against [N, C]): offset + i % m.
 * - `q`: contiguous, broadcast over trailing dims only (a per-row [N, 1] against [N, C]):
 *   offset + i / inner.
 * - `s`: anything else, through strides (a loop over the dims with a div/mod each).
 * The first three cover nearly every op of a training step and cost one or no division.
 */
type Mode = 'c' | 'r' | 'q' | 's';

function modeOf(op: Tensor, shape: readonly number[]): { mode: Mode; extra: number } {
  if (!isContiguous(op.shape, op.strides)) return { mode: 's', extra: 0 };
  if (sameShape(op.shape, shape)) return { mode: 'c', extra: 0 };
  // One element (a 0-d tensor, a [1, 1]): every i reads it, as `q` with inner = all of it.
  if (op.size === 1) return { mode: 'q', extra: numel(shape) };
  const ps = [...Array(shape.length - op.rank).fill(1), ...op.shape];
  // Leading ones then the output's trailing dims: `r`.
  let k = 0;
  while (k < ps.length && ps[k] === 1) k++;
  if (ps.slice(k).every((d, j) => d === shape[k + j])) return { mode: 'r', extra: numel(op.shape) };
  // The output's leading dims then trailing ones: `q`.
  let e = ps.length;
  while (e > 0 && ps[e - 1] === 1) e--;
  if (ps.slice(0, e).every((d, j) => d === shape[j])) return { mode: 'q', extra: numel(shape.slice(e)) };
  return { mode: 's', extra: 0 };
}

/** Computes `expr` (WGSL in v0, v1, ... of type `computeType`) over broadcast operands. */
export function mapElementwise(
  name: string,
  operands: readonly Operand[],
  shape: readonly number[],
  computeType: DType,
  outType: DType,
  expr: string,
  helpers = '',
): Tensor {
  const n = numel(shape);
  const out = Tensor._make(Storage.alloc(n, outType, shape), shape);
  if (n === 0) return out;
  if (shape.length > MAX_RANK) throw new Error(`${name}: tensors of rank > ${MAX_RANK} are not supported`);
  const rank = shape.length;
  const params: number[] = [n, rank, ...shape];
  const modes: string[] = [];
  const bufs = [];
  // Parameter layout after [n, rank, shape...]: per operand [scalar bits], [offset] (c),
  // [offset, m] (r), [offset, inner] (q) or [offset, strides...] (s).
  const bases: number[] = [];
  // Four elements per invocation, loaded and stored as vec4, when every tensor operand can be
  // read that way: on CPU adapters the per-invocation overhead (index math, bounds checks,
  // robustness clamps) costs more than the arithmetic, and this quarters it. The expression still
  // runs per element, so any scalar WGSL expression works unchanged.
  let v4 = n % 4 === 0;
  for (const op of operands) {
    bases.push(params.length);
    if (typeof op === 'number') {
      modes.push('k');
      params.push(computeType === 'f32' ? f32bits(op) : op | 0);
      continue;
    }
    if (!(op instanceof Tensor)) {
      modes.push('u');
      params.push(op.u32 >>> 0);
      continue;
    }
    const { mode, extra } = modeOf(op, shape);
    modes.push(mode + op.dtype[0]);
    bufs.push(op.storage.buf);
    params.push(op.offset);
    if (mode === 'r' || mode === 'q') params.push(extra);
    if (mode === 's') params.push(...broadcastStrides(op.shape, op.strides, shape));
    if (mode === 's' || (mode !== 'q' && op.offset % 4 !== 0) || (mode !== 'c' && extra % 4 !== 0)) v4 = false;
  }
  if (v4) params[0] = n / 4;
  // The expression is part of the key: ops that share a name but not an expression must not share a pipeline.
  const key = `ew:${name}:${computeType}>${outType}:${v4 ? 'v4' : 's'}:${modes.join(',')}:${bases.join(',')}:${expr}`;
  const kernel: Kernel = {
    key,
    nIn: bufs.length,
    nOut: 1,
    code: () => (v4 ? vec4Code : scalarCode)(operands, modes, bases, computeType, outType, expr, helpers),
  };
  dispatch(kernel, bufs, [out.storage.buf], params, grid(v4 ? n / 4 : n, WG));
  return out;
}

function constant(op: number | { u32: number }, base: number, computeType: DType): string {
  if (typeof op !== 'number') return `P[${base}u]`;
  return computeType === 'f32' ? `bitcast<f32>(P[${base}u])` : `bitcast<i32>(P[${base}u])`;
}

function scalarCode(operands: readonly Operand[], modes: readonly string[], bases: readonly number[], computeType: DType, outType: DType, expr: string, helpers: string): string {
  const T = wgslType(computeType);
  let decl = '';
  let body = '';
  let b = 0;
  operands.forEach((op, k) => {
    const base = bases[k];
    if (!(op instanceof Tensor)) {
      body += `  let v${k} = ${constant(op, base, computeType)};\n`;
      return;
    }
    decl += `@group(0) @binding(${b}) var<storage, read> X${b}: array<${wgslType(op.dtype)}>;\n`;
    const idx = { c: `P[${base}u] + i`, r: `P[${base}u] + i % P[${base + 1}u]`, q: `P[${base}u] + i / P[${base + 1}u]`, s: `strided(i, ${base}u)` }[modes[k][0] as Mode];
    body += `  let v${k} = ${T}(X${b}[${idx}]);\n`;
    b++;
  });
  return `${decl}@group(0) @binding(${b}) var<storage, read_write> O: array<${wgslType(outType)}>;
@group(0) @binding(${b + 1}) var<storage, read> P: array<u32>;
fn strided(i: u32, base: u32) -> u32 {
  var rem = i;
  var o = P[base];
  for (var d = P[1]; d > 0u; d--) {
    let dim = P[1u + d];
    o += (rem % dim) * P[base + d];
    rem = rem / dim;
  }
  return o;
}
${helpers}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${LINEAR_ID(WG)};
  if (i >= P[0]) { return; }
${body}  O[i] = ${wgslType(outType)}(${expr});
}
`;
}

/** The vec4 form: P[0] counts vec4s; `c` and `r` operands load a vec4, `q` one value for all four. */
function vec4Code(operands: readonly Operand[], modes: readonly string[], bases: readonly number[], computeType: DType, outType: DType, expr: string, helpers: string): string {
  const T = wgslType(computeType);
  let decl = '';
  let loads = '';
  const lanes = ['', '', '', ''];
  let b = 0;
  operands.forEach((op, k) => {
    const base = bases[k];
    if (!(op instanceof Tensor)) {
      loads += `  let v${k} = ${constant(op, base, computeType)};\n`;
      return;
    }
    const mode = modes[k][0] as Mode;
    const E = wgslType(op.dtype);
    if (mode === 'q') {
      decl += `@group(0) @binding(${b}) var<storage, read> X${b}: array<${E}>;\n`;
      loads += `  let v${k} = ${T}(X${b}[P[${base}u] + (j * 4u) / P[${base + 1}u]]);\n`;
    } else {
      decl += `@group(0) @binding(${b}) var<storage, read> X${b}: array<vec4<${E}>>;\n`;
      const idx = mode === 'c' ? `P[${base}u] / 4u + j` : `(P[${base}u] + (j * 4u) % P[${base + 1}u]) / 4u`;
      loads += `  let x${k} = X${b}[${idx}];\n`;
      for (let c = 0; c < 4; c++) lanes[c] += `    let v${k} = ${T}(x${k}[${c}]);\n`;
    }
    b++;
  });
  const O = wgslType(outType);
  return `${decl}@group(0) @binding(${b}) var<storage, read_write> O: array<vec4<${O}>>;
@group(0) @binding(${b + 1}) var<storage, read> P: array<u32>;
${helpers}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = ${LINEAR_ID(WG)};
  if (j >= P[0]) { return; }
${loads}  var o: vec4<${O}>;
${lanes.map((l, c) => `  {\n    let i = j * 4u + ${c}u;\n${l}    o[${c}] = ${O}(${expr});\n  }`).join('\n')}
  O[j] = o;
}
`;
}

export { contiguousStrides };
