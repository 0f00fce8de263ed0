import { record } from '../autograd.ts';
import { dispatch, f32bits, grid, type Kernel, LINEAR_ID } from '../engine.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { dense, dropCopy, empty, WG } from './util.ts';

/**
 * Fused LayerNorm (GPT-2) and RMSNorm (LLaMA) over the last axis: one thread per row computes the
 * statistics and writes the row, saving mean and 1/std for the backward; the backward computes dx
 * per row and dw (and db) per column, each in one pass.
 */

const HEAD = (nIn: number, nOut: number) =>
  [...Array(nIn).keys()].map((i) => `@group(0) @binding(${i}) var<storage, read> I${i}: array<f32>;`).join('\n') + '\n' +
  [...Array(nOut).keys()].map((i) => `@group(0) @binding(${nIn + i}) var<storage, read_write> O${i}: array<f32>;`).join('\n') +
  `\n@group(0) @binding(${nIn + nOut}) var<storage, read> P: array<u32>;\n`;
const MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = ${LINEAR_ID(WG)};`;

// P: [rows, C, eps bits, xOff, wOff, bOff]
const fwdKernel = (rms: boolean, bias: boolean): Kernel => ({
  key: `norm_fwd:${rms}:${bias}`,
  nIn: bias ? 3 : 2,
  nOut: 3,
  code: () => `${HEAD(bias ? 3 : 2, 3)}${MAIN}
  if (r >= P[0]) { return; }
  let C = P[1];
  let eps = bitcast<f32>(P[2]);
  let base = P[3] + r * C;
  var mean = 0.0;
  ${rms ? '' : `for (var c = 0u; c < C; c++) { mean += I0[base + c]; }
  mean = mean / f32(C);`}
  var ss = 0.0;
  for (var c = 0u; c < C; c++) { let d = I0[base + c] - mean; ss += d * d; }
  let rstd = inverseSqrt(ss / f32(C) + eps);
  for (var c = 0u; c < C; c++) {
    O0[r * C + c] = (I0[base + c] - mean) * rstd * I1[P[4] + c]${bias ? ' + I2[P[5] + c]' : ''};
  }
  O1[r] = mean;
  O2[r] = rstd;
}`,
});

// dx per row. Inputs: x, w, g, mean, rstd. P: [rows, C, _, xOff, wOff, gOff]
const bwdRowKernel = (rms: boolean): Kernel => ({
  key: `norm_bwd_x:${rms}`,
  nIn: 5,
  nOut: 1,
  code: () => `${HEAD(5, 1)}${MAIN}
  if (r >= P[0]) { return; }
  let C = P[1];
  let xb = P[3] + r * C;
  let gb = P[5] + r * C;
  let mean = I3[r];
  let rstd = I4[r];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = 0u; c < C; c++) {
    let gw = I2[gb + c] * I1[P[4] + c];
    sg += gw;
    sgx += gw * (I0[xb + c] - mean) * rstd;
  }
  sg = sg / f32(C);
  sgx = sgx / f32(C);
  for (var c = 0u; c < C; c++) {
    let xh = (I0[xb + c] - mean) * rstd;
    let gw = I2[gb + c] * I1[P[4] + c];
    O0[r * C + c] = rstd * (gw - ${rms ? '' : 'sg - '}xh * sgx);
  }
}`,
});

// dw (and db) per column. Inputs: x, g, mean, rstd. P: [rows, C, _, xOff, _, gOff]
const bwdColKernel = (bias: boolean): Kernel => ({
  key: `norm_bwd_w:${bias}`,
  nIn: 4,
  nOut: bias ? 2 : 1,
  code: () => `${HEAD(4, bias ? 2 : 1)}${MAIN}
  let c = r;
  let C = P[1];
  if (c >= C) { return; }
  var dw = 0.0;
  var db = 0.0;
  for (var n = 0u; n < P[0]; n++) {
    let g = I1[P[5] + n * C + c];
    dw += g * (I0[P[3] + n * C + c] - I2[n]) * I3[n];
    db += g;
  }
  O0[c] = dw;
  ${bias ? 'O1[c] = db;' : ''}
}`,
});

function norm(op: string, rms: boolean, x: Tensor, w: Tensor, b: Tensor | null, eps: number): Tensor {
  const C = x.shape[x.rank - 1];
  if (w.rank !== 1 || w.shape[0] !== C || (b && (b.rank !== 1 || b.shape[0] !== C))) {
    throw new KdgpuError(`${op}: weight ${fmtShape(w.shape)}${b ? ` and bias ${fmtShape(b.shape)}` : ''} must be [${C}] for input ${fmtShape(x.shape)}`);
  }
  const xd = dense(op, x);
  const wd = dense(op, w);
  const bd = b ? dense(op, b) : null;
  const rows = x.size / Math.max(C, 1);
  const y = empty(x.shape);
  const mean = empty([rows]);
  const rstd = empty([rows]);
  const ins = [xd.storage.buf, wd.storage.buf];
  if (bd) ins.push(bd.storage.buf);
  dispatch(fwdKernel(rms, !!bd), ins, [y.storage.buf, mean.storage.buf, rstd.storage.buf], [rows, C, f32bits(eps), xd.offset, wd.offset, bd?.offset ?? 0], grid(rows, WG));
  dropCopy(xd, x);
  dropCopy(wd, w);
  if (bd && b) dropCopy(bd, b);
  const out = record(y, op, b ? [x, w, b] : [x, w], [x, w, mean, rstd], (g, [xs, ws, ms, rs]) => {
    const xc = xs.contiguous();
    const gc = g.contiguous();
    const wc = ws.contiguous();
    const dx = empty(xs.shape);
    dispatch(bwdRowKernel(rms), [xc.storage.buf, wc.storage.buf, gc.storage.buf, ms.storage.buf, rs.storage.buf], [dx.storage.buf], [rows, C, 0, xc.offset, wc.offset, gc.offset], grid(rows, WG));
    const dw = empty([C]);
    const db = b ? empty([C]) : null;
    dispatch(bwdColKernel(!!b), [xc.storage.buf, gc.storage.buf, ms.storage.buf, rs.storage.buf], db ? [dw.storage.buf, db.storage.buf] : [dw.storage.buf], [rows, C, 0, xc.offset, 0, gc.offset], grid(C, WG));
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
