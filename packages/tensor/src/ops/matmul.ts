import { record } from '../autograd.ts';
import { dispatch, type Kernel } from '../engine.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import { broadcastShapes, numel } from '../shape.ts';
import { Storage } from '../storage.ts';
import { Tensor } from '../tensor.ts';
import { full, sumTo } from './composite.ts';

/**
 * Batched matmul C[b] = A[b] @ B[b], operands read through strides, so transposed views
 * (`x.transpose()` in the backward) cost no copy. Broadcast batch dimensions have stride 0.
 *
 * Each invocation computes an 8x4 block of C; a workgroup is 16x1 invocations covering 8 rows x
 * 64 columns. Rows come from the workgroup id, so A's loads are uniform across lanes, and no
 * workgroup memory is used: on CPU adapters (lavapipe) barriers cost more than they save.
 * Out-of-range rows/columns are clamped on load and skipped on store, keeping the inner loop
 * branch-free. Per-adapter tuned variants come with the transformer-kernels work.
 */

const TM = 8;
const TN = 4;
const WGX = 16;
const MAX_BATCH_RANK = 4;

const KERNEL: Kernel = {
  key: 'matmul:f32:8x4',
  nIn: 2,
  nOut: 1,
  code: () => {
    const rows = [...Array(TM).keys()];
    return `@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<storage, read> P: array<u32>;
// P: [M, N, K, aOff, sam, sak, bOff, sbk, sbn, nb, batchShape(4), aBatchStrides(4), bBatchStrides(4)]
@compute @workgroup_size(${WGX}, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let M = P[0]; let N = P[1]; let K = P[2];
  let sam = P[4]; let sak = P[5]; let sbk = P[7]; let sbn = P[8];
  // Batch offsets.
  var rem = wid.z;
  var aBase = P[3];
  var bBase = P[6];
  for (var d = P[9]; d > 0u; d--) {
    let dim = P[9u + d];
    let c = rem % dim;
    rem = rem / dim;
    aBase += c * P[13u + d];
    bBase += c * P[17u + d];
  }
  let row0 = wid.y * ${TM}u;
  let col0 = (wid.x * ${WGX}u + lid.x) * ${TN}u;
  let lastR = M - 1u;
  let lastC = N - 1u;
${rows.map((r) => `  let a${r} = aBase + min(row0 + ${r}u, lastR) * sam;`).join('\n')}
  let b0 = bBase + min(col0, lastC) * sbn;
  let b1 = bBase + min(col0 + 1u, lastC) * sbn;
  let b2 = bBase + min(col0 + 2u, lastC) * sbn;
  let b3 = bBase + min(col0 + 3u, lastC) * sbn;
${rows.map((r) => `  var c${r} = vec4<f32>(0.0);`).join('\n')}
  for (var k = 0u; k < K; k++) {
    let kb = k * sbk;
    let bv = vec4<f32>(B[b0 + kb], B[b1 + kb], B[b2 + kb], B[b3 + kb]);
    let ka = k * sak;
${rows.map((r) => `    c${r} += A[a${r} + ka] * bv;`).join('\n')}
  }
  let cBase = wid.z * M * N;
${rows
  .map(
    (r) => `  if (row0 + ${r}u < M) {
    let o = cBase + (row0 + ${r}u) * N + col0;
    if (col0 < N) { C[o] = c${r}.x; }
    if (col0 + 1u < N) { C[o + 1u] = c${r}.y; }
    if (col0 + 2u < N) { C[o + 2u] = c${r}.z; }
    if (col0 + 3u < N) { C[o + 3u] = c${r}.w; }
  }`,
  )
  .join('\n')}
}`;
  },
};

