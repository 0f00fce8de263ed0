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
  for (const op of operands) {
    if (typeof op === 'number') {
      modes.push('k');
      continue;
    }
    if (!(op instanceof Tensor)) {
      modes.push('u');
      continue;
    }
    const contiguousSame = sameShape(op.shape, shape) && isContiguous(op.shape, op.strides);
    modes.push((contiguousSame ? 'c' : 's') + op.dtype[0]);
    bufs.push(op.storage.buf);
  }
  // Parameter layout after [n, rank, shape...]: per operand either [offset, strides...] or [scalar bits].
  const bases: number[] = [];
  operands.forEach((op) => {
    bases.push(params.length);
    if (typeof op === 'number') {
      params.push(computeType === 'f32' ? f32bits(op) : op | 0);
    } else if (!(op instanceof Tensor)) {
      params.push(op.u32 >>> 0);
    } else {
      params.push(op.offset);
      const st = broadcastStrides(op.shape, op.strides, shape);
      if (!(sameShape(op.shape, shape) && isContiguous(op.shape, op.strides))) params.push(...st);
    }
  });
  // The expression is part of the key: ops that share a name but not an expression must not share a pipeline.
  const key = `ew:${name}:${computeType}>${outType}:${modes.join(',')}:${bases.join(',')}:${expr}`;
  const kernel: Kernel = {
    key,
    nIn: bufs.length,
    nOut: 1,
    code: () => {
      const T = wgslType(computeType);
      let decl = '';
      let body = '';
      let b = 0;
      operands.forEach((op, k) => {
        const base = bases[k];
        if (typeof op === 'number') {
          body += `  let v${k} = ${computeType === 'f32' ? `bitcast<f32>(P[${base}u])` : `bitcast<i32>(P[${base}u])`};\n`;
          return;
        }
        if (!(op instanceof Tensor)) {
          body += `  let v${k} = P[${base}u];\n`;
          return;
        }
        decl += `@group(0) @binding(${b}) var<storage, read> X${b}: array<${wgslType(op.dtype)}>;\n`;
        const idx = modes[k][0] === 'c' ? `P[${base}u] + i` : `strided(i, ${base}u)`;
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
    },
  };
  dispatch(kernel, bufs, [out.storage.buf], params, grid(n, WG));
  return out;
}

export { contiguousStrides };
