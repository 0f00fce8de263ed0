import { defineKernel } from '../kernel.ts';

/**
 * Flash-style causal attention kernels for head dims that are multiples of 4, written for how
 * SIMD adapters run a workgroup (lavapipe: the lanes of a workgroup are the lanes of one CPU
 * vector), and just as valid on GPUs:
 *
 * - A workgroup owns WG consecutive rows of ONE head (grid [ceil(rows / WG), heads, 1]), so the
 *   key/value (forward, dQ) or query/gradient (dK/dV) row every lane reads next is the same for
 *   all lanes: one load broadcast, not a gather.
 * - Loop bounds are those of the workgroup's last (or first) row, the same for every lane, and
 *   rows that should not see a key mask it (score -1e30, so its weight is exactly 0). Control flow
 *   stays uniform; at most WG - 1 masked keys per row are wasted.
 * - Each lane takes several rows (RQ queries, or RK keys in dK/dV), so every key (query) vector
 *   loaded is used several times: on lavapipe a load costs far more than a multiply-add, and
 *   this alone made the kernels 3-4x faster.
 * - Row vectors are vec4 arrays walked by loops whose bound, D/4, comes from the parameter block:
 *   a compile-time bound lets LLVM unroll everything, which ran ~1.5x faster but took lavapipe
 *   15-75 s to compile per kernel at D = 64 (measured), against ~1 s this way.
 * - The forward takes keys in blocks of BK with one online-softmax rescale per block (as
 *   FlashAttention does per tile) instead of a branch per key.
 *
 * The backward recomputes the probabilities from the saved log-sum-exp: one pass per query row for
 * dQ (and D_i = dO_i . O_i), one per key row for dK and dV, so no atomics and a deterministic
 * result. Parameters: `ATTN_PARAMS`; a query t sits at position t + S - T.
 */

const range = (n: number) => [...Array(n).keys()];

/**
 * The parameters of every attention kernel (these and the per-row ones of `attention.ts`): batch
 * B, query heads H, key/value heads Hkv, queries T, keys S, the score scale, and nd4 = D / 4 (the
 * blocked kernels' loop bound).
 */
export const ATTN_PARAMS = { B: 'u32', H: 'u32', Hkv: 'u32', T: 'u32', S: 'u32', scale: 'f32', nd4: 'u32' } as const;

/** Row vectors as f32 (the per-row kernels) or vec4f (the blocked ones). */
type Elem = 'f32' | 'vec4f';

/** The forward's interface: q, k, v in; the output and each row's log-sum-exp out. */
export const attnForward = (key: string, t: Elem, body: () => string) =>
  defineKernel({ key, inputs: { Q: t, K: t, V: t }, outputs: { O: t, L: 'f32' }, params: ATTN_PARAMS, body });

/** dQ and D_i = dO_i . O_i (DR, saved for the dK/dV pass). */
export const attnBackwardQ = (key: string, t: Elem, body: () => string) =>
  defineKernel({ key, inputs: { Q: t, K: t, V: t, O: t, G: t, L: 'f32' }, outputs: { DQ: t, DR: 'f32' }, params: ATTN_PARAMS, body });

/** dK and dV. */
export const attnBackwardKV = (key: string, t: Elem, body: () => string) =>
  defineKernel({ key, inputs: { Q: t, K: t, V: t, G: t, L: 'f32', DR: 'f32' }, outputs: { DK: t, DV: t }, params: ATTN_PARAMS, body });

const HEAD = (WG: number) => `@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let B = params.B; let H = params.H; let Hkv = params.Hkv; let T = params.T; let S = params.S;
  let scale = params.scale;
  let off = S - T;
  let nd4 = params.nd4;`;


/**
 * The query rows of a lane (forward and dQ): head bh = wid.y, rows t_r = block start + r * WG +
 * lane (clamped to T - 1 for loads; stores check t_r < T), the last key each may see, and the
 * start of its key/value head (GQA: H / Hkv query heads share one).
 */
function queryRows(D4: number, RQ: number, WG: number): string {
  return `  let bh = wid.y;
  let h = bh % H;
  let kb = ((bh / H) * Hkv + h / (H / Hkv)) * S * ${D4}u;
${range(RQ).map((r) => `  let t${r} = wid.x * ${WG * RQ}u + ${r * WG}u + lid.x;
  let row${r} = bh * T + min(t${r}, T - 1u);
  let last${r} = min(t${r}, T - 1u) + off;`).join('\n')}`;
}

