import { record } from '../autograd.ts';
import { dispatch, grid, LINEAR_ID } from '../engine.ts';
import { defineKernel } from '../kernel.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { denseAt, dropCopy, empty, WG } from './util.ts';

/**
 * Fused LayerNorm (GPT-2) and RMSNorm (LLaMA) over the last axis: one thread per row computes the
 * statistics and writes the row, saving mean and 1/std for the backward; the backward computes dx
 * per row and dw (and db) per column, each in one pass.
 */

const MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = ${LINEAR_ID(WG)};`;

// rows of C elements; x, w, b (and the upstream gradient g) are read from their offsets.
const FWD_PARAMS = { rows: 'u32', C: 'u32', eps: 'f32', xOff: 'u32', wOff: 'u32' } as const;
const STATS = { y: 'f32', mean: 'f32', rstd: 'f32' } as const;

const fwdBody = (rms: boolean, bias: boolean) => () => `${MAIN}
  if (r >= params.rows) { return; }
  let C = params.C;
  let eps = params.eps;
  let base = params.xOff + r * C;
  var mu = 0.0;
  ${rms ? '' : `for (var c = 0u; c < C; c++) { mu += x[base + c]; }
  mu = mu / f32(C);`}
  var ss = 0.0;
  for (var c = 0u; c < C; c++) { let d = x[base + c] - mu; ss += d * d; }
  let rs = inverseSqrt(ss / f32(C) + eps);
  for (var c = 0u; c < C; c++) {
    y[r * C + c] = (x[base + c] - mu) * rs * w[params.wOff + c]${bias ? ' + b[params.bOff + c]' : ''};
  }
  mean[r] = mu;
  rstd[r] = rs;
}`;

const fwdKernel = (rms: boolean) =>
  defineKernel({ key: `norm_fwd:${rms}:false`, inputs: { x: 'f32', w: 'f32' }, outputs: STATS, params: FWD_PARAMS, body: fwdBody(rms, false) });
const FWD = { rms: fwdKernel(true), layer: fwdKernel(false) } as const;
const FWD_BIAS = defineKernel({
  key: 'norm_fwd:false:true',
  inputs: { x: 'f32', w: 'f32', b: 'f32' },
  outputs: STATS,
  params: { ...FWD_PARAMS, bOff: 'u32' },
  body: fwdBody(false, true),
});

// dx per row.
const bwdRowKernel = (rms: boolean) =>
  defineKernel({
    key: `norm_bwd_x:${rms}`,
    inputs: { x: 'f32', w: 'f32', g: 'f32', mean: 'f32', rstd: 'f32' },
    outputs: { dx: 'f32' },
    params: { rows: 'u32', C: 'u32', xOff: 'u32', wOff: 'u32', gOff: 'u32' },
    body: () => `${MAIN}
  if (r >= params.rows) { return; }
  let C = params.C;
  let xb = params.xOff + r * C;
  let gb = params.gOff + r * C;
  let mu = mean[r];
  let rs = rstd[r];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = 0u; c < C; c++) {
    let gw = g[gb + c] * w[params.wOff + c];
    sg += gw;
    sgx += gw * (x[xb + c] - mu) * rs;
  }
  sg = sg / f32(C);
  sgx = sgx / f32(C);
  for (var c = 0u; c < C; c++) {
    let xh = (x[xb + c] - mu) * rs;
    let gw = g[gb + c] * w[params.wOff + c];
    dx[r * C + c] = rs * (gw - ${rms ? '' : 'sg - '}xh * sgx);
  }
}`,
  });
const BWD_X = { rms: bwdRowKernel(true), layer: bwdRowKernel(false) } as const;

// dw (and db) per column.
const BWD_W_IN = { x: 'f32', g: 'f32', mean: 'f32', rstd: 'f32' } as const;
const BWD_W_PARAMS = { rows: 'u32', C: 'u32', xOff: 'u32', gOff: 'u32' } as const;
const bwdColBody = (bias: boolean) => () => `${MAIN}
  let c = r;
  let C = params.C;
  if (c >= C) { return; }
  var sw = 0.0;
  var sb = 0.0;
  for (var n = 0u; n < params.rows; n++) {
    let gv = g[params.gOff + n * C + c];
    sw += gv * (x[params.xOff + n * C + c] - mean[n]) * rstd[n];
    sb += gv;
  }
  dw[c] = sw;
  ${bias ? 'db[c] = sb;' : ''}
}`;
const BWD_W = defineKernel({ key: 'norm_bwd_w:false', inputs: BWD_W_IN, outputs: { dw: 'f32' }, params: BWD_W_PARAMS, body: bwdColBody(false) });
const BWD_WB = defineKernel({ key: 'norm_bwd_w:true', inputs: BWD_W_IN, outputs: { dw: 'f32', db: 'f32' }, params: BWD_W_PARAMS, body: bwdColBody(true) });

function norm(op: string, rms: boolean, x: Tensor, w: Tensor, b: Tensor | null, eps: number): Tensor {
  const C = x.shape[x.rank - 1];
  if (w.rank !== 1 || w.shape[0] !== C || (b && (b.rank !== 1 || b.shape[0] !== C))) {
    throw new KdgpuError(`${op}: weight ${fmtShape(w.shape)}${b ? ` and bias ${fmtShape(b.shape)}` : ''} must be [${C}] for input ${fmtShape(x.shape)}`);
  }
  const xd = denseAt(op, x);
  const wd = denseAt(op, w);
  const bd = b ? denseAt(op, b) : null;
  const rows = x.size / Math.max(C, 1);
  const y = empty(x.shape);
  const mean = empty([rows]);
  const rstd = empty([rows]);
  const io = { x: xd.storage.buf, w: wd.storage.buf, y: y.storage.buf, mean: mean.storage.buf, rstd: rstd.storage.buf };
  const params = { rows, C, eps, xOff: xd.offset, wOff: wd.offset };
  if (bd) dispatch(FWD_BIAS, { ...io, b: bd.storage.buf }, { ...params, bOff: bd.offset }, grid(rows, WG));
  else dispatch(FWD[rms ? 'rms' : 'layer'], io, params, grid(rows, WG));
  dropCopy(xd, x);
  dropCopy(wd, w);
  if (bd && b) dropCopy(bd, b);
  const out = record(y, op, b ? [x, w, b] : [x, w], [x, w, mean, rstd], (g, [xs, ws, ms, rs]) => {
    const xc = denseAt(op, xs);
    const gc = denseAt(op, g);
    const wc = denseAt(op, ws);
    const stats = { x: xc.storage.buf, g: gc.storage.buf, mean: ms.storage.buf, rstd: rs.storage.buf };
    const dx = empty(xs.shape);
    dispatch(BWD_X[rms ? 'rms' : 'layer'], { ...stats, w: wc.storage.buf, dx: dx.storage.buf }, { rows, C, xOff: xc.offset, wOff: wc.offset, gOff: gc.offset }, grid(rows, WG));
    const dw = empty([C]);
    const db = b ? empty([C]) : null;
    const colParams = { rows, C, xOff: xc.offset, gOff: gc.offset };
    if (db) dispatch(BWD_WB, { ...stats, dw: dw.storage.buf, db: db.storage.buf }, colParams, grid(C, WG));
    else dispatch(BWD_W, { ...stats, dw: dw.storage.buf }, colParams, grid(C, WG));
    return b ? [dx, dw, db] : [dx, dw];
  });
  mean.dispose();
  rstd.dispose();
  return out;
}

/** LayerNorm over the last axis with weight (and optional bias) [C]; biased variance, as PyTorch. */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor | null, eps = 1e-5): Tensor {
  return norm('layerNorm', false, x, weight, bias, eps);
}

/** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight (LLaMA's LlamaRMSNorm). */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): Tensor {
  return norm('rmsNorm', true, x, weight, null, eps);
}
