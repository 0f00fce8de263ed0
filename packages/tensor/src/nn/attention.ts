import { record } from '../autograd.ts';
import { dispatch, grid, LINEAR_ID } from '../engine.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { isCpuAdapter } from '../device.ts';
import { dense, dropCopy, empty, WG } from './util.ts';
import { attnBackwardKV, attnBackwardQ, attnForward, blockedBackwardKV, blockedBackwardQ, blockedForward } from './attention-blocked.ts';
import { attentionBackwardBlocks } from './attention-backward.ts';
import { attentionComposed } from './composed.ts';

/** Which backward `causalAttention` records (see `setAttentionBackward`). */
export type AttentionBackward = 'auto' | 'kernels' | 'blocks';
let backwardMode: AttentionBackward = 'auto';
let blockScores = 1 << 22;

/**
 * Picks the attention backward: 'kernels' (the dQ and dK/dV kernels), 'blocks' (row blocks of
 * recomputed scores through the matmul kernels, `attention-backward.ts`) or 'auto' (blocks on CPU
 * adapters, where they are faster, kernels elsewhere). Both give the same gradients; tests run both.
 * `maxScores` bounds the blocks' memory: scores per block (B * H * rows * S), default 4M (16 MiB).
 */
export function setAttentionBackward(mode: AttentionBackward, maxScores = 1 << 22): void {
  backwardMode = mode;
  blockScores = maxScores;
}

/**
 * Causal self-attention, flash-style: softmax(Q K^T * scale + causal mask) V per head without
 * materializing the [T, S] score matrix. One invocation per query row streams over the keys with an
 * online softmax (running max and sum) and saves only the row's log-sum-exp; the backward
 * recomputes the probabilities from it (FlashAttention's recomputation), one pass per query row
 * for dQ and one per key row for dK and dV, so no atomics are needed and the result is
 * deterministic. Grouped-query attention: H query heads share Hkv key/value heads in groups of
 * H/Hkv. With S > T (KV cache), query t sits at position t + S - T.
 *
 * These per-row kernels take any head dim; for multiples of 4, `attention-blocked.ts` has the
 * same algorithm with a workgroup per block of rows of one head (uniform loads, vec4 registers),
 * which is what runs.
 */

// Parameters: ATTN_PARAMS (nd4 is for the blocked kernels).
const COMMON = `  let B = params.B; let H = params.H; let Hkv = params.Hkv; let T = params.T; let S = params.S;
  let scale = params.scale;
  let off = S - T;`;

const fwd = (D: number) =>
  attnForward(`attn_fwd:${D}`, 'f32', () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = ${LINEAR_ID(WG)};
${COMMON}
  if (row >= B * H * T) { return; }
  let t = row % T;
  let bh = row / T;
  let h = bh % H;
  let b = bh / H;
  let kb = (b * Hkv + h / (H / Hkv)) * S * ${D}u;
  var q: array<f32, ${D}>;
  var acc: array<f32, ${D}>;
  for (var d = 0u; d < ${D}u; d++) { q[d] = Q[row * ${D}u + d] * scale; acc[d] = 0.0; }
  var m = bitsToF32(0xff800000u);
  var l = 0.0;
  let last = t + off;
  for (var j = 0u; j <= last; j++) {
    var s = 0.0;
    for (var d = 0u; d < ${D}u; d++) { s += q[d] * K[kb + j * ${D}u + d]; }
    if (s > m) {
      let corr = exp(m - s);
      l = l * corr;
      for (var d = 0u; d < ${D}u; d++) { acc[d] = acc[d] * corr; }
      m = s;
    }
    let p = exp(s - m);
    l += p;
    for (var d = 0u; d < ${D}u; d++) { acc[d] += p * V[kb + j * ${D}u + d]; }
  }
  for (var d = 0u; d < ${D}u; d++) { O[row * ${D}u + d] = acc[d] / l; }
  L[row] = m + log(l);
}`);

// dQ and the per-row D_i = dO_i . O_i (saved for the dK/dV pass).
const bwdQ = (D: number) =>
  attnBackwardQ(`attn_bwd_q:${D}`, 'f32', () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = ${LINEAR_ID(WG)};
${COMMON}
  if (row >= B * H * T) { return; }
  let t = row % T;
  let bh = row / T;
  let h = bh % H;
  let b = bh / H;
  let kb = (b * Hkv + h / (H / Hkv)) * S * ${D}u;
  var q: array<f32, ${D}>;
  var g: array<f32, ${D}>;
  var dq: array<f32, ${D}>;
  var di = 0.0;
  for (var d = 0u; d < ${D}u; d++) {
    q[d] = Q[row * ${D}u + d] * scale;
    g[d] = G[row * ${D}u + d];
    di += g[d] * O[row * ${D}u + d];
    dq[d] = 0.0;
  }
  let lse = L[row];
  for (var j = 0u; j <= t + off; j++) {
    var s = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < ${D}u; d++) {
      s += q[d] * K[kb + j * ${D}u + d];
      dp += g[d] * V[kb + j * ${D}u + d];
    }
    let ds = exp(s - lse) * (dp - di);
    for (var d = 0u; d < ${D}u; d++) { dq[d] += ds * K[kb + j * ${D}u + d]; }
  }
  for (var d = 0u; d < ${D}u; d++) { DQ[row * ${D}u + d] = dq[d] * scale; }
  DR[row] = di;
}`);