export function blockedForward(D: number, WG: number, BK = 2, RQ = 4) {
  const D4 = D / 4;
  const K = range(BK);
  const Q = range(RQ);
  const rows = WG * RQ;
  return attnForward(`attn_fwd_blocked:${D}:${WG}:${BK}:${RQ}`, 'vec4f', () => `${HEAD(WG)}
${queryRows(D4, RQ, WG)}
${Q.map((r) => `  var m${r} = -1e30;
  var l${r} = 0.0;
  var q${r}: array<vec4f, ${D4}>;
  var a${r}: array<vec4f, ${D4}>;`).join('\n')}
  for (var i = 0u; i < nd4; i++) {
${Q.map((r) => `    q${r}[i] = Q[row${r} * ${D4}u + i] * scale; a${r}[i] = vec4f(0.0);`).join('\n')}
  }
  let lastGroup = min(wid.x * ${rows}u + ${rows - 1}u, T - 1u) + off;
  for (var j0 = 0u; j0 <= lastGroup; j0 += ${BK}u) {
${K.map((k) => `    let r${k} = kb + min(j0 + ${k}u, S - 1u) * ${D4}u;`).join('\n')}
${Q.map((r) => K.map((k) => `    var s${r}_${k} = 0.0;`).join(' ')).join('\n')}
    // Each key vector is loaded once and used by all ${RQ} rows of the lane.
    for (var i = 0u; i < nd4; i++) {
${K.map((k) => `      { let kv = K[r${k} + i]; ${Q.map((r) => `s${r}_${k} += dot(q${r}[i], kv);`).join(' ')} }`).join('\n')}
    }
${Q.map((r) => `${K.map((k) => `    s${r}_${k} = select(-1e30, s${r}_${k}, j0 + ${k}u <= last${r});`).join('\n')}
    let mn${r} = max(m${r}, ${K.map((k) => `s${r}_${k}`).reduce((x, y) => `max(${x}, ${y})`)});
    let c${r} = exp(m${r} - mn${r});
${K.map((k) => `    let p${r}_${k} = exp(s${r}_${k} - mn${r});`).join('\n')}
    l${r} = l${r} * c${r} + ${K.map((k) => `p${r}_${k}`).join(' + ')};
    m${r} = mn${r};`).join('\n')}
    for (var i = 0u; i < nd4; i++) {
${K.map((k) => `      let v${k} = V[r${k} + i];`).join('\n')}
${Q.map((r) => `      a${r}[i] = a${r}[i] * c${r} + ${K.map((k) => `p${r}_${k} * v${k}`).join(' + ')};`).join('\n')}
    }
  }
${Q.map((r) => `  if (t${r} < T) {
    for (var i = 0u; i < nd4; i++) { O[row${r} * ${D4}u + i] = a${r}[i] / l${r}; }
    L[row${r}] = m${r} + log(l${r});
  }`).join('\n')}
}`);
}

