import { record } from '../autograd.ts';
import { dispatch, grid, LINEAR_ID } from '../engine.ts';
import { defineKernel } from '../kernel.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import { noGrad } from '../autograd.ts';
import type { Tensor } from '../tensor.ts';
import { dense, dropCopy, empty, WG } from './util.ts';

/**
 * Fused cross-entropy from logits [N, V] and labels [N] (i32) with ignore_index: the forward
 * computes each row's log-sum-exp and loss in one workgroup (no log-probability matrix is stored);
 * the backward writes d logits = (softmax - onehot) * scale directly, so the only [N, V] buffer
 * besides the logits is the gradient itself. Call it on row chunks to bound memory further
 * (with `reduction: 'sum'`, then divide by the total count).
 */

const RED = 64;

// N rows of V logits X and labels Y. Outputs: per-row loss (0 where ignored), per-row lse.
const PARAMS = { N: 'u32', V: 'u32', ignoreIndex: 'i32' } as const;
const FWD = defineKernel({
  key: 'ce_fwd',
  inputs: { X: 'f32', Y: 'i32' },
  outputs: { LOSS: 'f32', LSE: 'f32' },
  params: PARAMS,
  body: () => `var<workgroup> red: array<f32, ${RED}>;
@compute @workgroup_size(${RED})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = wid.x + wid.y * nwg.x;
  let V = params.V;
  let valid = r < params.N;
  let base = r * V;
  var m = bitsToF32(0xff800000u);
  if (valid) { for (var j = lid.x; j < V; j += ${RED}u) { m = max(m, X[base + j]); } }
  red[lid.x] = m;
  workgroupBarrier();
  for (var s = ${RED / 2}u; s > 0u; s >>= 1u) {
    if (lid.x < s) { red[lid.x] = max(red[lid.x], red[lid.x + s]); }
    workgroupBarrier();
  }
  let mx = red[0];
  // A row of -inf gets shift 0, so its lse is -inf rather than NaN.
  let shift = select(0.0, mx, abs(mx) < bitsToF32(0x7f800000u));
  workgroupBarrier();
  var acc = 0.0;
  if (valid) { for (var j = lid.x; j < V; j += ${RED}u) { acc += exp(X[base + j] - shift); } }
  red[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${RED / 2}u; s > 0u; s >>= 1u) {
    if (lid.x < s) { red[lid.x] = red[lid.x] + red[lid.x + s]; }
    workgroupBarrier();
  }
  if (valid && lid.x == 0u) {
    let lse = shift + log(red[0]);
    LSE[r] = lse;
    let y = Y[r];
    if (y == params.ignoreIndex || y < 0 || u32(y) >= V) { LOSS[r] = 0.0; } else { LOSS[r] = lse - X[base + u32(y)]; }
  }
}`,
});

// d logits[r, j] = (exp(x - lse) - [j == y]) * scale[0] for valid rows, 0 otherwise.
const BWD = defineKernel({
  key: 'ce_bwd',
  inputs: { X: 'f32', Y: 'i32', LSE: 'f32', SC: 'f32' },
  outputs: { DX: 'f32' },
  params: PARAMS,
  body: () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${LINEAR_ID(WG)};
  let V = params.V;
  if (i >= params.N * V) { return; }
  let r = i / V;
  let j = i % V;
  let y = Y[r];
  if (y == params.ignoreIndex || y < 0 || u32(y) >= V) { DX[i] = 0.0; return; }
  DX[i] = (exp(X[i] - LSE[r]) - select(0.0, 1.0, u32(y) == j)) * SC[0];
}`,
});

/**
 * Cross-entropy of logits [N, V] against labels [N] (i32), skipping `ignoreIndex` (and any label
 * outside 0..V-1). `reduction: 'mean'` (default) divides by the number of valid labels (0 when
 * there are none, not NaN); `'sum'` does not. Returns a scalar.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, opts: { ignoreIndex?: number; reduction?: 'mean' | 'sum' } = {}): Tensor {
  logits._assertLive('crossEntropy');
  labels._assertLive('crossEntropy');
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new KdgpuError(`crossEntropy: logits must be [N, V] and labels [N]; got ${fmtShape(logits.shape)} and ${fmtShape(labels.shape)} (reshape [B, T, V] to [B*T, V])`);
  }
  if (labels.dtype !== 'i32') throw new KdgpuError(`crossEntropy: labels must be i32, got ${labels.dtype}`);
  const ignore = opts.ignoreIndex ?? -100;
  const mean = (opts.reduction ?? 'mean') === 'mean';
  const [N, V] = logits.shape;
  const x = dense('crossEntropy', logits);
  const y = labels.contiguous();
  const rowLoss = empty([N]);
  const lse = empty([N]);
  dispatch(FWD, { X: x.storage.buf, Y: y.storage.buf, LOSS: rowLoss.storage.buf, LSE: lse.storage.buf }, { N, V, ignoreIndex: ignore }, grid(N, 1));
  const total = noGrad(() => rowLoss.sum());
  const denom = noGrad(() => (mean ? y.ne(ignore).mul(y.ge(0)).mul(y.lt(V)).sum().maximum(1) : null));
  const out = denom ? noGrad(() => total.div(denom)) : total;
  record(out, 'crossEntropy', [logits], denom ? [x, y, lse, denom] : [x, y, lse], (g, [xs, ys, ls, dn]) => {
    const scale = dn ? g.div(dn) : g.contiguous();
    const dx = empty([N, V]);
    const bufs = { X: xs.storage.buf, Y: ys.storage.buf, LSE: ls.storage.buf, SC: scale.storage.buf, DX: dx.storage.buf };
    dispatch(BWD, bufs, { N, V, ignoreIndex: ignore }, grid(N * V, WG));
    return [dx];
  });
  dropCopy(x, logits);
  if (y !== labels) y.dispose();
  for (const t of [rowLoss, lse]) t.dispose();
  if (denom) {
    total.dispose();
    denom.dispose();
  }
  return out;
}