function matmul3(a: Tensor, b: Tensor): Tensor {
  const M = a.shape[a.rank - 2];
  const K = a.shape[a.rank - 1];
  const N = b.shape[b.rank - 1];
  if (b.shape[b.rank - 2] !== K) {
    throw new KdgpuError(`matmul: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} do not agree on the inner dimension (${K} vs ${b.shape[b.rank - 2]})`);
  }
  if (a.dtype !== 'f32' || b.dtype !== 'f32') throw new KdgpuError(`matmul: needs f32 operands, got ${a.dtype} and ${b.dtype}`);
  const batch = broadcastShapes('matmul (batch dimensions)', a.shape.slice(0, -2), b.shape.slice(0, -2));
  if (batch.length > MAX_BATCH_RANK) throw new KdgpuError(`matmul: at most ${MAX_BATCH_RANK} batch dimensions, got ${fmtShape(batch)}`);
  const shape = [...batch, M, N];
  const y = Tensor._make(Storage.alloc(numel(shape), 'f32', shape), shape);
  const nb = numel(batch);
  if (nb === 0 || M === 0 || N === 0) return y;
  if (nb > 65535) throw new KdgpuError(`matmul: ${nb} batch matrices exceed 65535; reshape the batch into the rows`);
  const bs = [0, 0, 0, 0];
  const as = [0, 0, 0, 0];
  const bbs = [0, 0, 0, 0];
  const lead = MAX_BATCH_RANK - batch.length;
  batch.forEach((d, i) => {
    bs[lead + i] = d;
    const ai = i - (batch.length - (a.rank - 2));
    const bi = i - (batch.length - (b.rank - 2));
    as[lead + i] = ai >= 0 && a.shape[ai] !== 1 ? a.strides[ai] : 0;
    bbs[lead + i] = bi >= 0 && b.shape[bi] !== 1 ? b.strides[bi] : 0;
  });
  for (let i = 0; i < lead; i++) bs[i] = 1;
  const params = [
    M, N, K,
    a.offset, a.strides[a.rank - 2], a.strides[a.rank - 1],
    b.offset, b.strides[b.rank - 2], b.strides[b.rank - 1],
    MAX_BATCH_RANK, ...bs, ...as, ...bbs,
  ];
  if (K === 0) {
    // An empty inner dimension gives zeros; the kernel would read out of range.
    y.dispose();
    return full(shape, 0);
  }
  dispatch(KERNEL, [a.storage.buf, b.storage.buf], [y.storage.buf], params, [Math.ceil(N / (WGX * TN)), Math.ceil(M / TM), nb]);
  return y;
}

/** Matrix product with NumPy semantics: 1-D operands are promoted and the added dim removed. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  a._assertLive('matmul');
  b._assertLive('matmul');
  if (a.rank === 0 || b.rank === 0) throw new KdgpuError(`matmul: operands must have at least one dimension, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.rank === 1 || b.rank === 1) {
    const a2 = a.rank === 1 ? a.reshape([1, a.shape[0]]) : a;
    const b2 = b.rank === 1 ? b.reshape([b.shape[0], 1]) : b;
    const y = matmul(a2, b2);
    let shape = [...y.shape];
    if (b.rank === 1) shape = shape.slice(0, -1);
    if (a.rank === 1) shape.splice(shape.length - (b.rank === 1 ? 1 : 2), 1);
    return y.reshape(shape);
  }
  const y = matmul3(a, b);
  const aShape = a.shape;
  const bShape = b.shape;
  const needA = a.requiresGrad;
  const needB = b.requiresGrad;
  // Save only what each gradient needs: dA reads B, dB reads A.
  const saved = [needB ? a : null, needA ? b : null].filter((t): t is Tensor => t !== null);
  return record(y, 'matmul', [a, b], saved, (g, s) => {
    const sa = needB ? s[0] : null;
    const sb = needA ? s[needB ? 1 : 0] : null;
    return [
      sb ? sumTo(matmul(g, sb.transpose(-2, -1)), aShape) : null,
      sa ? sumTo(matmul(sa.transpose(-2, -1), g), bShape) : null,
    ];
  });
}