/** dQ and D_i = dO_i . O_i per query row; RQ rows per lane share each loaded key and value. */
export function blockedBackwardQ(D: number, WG: number, RQ = 4) {
  const D4 = D / 4;
  const Q = range(RQ);
  const rows = WG * RQ;
  return attnBackwardQ(`attn_bwd_q_blocked:${D}:${WG}:${RQ}`, 'vec4f', () => `${HEAD(WG)}
${queryRows(D4, RQ, WG)}
${Q.map((r) => `  let lse${r} = L[row${r}];
  var q${r}: array<vec4f, ${D4}>;
  var g${r}: array<vec4f, ${D4}>;
  var dq${r}: array<vec4f, ${D4}>;
  var di${r} = 0.0;`).join('\n')}
  for (var i = 0u; i < nd4; i++) {
${Q.map((r) => `    q${r}[i] = Q[row${r} * ${D4}u + i] * scale; g${r}[i] = G[row${r} * ${D4}u + i]; dq${r}[i] = vec4f(0.0); di${r} += dot(g${r}[i], O[row${r} * ${D4}u + i]);`).join('\n')}
  }
  let lastGroup = min(wid.x * ${rows}u + ${rows - 1}u, T - 1u) + off;
  for (var j = 0u; j <= lastGroup; j++) {
    let r = kb + j * ${D4}u;
${Q.map((r) => `    var s${r} = 0.0; var dp${r} = 0.0;`).join('\n')}
    for (var i = 0u; i < nd4; i++) {
      let kv = K[r + i]; let vv = V[r + i];
${Q.map((r) => `      s${r} += dot(q${r}[i], kv); dp${r} += dot(g${r}[i], vv);`).join('\n')}
    }
${Q.map((r) => `    let ds${r} = select(0.0, exp(s${r} - lse${r}) * (dp${r} - di${r}), j <= last${r});`).join('\n')}
    for (var i = 0u; i < nd4; i++) {
      let kv = K[r + i];
${Q.map((r) => `      dq${r}[i] += ds${r} * kv;`).join('\n')}
    }
  }
${Q.map((r) => `  if (t${r} < T) {
    for (var i = 0u; i < nd4; i++) { DQ[row${r} * ${D4}u + i] = dq${r}[i] * scale; }
    DR[row${r}] = di${r};
  }`).join('\n')}
}`);
}

/**
 * dK and dV per key row, over the query heads of its group and the queries that see it; RK key
 * rows per lane share each loaded query and output gradient.
 */
export function blockedBackwardKV(D: number, WG: number, RK = 4) {
  const D4 = D / 4;
  const J = range(RK);
  const keys = WG * RK;
  return attnBackwardKV(`attn_bwd_kv_blocked:${D}:${WG}:${RK}`, 'vec4f', () => `${HEAD(WG)}
  let bk = wid.y;
  let hk = bk % Hkv;
  let b = bk / Hkv;
  let rep = H / Hkv;
${J.map((c) => `  let j${c} = wid.x * ${keys}u + ${c * WG}u + lid.x;
  let krow${c} = bk * S + min(j${c}, S - 1u);
  var k${c}: array<vec4f, ${D4}>;
  var v${c}: array<vec4f, ${D4}>;
  var dk${c}: array<vec4f, ${D4}>;
  var dv${c}: array<vec4f, ${D4}>;`).join('\n')}
  for (var i = 0u; i < nd4; i++) {
${J.map((c) => `    k${c}[i] = K[krow${c} * ${D4}u + i]; v${c}[i] = V[krow${c} * ${D4}u + i]; dk${c}[i] = vec4f(0.0); dv${c}[i] = vec4f(0.0);`).join('\n')}
  }
  // Query t sees key j when t + off >= j; the group starts at its first key's first query.
  let jFirst = wid.x * ${keys}u;
  var tStart = 0u;
  if (jFirst > off) { tStart = jFirst - off; }
  for (var r = 0u; r < rep; r++) {
    let qh = (b * H + hk * rep + r) * T;
    for (var t = tStart; t < T; t++) {
      let qrow = qh + t;
      let lse = L[qrow];
      let dr = DR[qrow];
${J.map((c) => `      var s${c} = 0.0; var dp${c} = 0.0;`).join('\n')}
      for (var i = 0u; i < nd4; i++) {
        let qv = Q[qrow * ${D4}u + i]; let gv = G[qrow * ${D4}u + i];
${J.map((c) => `        s${c} += dot(qv, k${c}[i]); dp${c} += dot(gv, v${c}[i]);`).join('\n')}
      }
${J.map((c) => `      let p${c} = select(0.0, exp(s${c} * scale - lse), t + off >= j${c});\n      let ds${c} = p${c} * (dp${c} - dr);`).join('\n')}
      for (var i = 0u; i < nd4; i++) {
        let qv = Q[qrow * ${D4}u + i]; let gv = G[qrow * ${D4}u + i];
${J.map((c) => `        dv${c}[i] += p${c} * gv; dk${c}[i] += ds${c} * qv;`).join('\n')}
      }
    }
  }
${J.map((c) => `  if (j${c} < S) {
    for (var i = 0u; i < nd4; i++) { DK[krow${c} * ${D4}u + i] = dk${c}[i] * scale; DV[krow${c} * ${D4}u + i] = dv${c}[i]; }
  }`).join('\n')}
}`);
}
