import { dispatch, grid, LINEAR_ID } from '../engine.ts';
import { type BufferType, defineKernel, type Kernel, type ParamType } from '../kernel.ts';
import type { Buf } from '../pool.ts';
import { Storage, type DType, wgslType } from '../storage.ts';
import { broadcastStrides, contiguousStrides, isContiguous, numel, sameShape } from '../shape.ts';
import { Tensor } from '../tensor.ts';

/**
 * One generated kernel for every elementwise op: any number of operands, each a tensor read
 * through strides (broadcast dims have stride 0, so views and broadcasting need no copies), a
 * contiguous tensor of the output's shape (fast path: `base + i`), or a scalar passed in the
 * parameter block. The output is contiguous. The kernel's interface (buffers `x0`, `x1`, ... and
 * `out`, and each operand's parameters) is declared per call with `defineKernel`, like any other.
 */

/**
 * A tensor, a number (in the compute type), or a scalar of a fixed type whatever the compute
 * type: `{ u32 }` (counts, keys) or `{ f32 }` (a float in an integer computation).
 */
export type Operand = Tensor | number | { u32: number } | { f32: number };

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
  // Operand k: tensor `Xk` with parameters `offk` and, by mode, `mk` (r: the period, q: the inner
  // size) or `stk` (s: its strides, over `shape`); a scalar is parameter `sk`.
  const modes: string[] = [];
  const params: Record<string, number | ArrayLike<number>> = { n };
  const buffers: Record<string, Buf> & { out: Buf } = { out: out.storage.buf };
  // Four elements per invocation, loaded and stored as vec4, when every tensor operand can be
  // read that way: on CPU adapters the per-invocation overhead (index math, bounds checks,
  // robustness clamps) costs more than the arithmetic, and this quarters it. The expression still
  // runs per element, so any scalar WGSL expression works unchanged.
  let v4 = n % 4 === 0;
  let strided = false;
  operands.forEach((op, k) => {
    if (!(op instanceof Tensor)) {
      const [mode, value] = typeof op === 'number' ? ['k', op] : 'u32' in op ? ['u', op.u32 >>> 0] : ['f', op.f32];
      modes.push(mode as string);
      params[`s${k}`] = value as number;
      return;
    }
    const { mode, extra } = modeOf(op, shape);
    modes.push(mode + op.dtype[0]);
    buffers[`X${k}`] = op.storage.buf;
    params[`off${k}`] = op.offset;
    if (mode === 'r' || mode === 'q') params[`m${k}`] = extra;
    if (mode === 's') {
      params[`st${k}`] = broadcastStrides(op.shape, op.strides, shape);
      strided = true;
    }
    if (mode === 's' || (mode !== 'q' && op.offset % 4 !== 0) || (mode !== 'c' && extra % 4 !== 0)) v4 = false;
  });
  if (strided) {
    params.rank = shape.length;
    params.shape = shape;
  }
  if (v4) params.n = n / 4;
  // The expression is part of the key: ops that share a name but not an expression must not share a pipeline.
  const key = `ew:${name}:${computeType}>${outType}:${v4 ? 'v4' : 's'}:${modes.join(',')}:${expr}`;
  let kernel = declared.get(key);
  if (!kernel) {
    kernel = declare(key, operands, modes, v4, computeType, outType, expr, helpers);
    declared.set(key, kernel);
  }
  dispatch(kernel, buffers, params, grid(v4 ? n / 4 : n, WG));
  return out;
}

/** Declared kernels by key: the declaration depends only on what the key names. */
const declared = new Map<string, Kernel<Record<string, BufferType>, { out: BufferType }, Record<string, ParamType>>>();

