import { record } from '../autograd.ts';
import { dispatch, grid } from '../engine.ts';
import { defineKernel } from '../kernel.ts';
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

// One workgroup per row of C elements.
const HEAD = `var<workgroup> red: array<f32, ${RED}>;
@compute @workgroup_size(${RED})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = wid.x + wid.y * nwg.x;
  let C = params.C;
  let valid = r < params.rows;
  let base = r * C;`;

const fwd = (log: boolean) =>
  defineKernel({
    key: `softmax_fwd:${log}`,
    inputs: { x: 'f32' },
    outputs: { y: 'f32' },
    params: { rows: 'u32', C: 'u32' },
    body: () => `${HEAD}
  var acc = bitsToF32(0xff800000u);
  if (valid) { for (var j = lid.x; j < C; j += ${RED}u) { acc = max(acc, x[base + j]); } }
${reduceLoop('max(red[lid.x], red[lid.x + s])')}
  let mx = red[0];
  let shift = select(0.0, mx, abs(mx) < bitsToF32(0x7f800000u));
  workgroupBarrier();
  acc = 0.0;
  if (valid) { for (var j = lid.x; j < C; j += ${RED}u) { acc += exp(x[base + j] - shift); } }
${reduceLoop('red[lid.x] + red[lid.x + s]')}
  let lse = shift + log(red[0]);
  if (valid) {
    for (var j = lid.x; j < C; j += ${RED}u) { y[base + j] = ${log ? 'x[base + j] - lse' : 'exp(x[base + j] - lse)'}; }
  }
}`,
  });

// y: the forward's output, g: its gradient.
const bwd = (log: boolean) =>
  defineKernel({
    key: `softmax_bwd:${log}`,
    inputs: { y: 'f32', g: 'f32' },
    outputs: { dx: 'f32' },
    params: { rows: 'u32', C: 'u32' },
    body: () => `${HEAD}
  var acc = 0.0;
  if (valid) { for (var j = lid.x; j < C; j += ${RED}u) { acc += ${log ? 'g[base + j]' : 'g[base + j] * y[base + j]'}; } }
${reduceLoop('red[lid.x] + red[lid.x + s]')}
  let s0 = red[0];
  if (valid) {
    for (var j = lid.x; j < C; j += ${RED}u) { dx[base + j] = ${log ? 'g[base + j] - exp(y[base + j]) * s0' : 'y[base + j] * (g[base + j] - s0)'}; }
  }
}`,
  });

const FWD = { softmax: fwd(false), log: fwd(true) } as const;
const BWD = { softmax: bwd(false), log: bwd(true) } as const;

/** A contiguous f32 result shaped like `like`, and its row count and length (the last axis). */
function rowsOf(like: Tensor): { out: Tensor; rows: number; C: number } {
  const C = like.shape[like.rank - 1];
  const out = Tensor._make(Storage.alloc(like.size, 'f32', like.shape), like.shape);
  return { out, rows: C === 0 ? 0 : like.size / C, C };
}

/** Fused softmax (log = false) or log-softmax over the last axis of a contiguous f32 tensor. */
export function softmaxLast(x: Tensor, log: boolean): Tensor {
  const xc = x.isContiguous && x.offset === 0 ? x : x.contiguous();
  const { out: y, rows, C } = rowsOf(xc);
  dispatch(FWD[log ? 'log' : 'softmax'], { x: xc.storage.buf, y: y.storage.buf }, { rows, C }, grid(rows, 1));
  if (xc !== x) xc.dispose();
  return record(y, log ? 'logSoftmax' : 'softmax', [x], [y], (g, [ys]) => {
    const gc = g.isContiguous && g.offset === 0 ? g : g.contiguous();
    const { out: dx } = rowsOf(ys);
    dispatch(BWD[log ? 'log' : 'softmax'], { y: ys.storage.buf, g: gc.storage.buf, dx: dx.storage.buf }, { rows, C }, grid(rows, 1));
    return [dx];
  });
}

