import { record } from '../autograd.ts';
import { dispatch, grid, type Kernel, LINEAR_ID } from '../engine.ts';
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
const INIT: Kernel = {
  key: 'sort_init',
  nIn: 1,
  nOut: 2,
  code: () => `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> V: array<f32>;
@group(0) @binding(2) var<storage, read_write> I: array<i32>;
@group(0) @binding(3) var<storage, read> P: array<u32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = ${LINEAR_ID(WG)};
  let L = P[1];
  let Pw = P[2];
  if (k >= P[0] * Pw) { return; }
  let r = k / Pw;
  let j = k % Pw;
  if (j < L) { V[k] = X[P[3] + r * L + j]; I[k] = i32(j); }
  else { V[k] = select(bitsToF32(0x7f800000u), bitsToF32(0xff800000u), P[4] == 1u); I[k] = i32(j); }
}`,
};

// One compare-exchange stage (block size kk, distance jj) of the bitonic network.
const STEP: Kernel = {
  key: 'sort_step',
  nIn: 0,
  nOut: 2,
  code: () => `@group(0) @binding(0) var<storage, read_write> V: array<f32>;
@group(0) @binding(1) var<storage, read_write> I: array<i32>;
@group(0) @binding(2) var<storage, read> P: array<u32>;
fn before(va: f32, ia: i32, vb: f32, ib: i32, desc: bool) -> bool {
  // Whether (va, ia) sorts strictly before (vb, ib); NaN sorts last; ties by index.
  if (va != va) { return false; }
  if (vb != vb) { return true; }
  if (va == vb) { return ia < ib; }
  return select((va < vb), (va > vb), desc);
}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = ${LINEAR_ID(WG)};
  let Pw = P[2];
  let half = Pw / 2u;
  if (t >= P[0] * half) { return; }
  let kk = P[5];
  let jj = P[6];
  let r = t / half;
  let q = t % half;
  // The q-th pair of this stage: i has bit jj clear, partner i ^ jj.
  let i = (q / jj) * 2u * jj + (q % jj);
  let p = i + jj;
  let up = (i & kk) == 0u;
  let a = r * Pw + i;
  let b = r * Pw + p;
  let desc = P[4] == 1u;
  // In an "up" block the pair must end in the requested order, in a "down" block reversed.
  if ((up && before(V[b], I[b], V[a], I[a], desc)) || (!up && before(V[a], I[a], V[b], I[b], desc))) {
    let tv = V[a]; V[a] = V[b]; V[b] = tv;
    let ti = I[a]; I[a] = I[b]; I[b] = ti;
  }
}`,
};

// Drop the padding: the first L of each padded row.
const CROP = (T: 'f32' | 'i32'): Kernel => ({
  key: `sort_crop:${T}`,
  nIn: 1,
  nOut: 1,
  code: () => `@group(0) @binding(0) var<storage, read> S: array<${T}>;
@group(0) @binding(1) var<storage, read_write> O: array<${T}>;
@group(0) @binding(2) var<storage, read> P: array<u32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = ${LINEAR_ID(WG)};
  let L = P[1];
  if (k >= P[0] * L) { return; }
  O[k] = S[(k / L) * P[2] + (k % L)];
}`,
});

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
  const base = [rows, L, Pw, xc.offset, desc ? 1 : 0];
  dispatch(INIT, [xc.storage.buf], [wv.storage.buf, wi.storage.buf], base, grid(rows * Pw, WG));
  if (xc !== x) xc.dispose();
  for (let kk = 2; kk <= Pw; kk *= 2) {
    for (let jj = kk / 2; jj >= 1; jj /= 2) {
      dispatch(STEP, [], [wv.storage.buf, wi.storage.buf], [...base, kk, jj], grid((rows * Pw) / 2, WG));
    }
  }
  const values = Tensor._make(Storage.alloc(rows * L, 'f32', x.shape), x.shape);
  const indices = Tensor._make(Storage.alloc(rows * L, 'i32', x.shape), x.shape);
  dispatch(CROP('f32'), [wv.storage.buf], [values.storage.buf], base, grid(rows * L, WG));
  dispatch(CROP('i32'), [wi.storage.buf], [indices.storage.buf], base, grid(rows * L, WG));
  wv.dispose();
  wi.dispose();
  const shape = x.shape;
  record(values, 'sort', [x], [indices], (g, [idx]) => [scatterAdd(shape, shape.length - 1, idx, g.contiguous())]);
  return { values, indices };
}
