import { record } from '../autograd.ts';
import { dispatch, grid, type Kernel } from '../engine.ts';
import { Storage } from '../storage.ts';
import { Tensor } from '../tensor.ts';

/**
 * softmax / log-softmax over the last axis in one kernel per direction: a 64-lane workgroup per
 * row finds the max, sums exp(x - max) and writes the row (the composed form takes ~6 dispatches
 * and 3 full-size intermediates). A row of only -inf gives NaN for both, as PyTorch does. The backward is one pass per row as well: softmax dx = y (g - sum(g y)); log-softmax
 * dx = g - exp(y) sum(g).
 */

const RED = 64;

const reduceLoop = (op: string) => `  red[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${RED / 2}u; s > 0u; s >>= 1u) {
    if (lid.x < s) { red[lid.x] = ${op}; }
    workgroupBarrier();
  }`;

const HEAD = (nIn: number) => `${[...Array(nIn).keys()].map((i) => `@group(0) @binding(${i}) var<storage, read> I${i}: array<f32>;`).join('\n')}
@group(0) @binding(${nIn}) var<storage, read_write> O: array<f32>;
@group(0) @binding(${nIn + 1}) var<storage, read> P: array<u32>;
var<workgroup> red: array<f32, ${RED}>;
@compute @workgroup_size(${RED})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = wid.x + wid.y * nwg.x;
  let C = P[1];
  let valid = r < P[0];
  let base = r * C;`;

const fwd = (log: boolean): Kernel => ({
  key: `softmax_fwd:${log}`,
  nIn: 1,
  nOut: 1,
  code: () => `${HEAD(1)}
  var acc = bitsToF32(0xff800000u);
  if (valid) { for (var j = lid.x; j < C; j += ${RED}u) { acc = max(acc, I0[base + j]); } }
${reduceLoop('max(red[lid.x], red[lid.x + s])')}
  let mx = red[0];
  let shift = select(0.0, mx, abs(mx) < bitsToF32(0x7f800000u));
  workgroupBarrier();
  acc = 0.0;
  if (valid) { for (var j = lid.x; j < C; j += ${RED}u) { acc += exp(I0[base + j] - shift); } }
${reduceLoop('red[lid.x] + red[lid.x + s]')}
  let lse = shift + log(red[0]);
  if (valid) {
    for (var j = lid.x; j < C; j += ${RED}u) { O[base + j] = ${log ? 'I0[base + j] - lse' : 'exp(I0[base + j] - lse)'}; }
  }
}`,
});

const bwd = (log: boolean): Kernel => ({
  key: `softmax_bwd:${log}`,
  nIn: 2,
  nOut: 1,
  code: () => `${HEAD(2)}
  var acc = 0.0;
  if (valid) { for (var j = lid.x; j < C; j += ${RED}u) { acc += ${log ? 'I1[base + j]' : 'I1[base + j] * I0[base + j]'}; } }
${reduceLoop('red[lid.x] + red[lid.x + s]')}
  let s0 = red[0];
  if (valid) {
    for (var j = lid.x; j < C; j += ${RED}u) { O[base + j] = ${log ? 'I1[base + j] - exp(I0[base + j]) * s0' : 'I0[base + j] * (I1[base + j] - s0)'}; }
  }
}`,
});

function rowsKernel(k: Kernel, ins: Tensor[], shape: readonly number[]): Tensor {
  const C = shape[shape.length - 1];
  const rows = C === 0 ? 0 : ins[0].size / C;
  const y = Tensor._make(Storage.alloc(ins[0].size, 'f32', shape), shape);
  dispatch(k, ins.map((t) => t.storage.buf), [y.storage.buf], [rows, C], grid(rows, 1));
  return y;
}

/** Fused softmax (log = false) or log-softmax over the last axis of a contiguous f32 tensor. */
export function softmaxLast(x: Tensor, log: boolean): Tensor {
  const xc = x.isContiguous && x.offset === 0 ? x : x.contiguous();
  const y = rowsKernel(fwd(log), [xc], x.shape);
  if (xc !== x) xc.dispose();
  return record(y, log ? 'logSoftmax' : 'softmax', [x], [y], (g, [ys]) => {
    const gc = g.isContiguous && g.offset === 0 ? g : g.contiguous();
    return [rowsKernel(bwd(log), [ys, gc], ys.shape)];
  });
}