// dK and dV: one invocation per key row, over the query heads of its group and the queries that see it.
const bwdKV = (D: number) =>
  attnBackwardKV(`attn_bwd_kv:${D}`, 'f32', () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let krow = ${LINEAR_ID(WG)};
${COMMON}
  if (krow >= B * Hkv * S) { return; }
  let j = krow % S;
  let bk = krow / S;
  let hk = bk % Hkv;
  let b = bk / Hkv;
  let rep = H / Hkv;
  var k: array<f32, ${D}>;
  var v: array<f32, ${D}>;
  var dk: array<f32, ${D}>;
  var dv: array<f32, ${D}>;
  for (var d = 0u; d < ${D}u; d++) {
    k[d] = K[krow * ${D}u + d];
    v[d] = V[krow * ${D}u + d];
    dk[d] = 0.0;
    dv[d] = 0.0;
  }
  // Query t sees key j when t + off >= j.
  var t0 = 0u;
  if (j > off) { t0 = j - off; }
  for (var r = 0u; r < rep; r++) {
    let h = hk * rep + r;
    for (var t = t0; t < T; t++) {
      let qrow = (b * H + h) * T + t;
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < ${D}u; d++) {
        s += Q[qrow * ${D}u + d] * k[d];
        dp += G[qrow * ${D}u + d] * v[d];
      }
      let p = exp(s * scale - L[qrow]);
      let ds = p * (dp - DR[qrow]);
      for (var d = 0u; d < ${D}u; d++) {
        dv[d] += p * G[qrow * ${D}u + d];
        dk[d] += ds * Q[qrow * ${D}u + d];
      }
    }
  }
  for (var d = 0u; d < ${D}u; d++) {
    DK[krow * ${D}u + d] = dk[d] * scale;
    DV[krow * ${D}u + d] = dv[d];
  }
}`);

/** The three kernels for head dim D, declared once per variant. */
const kernelSets = new Map<string, { fwd: ReturnType<typeof fwd>; q: ReturnType<typeof bwdQ>; kv: ReturnType<typeof bwdKV> }>();
function kernelSet(D: number, blocked: boolean, bw: number, per: number) {
  const key = `${D}:${blocked}:${bw}:${per}`;
  let set = kernelSets.get(key);
  if (!set) {
    set = blocked
      ? { fwd: blockedForward(D, bw, 4, per), q: blockedBackwardQ(D, bw, per), kv: blockedBackwardKV(D, bw, per) }
      : { fwd: fwd(D), q: bwdQ(D), kv: bwdKV(D) };
    kernelSets.set(key, set);
  }
  return set;
}

/** Options of `causalAttention`. */
export interface AttentionOptions {
  /** Multiplies the scores; default 1 / sqrt(D). */
  scale?: number;
  /** Dropout on the attention probabilities (training): takes the composed path, which the fused kernels do not replace. */
  dropout?: { p: number; seed: number };
}

/**
 * Causal self-attention, the one implementation the models and the benchmarks use. q [B, H, T, D]
 * (the T newest positions), k and v [B, Hkv, S, D] with H % Hkv == 0 (grouped-query attention:
 * query head h reads key/value head floor(h / (H / Hkv))) and S >= T (cached positions first:
 * query t sees keys 0..t + S - T). Returns [B, H, T, D]. Fused kernels (see above); with
 * attention dropout, `attentionComposed`.
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) {
    throw new KdgpuError(`causalAttention: q, k, v must be [B, H, T, D], got ${fmtShape(q.shape)}, ${fmtShape(k.shape)}, ${fmtShape(v.shape)}`);
  }
  const [B, H, T, D] = q.shape;
  const [kb, Hkv, S, kd] = k.shape;
  if (kb !== B || kd !== D || v.shape.some((d, i) => d !== k.shape[i]) || Hkv === 0 || H % Hkv !== 0 || S < T) {
    throw new KdgpuError(
      `causalAttention: q ${fmtShape(q.shape)} needs k and v [${B}, Hkv, S, ${D}] with H divisible by Hkv and S >= T; got k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`,
    );
  }
  const sc = opts.scale ?? 1 / Math.sqrt(D);
  if (opts.dropout && opts.dropout.p !== 0) return attentionComposed(q, k, v, sc, opts.dropout);
  if (D > 256) throw new KdgpuError(`causalAttention: head dimension ${D} > 256 is not supported`);
  const params = { B, H, Hkv, T, S, scale: sc, nd4: D / 4 };
  const qd = dense('causalAttention', q);
  const kd2 = dense('causalAttention', k);
  const vd = dense('causalAttention', v);
  const o = empty(q.shape);
  const lse = empty([B, H, T]);
  // The blocked kernels: workgroups of `bw` lanes (8 = one AVX2 vector on lavapipe), each lane
  // taking 4 rows (forward, dQ) or 4 keys (dK, dV) of one head.
  const bw = isCpuAdapter() ? 8 : 32;
  const per = 4;
  const blocked = D % 4 === 0 && B * H <= 65535 && Math.ceil(T / (bw * per)) <= 65535 && Math.ceil(S / (bw * per)) <= 65535;
  const kernels = kernelSet(D, blocked, bw, per);
  const gq = blocked ? ([Math.ceil(T / (bw * per)), B * H, 1] as const) : grid(B * H * T, WG);
  const gkv = blocked ? ([Math.ceil(S / (bw * per)), B * Hkv, 1] as const) : grid(B * Hkv * S, WG);
  dispatch(kernels.fwd, { Q: qd.storage.buf, K: kd2.storage.buf, V: vd.storage.buf, O: o.storage.buf, L: lse.storage.buf }, params, gq);
  const out = record(o, 'causalAttention', [q, k, v], [qd, kd2, vd, o, lse], (g, [qs, ks, vs, os, ls]) => {
    const gc = g.contiguous();
    if (backwardMode === 'blocks' || (backwardMode === 'auto' && isCpuAdapter())) return attentionBackwardBlocks(gc, qs, ks, vs, os, ls, sc, blockScores);
    const dq = empty(q.shape);
    const dr = empty([B, H, T]);
    const [Q, K, V, O, G, L] = [qs, ks, vs, os, gc, ls].map((t) => t.storage.buf);
    dispatch(kernels.q, { Q, K, V, O, G, L, DQ: dq.storage.buf, DR: dr.storage.buf }, params, gq);
    const dk = empty(k.shape);
    const dv = empty(k.shape);
    dispatch(kernels.kv, { Q, K, V, G, L, DR: dr.storage.buf, DK: dk.storage.buf, DV: dv.storage.buf }, params, gkv);
    return [dq, dk, dv];
  });
  dropCopy(qd, q);
  dropCopy(kd2, k);
  dropCopy(vd, v);
  lse.dispose();
  return out;
}
