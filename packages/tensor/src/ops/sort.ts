import { record } from '../autograd.ts';
import { dispatch, grid, LINEAR_ID } from '../engine.ts';
import { defineKernel } from '../kernel.ts';
import { KdgpuError } from '../errors.ts';
import { normAxis, numel } from '../shape.ts';
import { Storage } from '../storage.ts';
import { Tensor } from '../tensor.ts';
import { scatterAdd } from './movement.ts';

/**
 * Sorting along the last axis on the GPU: a bitonic network over each row padded to a power of
 * two (padding sorts last), one dispatch per network stage, carrying (value, index) pairs. The
 * gradient of the sorted values flows back through the permutation (a scatter by the indices).
 * Ties keep the lower index first, so the result is deterministic.
 */

const WG = 64;

// Copy rows into the padded work buffers: values (padding = -inf for descending, +inf ascending) and indices.
// rows of L elements, padded to Pw; desc = 1 for descending.
const INIT = defineKernel({
  key: 'sort_init',
  inputs: { X: 'f32' },
  outputs: { V: 'f32', I: 'i32' },
  params: { rows: 'u32', L: 'u32', Pw: 'u32', xOff: 'u32', desc: 'u32' },
  body: () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = ${LINEAR_ID(WG)};
  let L = params.L;
  let Pw = params.Pw;
  if (k >= params.rows * Pw) { return; }
  let r = k / Pw;
  let j = k % Pw;
  if (j < L) { V[k] = X[params.xOff + r * L + j]; I[k] = i32(j); }
  else { V[k] = select(bitsToF32(0x7f800000u), bitsToF32(0xff800000u), params.desc == 1u); I[k] = i32(j); }
}`,
});

// One compare-exchange stage (block size kk, distance jj) of the bitonic network.
const STEP = defineKernel({
  key: 'sort_step',
  inputs: {},
  outputs: { V: 'f32', I: 'i32' },
  params: { rows: 'u32', Pw: 'u32', desc: 'u32', kk: 'u32', jj: 'u32' },
  body: () => `fn before(va: f32, ia: i32, vb: f32, ib: i32, desc: bool) -> bool {
  // Whether (va, ia) sorts strictly before (vb, ib); NaN sorts last; ties by index.
  if (va != va) { return false; }
  if (vb != vb) { return true; }
  if (va == vb) { return ia < ib; }
  return select((va < vb), (va > vb), desc);
}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = ${LINEAR_ID(WG)};
  let Pw = params.Pw;
  let half = Pw / 2u;
  if (t >= params.rows * half) { return; }
  let kk = params.kk;
  let jj = params.jj;
  let r = t / half;
  let q = t % half;
  // The q-th pair of this stage: i has bit jj clear, partner i ^ jj.
  let i = (q / jj) * 2u * jj + (q % jj);
  let p = i + jj;
  let up = (i & kk) == 0u;
  let a = r * Pw + i;
  let b = r * Pw + p;
  let desc = params.desc == 1u;
  // In an "up" block the pair must end in the requested order, in a "down" block reversed.
  if ((up && before(V[b], I[b], V[a], I[a], desc)) || (!up && before(V[a], I[a], V[b], I[b], desc))) {
    let tv = V[a]; V[a] = V[b]; V[b] = tv;
    let ti = I[a]; I[a] = I[b]; I[b] = ti;
  }
}`,
});

// Drop the padding: the first L of each padded row.
const crop = (T: 'f32' | 'i32') =>
  defineKernel({
    key: `sort_crop:${T}`,
    inputs: { S: T },
    outputs: { O: T },
    params: { rows: 'u32', L: 'u32', Pw: 'u32' },
    body: () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = ${LINEAR_ID(WG)};
  let L = params.L;
  if (k >= params.rows * L) { return; }
  O[k] = S[(k / L) * params.Pw + (k % L)];
}`,
  });
const CROP = { f32: crop('f32'), i32: crop('i32') } as const;

/**
 * Sorts along `axis` (the last by default): returns the sorted values and, as i32, where each
 * came from. Descending by default. Differentiable in the values.
 */
export function sort(x: Tensor, opts: { axis?: number; descending?: boolean } = {}): { values: Tensor; indices: Tensor } {
  x._assertLive('sort');
  if (x.dtype !== 'f32') throw new KdgpuError(`sort: needs an f32 tensor, got ${x.dtype}`);
  const axis = normAxis('sort', opts.axis ?? -1, x.rank);
  if (axis !== x.rank - 1) {
    const perm = [...Array(x.rank).keys()];
    [perm[axis], perm[x.rank - 1]] = [perm[x.rank - 1], perm[axis]];
    const r = sort(x.permute(perm), { descending: opts.descending });
    return { values: r.values.permute(perm), indices: r.indices.permute(perm) };
  }
  const desc = opts.descending ?? true;
  const L = x.shape[x.rank - 1];
  const rows = L === 0 ? 0 : numel(x.shape) / L;
  let Pw = 1;
  while (Pw < L) Pw *= 2;
  if (Pw > 1 << 24) throw new KdgpuError(`sort: rows of ${L} elements are too long`);
  const xc = x.isContiguous && x.offset === 0 ? x : x.contiguous();
  const wv = Tensor._make(Storage.alloc(rows * Pw, 'f32', [rows, Pw]), [rows, Pw]);
  const wi = Tensor._make(Storage.alloc(rows * Pw, 'i32', [rows, Pw]), [rows, Pw]);
  const d = desc ? 1 : 0;
  dispatch(INIT, { X: xc.storage.buf, V: wv.storage.buf, I: wi.storage.buf }, { rows, L, Pw, xOff: xc.offset, desc: d }, grid(rows * Pw, WG));
  if (xc !== x) xc.dispose();
  for (let kk = 2; kk <= Pw; kk *= 2) {
    for (let jj = kk / 2; jj >= 1; jj /= 2) {
      dispatch(STEP, { V: wv.storage.buf, I: wi.storage.buf }, { rows, Pw, desc: d, kk, jj }, grid((rows * Pw) / 2, WG));
    }
  }
  const values = Tensor._make(Storage.alloc(rows * L, 'f32', x.shape), x.shape);
  const indices = Tensor._make(Storage.alloc(rows * L, 'i32', x.shape), x.shape);
  dispatch(CROP.f32, { S: wv.storage.buf, O: values.storage.buf }, { rows, L, Pw }, grid(rows * L, WG));
  dispatch(CROP.i32, { S: wi.storage.buf, O: indices.storage.buf }, { rows, L, Pw }, grid(rows * L, WG));
  wv.dispose();
  wi.dispose();
  const shape = x.shape;
  record(values, 'sort', [x], [indices], (g, [idx]) => [scatterAdd(shape, shape.length - 1, idx, g.contiguous())]);
  return { values, indices };
}
