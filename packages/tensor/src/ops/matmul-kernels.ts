import { type BufferType, defineKernel, type Kernel } from '../kernel.ts';

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
 * Parameters (`MATMUL_PARAMS`): sizes M, N, K; A's offset and row and column strides (aOff, sam,
 * sak), B's (bOff, sbk, sbn); the batch shape padded to 4 dims and each operand's batch strides
 * (0 where broadcast). The grid's z is the flattened batch index.
 */

/** The parameters every variant takes. */
export const MATMUL_PARAMS = {
  M: 'u32', N: 'u32', K: 'u32',
  aOff: 'u32', sam: 'u32', sak: 'u32',
  bOff: 'u32', sbk: 'u32', sbn: 'u32',
  batch: ['u32', 4], aBatch: ['u32', 4], bBatch: ['u32', 4],
} as const;

/** A matmul kernel: inputs A and B, output C (element types vary: scalar or vec4). */
export type MatmulKernel = Kernel<{ readonly A: BufferType; readonly B: BufferType }, { readonly C: BufferType }, typeof MATMUL_PARAMS>;

export interface MatmulVariant {
  readonly name: string;
  readonly kernel: MatmulKernel;
  /** Output rows and columns covered by one workgroup. */
  readonly rowsPerGroup: number;
  readonly colsPerGroup: number;
  /**
   * Layout the kernel needs: 'vec4B' = B's rows contiguous, N, B's row stride and offsets
   * multiples of 4; 'vec4AB' = that and the same for A's rows along K. Absent: any strides.
   */
  readonly needs?: 'vec4B' | 'vec4AB';
}

const BATCH = `  var rem = wid.z;
  var aBase = params.aOff;
  var bBase = params.bOff;
  for (var d = 4u; d > 0u; d--) {
    let dim = params.batch[d - 1u];
    let c = rem % dim;
    rem = rem / dim;
    aBase += c * params.aBatch[d - 1u];
    bBase += c * params.bBatch[d - 1u];
  }`;

/** A variant's kernel, declared (`a`, `b`, `c`: element types of A, B and C). */
function matmulKernel(key: string, body: () => string, a: BufferType = 'f32', b: BufferType = 'f32', c: BufferType = 'f32'): MatmulKernel {
  return defineKernel({ key, inputs: { A: a, B: b }, outputs: { C: c }, params: MATMUL_PARAMS, body });
}

const range = (n: number) => [...Array(n).keys()];

