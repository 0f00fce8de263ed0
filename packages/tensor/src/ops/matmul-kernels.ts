import type { Kernel } from '../engine.ts';

/**
 * Matmul kernel variants. All read A and B through strides (so transposed views need no copy),
 * handle any M, N, K (out-of-range rows/columns are clamped on load and skipped on store), and
 * sum over k in the same order, so every variant gives the same result.
 *
 * - `coalesced(WGX, TM, TN)`: no workgroup memory. Rows come from the workgroup id (A's loads are
 *   uniform across lanes) and lane L owns columns c0 + L + WGX*j, so B's loads are consecutive
 *   across lanes. This suits CPU adapters (lavapipe), where barriers cost more than they save.
 * - `tiled(TS, BK)`: the classic shared-memory tiling with a 4x4 block per invocation, for real
 *   GPUs where workgroup memory and many threads pay.
 *
 * Parameter block (u32): [M, N, K, aOff, sam, sak, bOff, sbk, sbn, 4, batchShape(4),
 * aBatchStrides(4), bBatchStrides(4)]; the grid's z is the flattened batch index.
 */

export interface MatmulVariant {
  readonly name: string;
  readonly kernel: Kernel;
  /** Output rows and columns covered by one workgroup. */
  readonly rowsPerGroup: number;
  readonly colsPerGroup: number;
}

const BATCH = `  var rem = wid.z;
  var aBase = P[3];
  var bBase = P[6];
  for (var d = 4u; d > 0u; d--) {
    let dim = P[9u + d];
    let c = rem % dim;
    rem = rem / dim;
    aBase += c * P[13u + d];
    bBase += c * P[17u + d];
  }`;

const BINDINGS = `@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<storage, read> P: array<u32>;`;

const range = (n: number) => [...Array(n).keys()];

export function coalesced(WGX: number, TM: number, TN: number): MatmulVariant {
  const rows = range(TM);
  const cols = range(TN);
  const code = () => `${BINDINGS}
@compute @workgroup_size(${WGX}, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let M = P[0]; let N = P[1]; let K = P[2];
  let sam = P[4]; let sak = P[5]; let sbk = P[7]; let sbn = P[8];
${BATCH}
  let row0 = wid.y * ${TM}u;
  let col0 = wid.x * ${WGX * TN}u + lid.x;
${rows.map((r) => `  let a${r} = aBase + min(row0 + ${r}u, M - 1u) * sam;`).join('\n')}
${cols.map((c) => `  let b${c} = bBase + min(col0 + ${c * WGX}u, N - 1u) * sbn;`).join('\n')}
${rows.map((r) => cols.map((c) => `  var c${r}_${c} = 0.0;`).join(' ')).join('\n')}
  for (var k = 0u; k < K; k++) {
    let kb = k * sbk;
    let ka = k * sak;
${cols.map((c) => `    let bv${c} = B[b${c} + kb];`).join('\n')}
${rows.map((r) => `    let av${r} = A[a${r} + ka];\n` + cols.map((c) => `    c${r}_${c} += av${r} * bv${c};`).join('\n')).join('\n')}
  }
  let cBase = wid.z * M * N;
${rows
  .map((r) => cols.map((c) => `  if (row0 + ${r}u < M && col0 + ${c * WGX}u < N) { C[cBase + (row0 + ${r}u) * N + col0 + ${c * WGX}u] = c${r}_${c}; }`).join('\n'))
  .join('\n')}
}`;
  return { name: `coalesced-${WGX}x${TM}x${TN}`, kernel: { key: `matmul:coalesced:${WGX}:${TM}:${TN}`, nIn: 2, nOut: 1, code }, rowsPerGroup: TM, colsPerGroup: WGX * TN };
}

/** Shared-memory tiles of TS x TS outputs, (TS/4)^2 invocations each computing 4x4, K in steps of BK. */
export function tiled(TS: number, BK: number): MatmulVariant {
  const L = TS / 4; // invocations per side
  const NT = L * L;
  const code = () => `${BINDINGS}
var<workgroup> As: array<f32, ${TS * BK}>;
var<workgroup> Bs: array<f32, ${BK * TS}>;
@compute @workgroup_size(${L}, ${L}, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let M = P[0]; let N = P[1]; let K = P[2];
  let sam = P[4]; let sak = P[5]; let sbk = P[7]; let sbn = P[8];
${BATCH}
  let tid = lid.y * ${L}u + lid.x;
  let row0 = wid.y * ${TS}u;
  let col0 = wid.x * ${TS}u;
  var acc: array<f32, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }
  for (var k0 = 0u; k0 < K; k0 += ${BK}u) {
    for (var e = tid; e < ${TS * BK}u; e += ${NT}u) {
      let r = e / ${BK}u; let kk = e % ${BK}u;
      let gr = row0 + r; let gk = k0 + kk;
      As[e] = select(0.0, A[aBase + min(gr, M - 1u) * sam + min(gk, K - 1u) * sak], gr < M && gk < K);
      let kb = e / ${TS}u; let c = e % ${TS}u;
      let gk2 = k0 + kb; let gc = col0 + c;
      Bs[e] = select(0.0, B[bBase + min(gk2, K - 1u) * sbk + min(gc, N - 1u) * sbn], gk2 < K && gc < N);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = As[(lid.y * 4u + i) * ${BK}u + kk]; b[i] = Bs[kk * ${TS}u + lid.x * 4u + i]; }
      for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] += a[i] * b[j]; } }
    }
    workgroupBarrier();
  }
  let cBase = wid.z * M * N;
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      let r = row0 + lid.y * 4u + i; let c = col0 + lid.x * 4u + j;
      if (r < M && c < N) { C[cBase + r * N + c] = acc[i * 4u + j]; }
    }
  }
}`;
  return { name: `tiled-${TS}x${BK}`, kernel: { key: `matmul:tiled:${TS}:${BK}`, nIn: 2, nOut: 1, code }, rowsPerGroup: TS, colsPerGroup: TS };
}

/** The candidates the autotuner tries. */
export const CANDIDATES: MatmulVariant[] = [coalesced(8, 4, 8), coalesced(16, 8, 4), coalesced(8, 8, 4), coalesced(32, 4, 4), tiled(64, 16), tiled(32, 16)];
