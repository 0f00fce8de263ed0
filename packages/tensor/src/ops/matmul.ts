import { noGrad, record } from '../autograd.ts';
import { tidy } from '../scope.ts';
import { isCpuAdapter } from '../device.ts';
import { dispatch } from '../engine.ts';
import { envVar } from '../env.ts';
import { CANDIDATES, coalesced, layoutOk, type MatmulVariant, tiled, vec4 } from './matmul-kernels.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import { broadcastShapes, numel } from '../shape.ts';
import { Storage } from '../storage.ts';
import { Tensor } from '../tensor.ts';
import { full, sumTo } from './broadcast.ts';

/**
 * Batched matmul C[b] = A[b] @ B[b], operands read through strides, so transposed views
 * (`x.transpose()` in the backward) cost no copy. Broadcast batch dimensions have stride 0.
 *
 * The kernel comes from `matmul-kernels.ts`: a per-adapter default, pinned by `KDGPU_MATMUL`, or
 * chosen by timing the candidates (`tuneMatmul`, in `matmul-tune.ts`).
 */

const MAX_BATCH_RANK = 4;

let chosen: MatmulVariant | null = null;

/** The kernel in use: `KDGPU_MATMUL=<name>` pins one; else the tuned choice; else a per-adapter default. */
export function matmulVariant(): MatmulVariant {
  if (chosen) return chosen;
  const pinned = envVar('KDGPU_MATMUL');
  if (pinned) {
    const v = CANDIDATES.find((c) => c.name === pinned);
    if (!v) throw new KdgpuError(`KDGPU_MATMUL=${pinned} names no kernel; choose one of ${CANDIDATES.map((c) => c.name).join(', ')}`);
    return (chosen = v);
  }
  return (chosen = isCpuAdapter() ? vec4(8, 16, 2) : tiled(64, 16));
}

// Kernels for what the chosen one cannot take: operands a vec4 kernel cannot read (unaligned or
// strided), and products of a few rows (decoding one token), where a 16-row block would compute
// 16 copies of one row.
const SCALAR_CPU = coalesced(16, 8, 4);
const SCALAR_GPU = tiled(64, 16);
const FEW_ROWS_VEC4 = vec4(8, 1, 4);
const FEW_ROWS = coalesced(8, 1, 8);

/** Uses `variant` for every matmul from now on (the tuner calls this). */
export function setMatmulVariant(variant: MatmulVariant): void {
  chosen = variant;
}

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
  if (K === 0) {
    // An empty inner dimension gives zeros; the kernel would read out of range.
    y.dispose();
    return full(shape, 0);
  }
  if (M === 1 && N === 1) {
    // Row-wise dot products ([..., 1, K] @ [..., K, 1]): a register-blocked kernel would waste
    // almost all of its block; an elementwise product and a row sum is one pass over the data.
    y.dispose();
    return noGrad(() => tidy(() => a.reshape([...a.shape.slice(0, -2), K]).mul(b.reshape([...b.shape.slice(0, -2), K])).sum(-1).reshape(shape)));
  }
  // B read across its columns with a stride (a transposed weight, as in x @ W^T) makes every load
  // a gather; when the product reuses B over enough rows, one transposing copy is cheaper.
  // (Reading B^T in place along k with vec4 loads was measured: 1.5-2x slower on lavapipe than
  // this copy plus the vec4 kernel.)
  const bc = b.strides[b.rank - 1] !== 1 && N > 1 && M >= 8 ? noGrad(() => b.contiguous()) : b;
  const out = run(a, bc, y, batch, M, N, K, nb);
  if (bc !== b) bc.dispose();
  return out;
}

/** Batch shape and per-operand batch strides, padded to MAX_BATCH_RANK (broadcast dims: stride 0). */
function batchStrides(a: Tensor, b: Tensor, batch: number[]): { bs: number[]; as: number[]; bbs: number[] } {
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
  return { bs, as, bbs };
}

function run(a: Tensor, b: Tensor, y: Tensor, batch: number[], M: number, N: number, K: number, nb: number): Tensor {
  const { bs, as, bbs } = batchStrides(a, b, batch);
  const params = {
    M, N, K,
    aOff: a.offset, sam: a.strides[a.rank - 2], sak: a.strides[a.rank - 1],
    bOff: b.offset, sbk: b.strides[b.rank - 2], sbn: b.strides[b.rank - 1],
    batch: bs, aBatch: as, bBatch: bbs,
  };
  // What `layoutOk` checks: [offset, row stride, column stride, ...batch strides] of A and B.
  const layout = { N, K, a: [params.aOff, params.sam, params.sak, ...as], b: [params.bOff, params.sbk, params.sbn, ...bbs] };
  let v = matmulVariant();
  if (M < 4 && v.rowsPerGroup > 1) v = layoutOk(FEW_ROWS_VEC4, layout) ? FEW_ROWS_VEC4 : FEW_ROWS;
  else if (!layoutOk(v, layout)) v = isCpuAdapter() ? SCALAR_CPU : SCALAR_GPU;
  dispatch(v.kernel, { A: a.storage.buf, B: b.storage.buf, C: y.storage.buf }, params, [Math.ceil(N / v.colsPerGroup), Math.ceil(M / v.rowsPerGroup), nb]);
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
  if (b.rank === 2 && a.rank > 2) {
    // A shared weight: fold A's batch dimensions into its rows, so the kernel runs one large
    // product and the weight gradient is one [K, N] product instead of a per-batch stack.
    const K = a.shape[a.rank - 1];
    return matmul(a.reshape([-1, K]), b).reshape([...a.shape.slice(0, -1), b.shape[1]]);
  }
  const y = matmul3(a, b);
  const aShape = a.shape;
  const bShape = b.shape;
  const needA = a.requiresGrad;
  const needB = b.requiresGrad;
  // Save only what each gradient needs: dA reads B, dB reads A.
  const saved = [needB ? a : null, needA ? b : null].filter((t): t is Tensor => t !== null);
  // B a transposed view of a contiguous matrix (x @ W^T with W [out, in]): its gradient is computed
  // as (g^T @ A)^T, so W's gradient comes out contiguous (no copy where it is accumulated).
  const bT = b.rank === 2 && a.rank === 2 && b.strides[0] === 1 && b.strides[1] === b.shape[0] && b.shape[0] > 1;
  return record(y, 'matmul', [a, b], saved, (g, s) => {
    const sa = needB ? s[0] : null;
    const sb = needA ? s[needB ? 1 : 0] : null;
    return [
      sb ? sumTo(matmul(g, sb.transpose(-2, -1)), aShape) : null,
      sa ? (bT ? matmul(g.transpose(-2, -1), sa).transpose(-2, -1) : sumTo(matmul(sa.transpose(-2, -1), g), bShape)) : null,
    ];
  });
}