function declare(key: string, operands: readonly Operand[], modes: readonly string[], v4: boolean, computeType: DType, outType: DType, expr: string, helpers: string) {
  const inputs: Record<string, BufferType> = {};
  const decl: Record<string, ParamType> = { n: 'u32' };
  const isTensor = operands.map((op) => op instanceof Tensor);
  operands.forEach((op, k) => {
    const m = modes[k][0];
    if (!(op instanceof Tensor)) {
      decl[`s${k}`] = m === 'k' ? computeType : m === 'u' ? 'u32' : 'f32';
      return;
    }
    inputs[`X${k}`] = v4 && m !== 'q' ? VEC4[op.dtype] : op.dtype;
    decl[`off${k}`] = 'u32';
    if (m === 'r' || m === 'q') decl[`m${k}`] = 'u32';
    if (m === 's') decl[`st${k}`] = ['u32', MAX_RANK];
  });
  if (modes.some((m) => m[0] === 's')) {
    decl.rank = 'u32';
    decl.shape = ['u32', MAX_RANK];
  }
  return defineKernel({
    key,
    inputs,
    outputs: { out: v4 ? VEC4[outType] : outType } as { out: BufferType },
    params: decl,
    body: () => (v4 ? vec4Code : scalarCode)(isTensor, modes, computeType, outType, expr, helpers),
  });
}

const VEC4 = { f32: 'vec4f', i32: 'vec4i' } as const satisfies Record<DType, BufferType>;

function scalarCode(isTensor: readonly boolean[], modes: readonly string[], computeType: DType, outType: DType, expr: string, helpers: string): string {
  const T = wgslType(computeType);
  let body = '';
  isTensor.forEach((t, k) => {
    if (!t) {
      body += `  let v${k} = params.s${k};\n`;
      return;
    }
    const idx = { c: `params.off${k} + i`, r: `params.off${k} + i % params.m${k}`, q: `params.off${k} + i / params.m${k}`, s: `strided${k}(i)` }[modes[k][0] as Mode];
    body += `  let v${k} = ${T}(X${k}[${idx}]);\n`;
  });
  // One index function per strided operand: WGSL cannot pass a struct member's array by reference.
  const strided = modes
    .map((_, k) => (modes[k][0] !== 's' ? '' : `fn strided${k}(i: u32) -> u32 {
  var rem = i;
  var o = params.off${k};
  for (var d = params.rank; d > 0u; d--) {
    let dim = params.shape[d - 1u];
    o += (rem % dim) * params.st${k}[d - 1u];
    rem = rem / dim;
  }
  return o;
}
`))
    .join('');
  return `${strided}${helpers}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${LINEAR_ID(WG)};
  if (i >= params.n) { return; }
${body}  out[i] = ${wgslType(outType)}(${expr});
}
`;
}

/** The vec4 form: `params.n` counts vec4s; `c` and `r` operands load a vec4, `q` one value for all four. */
function vec4Code(isTensor: readonly boolean[], modes: readonly string[], computeType: DType, outType: DType, expr: string, helpers: string): string {
  const T = wgslType(computeType);
  let loads = '';
  const lanes = ['', '', '', ''];
  isTensor.forEach((t, k) => {
    if (!t) {
      loads += `  let v${k} = params.s${k};\n`;
      return;
    }
    const mode = modes[k][0] as Mode;
    if (mode === 'q') {
      loads += `  let v${k} = ${T}(X${k}[params.off${k} + (j * 4u) / params.m${k}]);\n`;
    } else {
      const idx = mode === 'c' ? `params.off${k} / 4u + j` : `(params.off${k} + (j * 4u) % params.m${k}) / 4u`;
      loads += `  let x${k} = X${k}[${idx}];\n`;
      for (let c = 0; c < 4; c++) lanes[c] += `    let v${k} = ${T}(x${k}[${c}]);\n`;
    }
  });
  const O = wgslType(outType);
  return `${helpers}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = ${LINEAR_ID(WG)};
  if (j >= params.n) { return; }
${loads}  var o: vec4<${O}>;
${lanes.map((l, c) => `  {\n    let i = j * 4u + ${c}u;\n${l}    o[${c}] = ${O}(${expr});\n  }`).join('\n')}
  out[j] = o;
}
`;
}

export { contiguousStrides };
