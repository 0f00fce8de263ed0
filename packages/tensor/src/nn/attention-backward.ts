import { zeros } from '../creation.ts';
import { empty, writeSlice } from '../ops/inplace.ts';
import { mapElementwise } from '../ops/kernel-elementwise.ts';
import { tidy } from '../scope.ts';
import type { Tensor } from '../tensor.ts';

/**
 * Attention backward in blocks of query rows with the matmul kernels, for CPU adapters.
 *
 * Same mathematics as the blocked backward kernels (FlashAttention's recomputation: P is rebuilt
 * from the saved log-sum-exp, D_i = dO_i . O_i, dS = P (dP - D), never the whole [T, S] matrix),
 * but each block's scores are a [rows, keys] tile in global memory, at most `maxScores` of them,
 * so that the five products run on the register-blocked matmul. On lavapipe that is ~2x faster
 * than the dQ and dK/dV kernels, which must recompute every score twice with per-lane loads
 * (measured: B8 H8 T128 d64 backward ~270 ms with the kernels). A block sees only the keys its
 * last query can see, so the causal triangle is skipped block by block.
 *
 * Grouped-query attention: the rep = H / Hkv query heads of a group are stacked into the rows of
 * one product against their shared key/value head.
 *
 * q, o, g [B, H, T, D]; k, v [B, Hkv, S, D]; lse [B, H, T]. Returns [dq, dk, dv]. Runs under the
 * caller's `noGrad` (autograd backward).
 */
export function attentionBackwardBlocks(g: Tensor, q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor, scale: number, maxScores: number): [Tensor, Tensor, Tensor] {
  const [B, H, T, D] = q.shape;
  const [, Hkv, S] = k.shape;
  const rep = H / Hkv;
  const off = S - T;
  const q5 = q.reshape([B, Hkv, rep, T, D]);
  const g5 = g.reshape([B, Hkv, rep, T, D]);
  const l5 = lse.reshape([B, Hkv, rep, T, 1]);
  const d5 = tidy(() => g.mul(o).sum(-1, true).reshape([B, Hkv, rep, T, 1])); // D_i
  const rows = Math.max(1, Math.min(T, Math.floor(maxScores / (B * H * S))));

  // The gradients of query rows [t0, t1): dQ for those rows ([B, Hkv, rep, t1 - t0, D]) and their
  // contributions to dK and dV for the keys they see ([B, Hkv, t1 + off, D]).
  const block = (t0: number, t1: number): [Tensor, Tensor, Tensor] => {
    const nb = t1 - t0;
    const keys = t1 + off; // the block's last query sees keys [0, t1 + off)
    return tidy(() => {
      const rowsOf = (x: Tensor, w: number) => x.slice(3, t0, t1).contiguous().reshape([B, Hkv, rep * nb, w]);
      const Qb = rowsOf(q5, D);
      const Gb = rowsOf(g5, D);
      const Lb = rowsOf(l5, 1);
      const Db = rowsOf(d5, 1);
      const Kb = k.slice(2, 0, keys);
      const Vb = v.slice(2, 0, keys);
      const s = Qb.matmul(Kb.transpose(-2, -1)); // unscaled scores [B, Hkv, rep * nb, keys]
      // P in one pass: scale, subtract the row's log-sum-exp, exponentiate, and zero the keys the
      // row's query cannot see (row r is query t0 + r % nb; it sees key j when j <= t0 + r % nb + off).
      // A select, not a product with a mask: exp of a hidden score may overflow.
      const p = mapElementwise('attn_p', [s, Lb, scale, { u32: keys }, { u32: rep * nb }, { u32: nb }, { u32: t0 + off }], s.shape, 'f32', 'f32',
        'select(0.0, exp(v0 * v2 - v1), i % v3 <= v6 + ((i / v3) % v4) % v5)');
      const ds = mapElementwise('attn_ds', [p, Gb.matmul(Vb.transpose(-2, -1)), Db], s.shape, 'f32', 'f32', 'v0 * (v1 - v2)');
      return [ds.matmul(Kb).mul(scale).reshape([B, Hkv, rep, nb, D]), ds.transpose(-2, -1).matmul(Qb).mul(scale), p.transpose(-2, -1).matmul(Gb)];
    });
  };

  if (rows >= T) {
    // One block (short sequences): its results are the gradients.
    const [dq, dk, dv] = block(0, T);
    d5.dispose();
    const dqh = dq.reshape([B, H, T, D]);
    dq.dispose();
    return [dqh, dk, dv];
  }
  const dq = empty([B, Hkv, rep, T, D]);
  const dk = zeros([B, Hkv, S, D]);
  const dv = zeros([B, Hkv, S, D]);
  for (let t0 = 0; t0 < T; t0 += rows) {
    const t1 = Math.min(T, t0 + rows);
    const keys = t1 + off;
    tidy(() => {
      const [dqb, dkb, dvb] = block(t0, t1);
      writeSlice(dq, 3, t0, dqb);
      // Summed in a scope of its own so the view of dk (dv) is gone before dk is written in place.
      writeSlice(dk, 2, 0, tidy(() => dk.slice(2, 0, keys).add(dkb)));
      writeSlice(dv, 2, 0, tidy(() => dv.slice(2, 0, keys).add(dvb)));
    });
  }
  d5.dispose();
  const dqh = dq.reshape([B, H, T, D]);
  dq.dispose();
  return [dqh, dk, dv];
}