export function coalesced(WGX: number, TM: number, TN: number): MatmulVariant {
  const rows = range(TM);
  const cols = range(TN);
  const code = () => `@compute @workgroup_size(${WGX}, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let M = params.M; let N = params.N; let K = params.K;
  let sam = params.sam; let sak = params.sak; let sbk = params.sbk; let sbn = params.sbn;
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
  return { name: `coalesced-${WGX}x${TM}x${TN}`, kernel: matmulKernel(`matmul:coalesced:${WGX}:${TM}:${TN}`, code), rowsPerGroup: TM, colsPerGroup: WGX * TN };
}

/** Shared-memory tiles of TS x TS outputs, (TS/4)^2 invocations each computing 4x4, K in steps of BK. */
export function tiled(TS: number, BK: number): MatmulVariant {
  const L = TS / 4; // invocations per side
  const NT = L * L;
  const code = () => `var<workgroup> As: array<f32, ${TS * BK}>;
var<workgroup> Bs: array<f32, ${BK * TS}>;
@compute @workgroup_size(${L}, ${L}, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let M = params.M; let N = params.N; let K = params.K;
  let sam = params.sam; let sak = params.sak; let sbk = params.sbk; let sbn = params.sbn;
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
  return { name: `tiled-${TS}x${BK}`, kernel: matmulKernel(`matmul:tiled:${TS}:${BK}`, code), rowsPerGroup: TS, colsPerGroup: TS };
}

/**
 * `vec4(WGX, TM, NV)`: like `coalesced`, but B and C are read and written as vec4 (four adjacent
 * columns per load), so one load feeds 4*TM multiply-adds. Lane L owns column groups
 * g0 + L + WGX*j. Needs B's rows contiguous and 16-byte aligned (`vec4Ok`); `matmul.ts` falls back
 * to a scalar variant otherwise. Per output, k is still summed in order with one accumulator.
 * `aVec` also reads A four k at a time when A's rows are contiguous and aligned.
 */
export function vec4(WGX: number, TM: number, NV: number, aVec = false): MatmulVariant {
  const rows = range(TM);
  const cols = range(NV);
  const kSteps = range(4);
  const code = () => `@compute @workgroup_size(${WGX}, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let M = params.M; let N = params.N; let K = params.K;
  let sam = params.sam; let sak = params.sak; let sbk = params.sbk / 4u;
${BATCH}
  let N4 = N / 4u;
  let row0 = wid.y * ${TM}u;
  let g0 = wid.x * ${WGX * NV}u + lid.x;
${rows.map((r) => `  let a${r} = ${aVec ? '(' : ''}aBase + min(row0 + ${r}u, M - 1u) * sam${aVec ? ') / 4u' : ''};`).join('\n')}
${cols.map((c) => `  let b${c} = bBase / 4u + min(g0 + ${c * WGX}u, N4 - 1u);`).join('\n')}
${rows.map((r) => cols.map((c) => `  var c${r}_${c} = vec4f(0.0);`).join(' ')).join('\n')}
${
  aVec
    ? `  for (var k = 0u; k < K; k += 4u) {
    let k4 = k / 4u;
${rows.map((r) => `    let av${r} = A[a${r} + k4];`).join('\n')}
${kSteps
  .map(
    (s) =>
      `    {\n      let kb = (k + ${s}u) * sbk;\n` +
      cols.map((c) => `      let bv${c} = B[b${c} + kb];`).join('\n') +
      '\n' +
      rows.map((r) => cols.map((c) => `      c${r}_${c} += av${r}[${s}] * bv${c};`).join('\n')).join('\n') +
      '\n    }',
  )
  .join('\n')}
  }`
    : `  for (var k = 0u; k < K; k++) {
    let kb = k * sbk;
    let ka = k * sak;
${cols.map((c) => `    let bv${c} = B[b${c} + kb];`).join('\n')}
${rows.map((r) => `    let av${r} = A[a${r} + ka];\n` + cols.map((c) => `    c${r}_${c} += av${r} * bv${c};`).join('\n')).join('\n')}
  }`
}
  let cBase = wid.z * M * N4;
${rows.map((r) => cols.map((c) => `  if (row0 + ${r}u < M && g0 + ${c * WGX}u < N4) { C[cBase + (row0 + ${r}u) * N4 + g0 + ${c * WGX}u] = c${r}_${c}; }`).join('\n')).join('\n')}
}`;
  const name = `vec4${aVec ? 'a' : ''}-${WGX}x${TM}x${NV}`;
  return { name, kernel: matmulKernel(`matmul:${name}`, code, aVec ? 'vec4f' : 'f32', 'vec4f', 'vec4f'), rowsPerGroup: TM, colsPerGroup: WGX * NV * 4, needs: aVec ? 'vec4AB' : 'vec4B' };
}

/** The 16x16 shared-memory kernel of the textbooks (one output per invocation): the bench's yardstick, never chosen. */
export function textbook(): MatmulVariant {
  const code = () => `var<workgroup> As: array<f32, 256>;
var<workgroup> Bs: array<f32, 256>;
@compute @workgroup_size(16, 16, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let M = params.M; let N = params.N; let K = params.K;
  let sam = params.sam; let sak = params.sak; let sbk = params.sbk; let sbn = params.sbn;
${BATCH}
  let r = wid.y * 16u + lid.y;
  let c = wid.x * 16u + lid.x;
  var acc = 0.0;
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    let ka = k0 + lid.x; let kb = k0 + lid.y;
    As[lid.y * 16u + lid.x] = select(0.0, A[aBase + min(r, M - 1u) * sam + min(ka, K - 1u) * sak], r < M && ka < K);
    Bs[lid.y * 16u + lid.x] = select(0.0, B[bBase + min(kb, K - 1u) * sbk + min(c, N - 1u) * sbn], kb < K && c < N);
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) { acc += As[lid.y * 16u + kk] * Bs[kk * 16u + lid.x]; }
    workgroupBarrier();
  }
  if (r < M && c < N) { C[wid.z * M * N + r * N + c] = acc; }
}`;
  return { name: 'textbook-16x16', kernel: matmulKernel('matmul:textbook', code), rowsPerGroup: 16, colsPerGroup: 16 };
}

/** The candidates the autotuner tries. */
export const CANDIDATES: MatmulVariant[] = [
  vec4(8, 16, 2), vec4(8, 8, 4), vec4(8, 8, 2), vec4(16, 8, 1, true),
  coalesced(8, 4, 8), coalesced(16, 8, 4), tiled(64, 16), tiled(32, 16),
];

/** Whether `v` can run on operands with this layout (see `MatmulVariant.needs`). */
export function layoutOk(v: MatmulVariant, l: { N: number; K: number; a: readonly number[]; b: readonly number[] }): boolean {
  // l.a / l.b: [offset, row stride, column stride, ...batch strides] in elements.
  const aligned = (xs: readonly number[]) => xs.every((x) => x % 4 === 0);
  if (!v.needs) return true;
  const aRows = l.a[2] === 1 && l.K % 4 === 0 && aligned([l.a[0], l.a[1], ...l.a.slice(3)]);
  const bOk = l.b[2] === 1 && l.N % 4 === 0 && aligned([l.b[0], l.b[1], ...l.b.slice(3)]);
  if (v.needs === 'vec4B') return bOk;
  return bOk && aRows;
}
