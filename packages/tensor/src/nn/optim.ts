import { keep, tidy } from '../scope.ts';
import { device } from '../device.ts';
import { contiguousStrides } from '../shape.ts';
import type { Storage } from '../storage.ts';
import { Tensor } from '../tensor.ts';
import { empty } from '../ops/inplace.ts';
import { noGrad } from '../autograd.ts';
import { full } from '../ops/broadcast.ts';
import { where } from '../ops/elementwise.ts';
import { copyBuffer, dispatch, grid, LINEAR_ID } from '../engine.ts';
import { defineKernel } from '../kernel.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import { WG } from './util.ts';

/**
 * AdamW as torch.optim.AdamW (decoupled weight decay, bias correction, eps added after the
 * bias-corrected square root), updating weights and both moments in place. An optional 1-element
 * gradient scale (from `clipGradNorm`) is read on the GPU, so clipping needs no readback; when that
 * scale is NaN (non-finite gradients) the kernel leaves weights and moments untouched, so a bad step
 * is skipped without the CPU looking.
 *
 * Multi-tensor, as PyTorch's fused/foreach AdamW: the optimizer moves its parameters into one flat
 * buffer (each parameter becomes a view of it, 256-byte aligned), keeps the moments in two more
 * and gives each parameter a slot in a flat gradient buffer that autograd copies gradients into.
 * One step is then one dispatch for the update and two for `clipGradNorm` (norm, non-finite check
 * and scale), whatever the number of parameters; dropping gradients dispatches nothing. A
 * parameter whose storage was replaced since (`assign`, e.g. loading weights) is copied back in
 * at the next update. When the parameters do not fit one buffer binding, each is updated on its
 * own, as before.
 */

// lrWd = lr * weight decay; bc1 = 1 / bias correction 1; bc2 = 1 / sqrt(bias correction 2).
// Elements base .. base+n-1 of W, M, V (at wOff, mOff, mOff) and G (at gOff); the scale at SC[scOff].
const ADAMW = defineKernel({
  key: 'adamw',
  inputs: { G: 'f32', SC: 'f32' },
  outputs: { W: 'f32', M: 'f32', V: 'f32' },
  params: { n: 'u32', wOff: 'u32', gOff: 'u32', mOff: 'u32', scOff: 'u32', lr: 'f32', beta1: 'f32', beta2: 'f32', eps: 'f32', lrWd: 'f32', bc1: 'f32', bc2: 'f32' },
  body: () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${LINEAR_ID(WG)};
  if (i >= params.n) { return; }
  // A non-finite scale (from clipGradNorm on NaN/inf gradients) skips the update entirely.
  let sc = SC[params.scOff];
  if (!(abs(sc) <= 3.4028234e38)) { return; }
  let lr = params.lr;
  let b1 = params.beta1;
  let b2 = params.beta2;
  let eps = params.eps;
  let g = G[params.gOff + i] * sc;
  let wi = params.wOff + i;
  let mi = params.mOff + i;
  var w = W[wi] * (1.0 - params.lrWd);
  let m = b1 * M[mi] + (1.0 - b1) * g;
  let v = b2 * V[mi] + (1.0 - b2) * g * g;
  M[mi] = m;
  V[mi] = v;
  let denom = sqrt(v) * params.bc2 + eps;
  W[wi] = w - lr * params.bc1 * m / denom;
}`,
});

// Global norm of a flat gradient buffer in two dispatches: NORM_GROUPS workgroups each sum the
// squares of a strided share into a partial, then one workgroup sums the partials and writes
// [norm, scale, finite] (scale = min(1, maxNorm / (norm + 1e-6)), NaN when the norm is not finite).
const NORM_GROUPS = 256;
const NORM_PARTIAL = defineKernel({
  key: 'gradnorm_partial',
  inputs: { G: 'f32' },
  outputs: { partial: 'f32' },
  params: { n: 'u32' },
  body: () => `var<workgroup> acc: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  var s = 0.0;
  for (var i = wid.x * ${WG}u + lid.x; i < params.n; i += ${WG * NORM_GROUPS}u) {
    let g = G[i];
    s += g * g;
  }
  acc[lid.x] = s;
  workgroupBarrier();
  for (var k = ${WG / 2}u; k > 0u; k >>= 1u) {
    if (lid.x < k) { acc[lid.x] += acc[lid.x + k]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { partial[wid.x] = acc[0]; }
}`,
});
const NORM_FINAL = defineKernel({
  key: 'gradnorm_final',
  inputs: { partial: 'f32' },
  outputs: { out: 'f32' },
  params: { maxNorm: 'f32', clip: 'u32' },
  body: () => `var<workgroup> acc: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3u) {
  var s = 0.0;
  for (var i = lid.x; i < ${NORM_GROUPS}u; i += ${WG}u) { s += partial[i]; }
  acc[lid.x] = s;
  workgroupBarrier();
  for (var k = ${WG / 2}u; k > 0u; k >>= 1u) {
    if (lid.x < k) { acc[lid.x] += acc[lid.x + k]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let norm = sqrt(acc[0]);
    let finite = abs(norm) <= 3.4028234e38;
    var scale = 1.0;
    if (params.clip != 0u) { scale = min(params.maxNorm / (norm + 1e-6), 1.0); }
    out[0] = norm;
    out[1] = select(bitsToF32(0x7fc00000u), scale, finite);
    out[2] = select(0.0, 1.0, finite);
  }
}`,
});

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** Serializable optimizer state: the step count and each parameter's moments. */
export interface AdamWState {
  step: number;
  m: Tensor[];
  v: Tensor[];
}

/** The flat buffers of a multi-tensor optimizer and where each parameter lives in them. */
interface Flat {
  W: Storage;
  G: Storage;
  M: Storage;
  V: Storage;
  /** Element offset of parameter k (the same in all four). */
  offs: number[];
  /** Elements in each buffer (parameters plus alignment padding, which stays zero). */
  total: number;
}

/** Parameters start at multiples of 64 elements (256 bytes: vec4 kernels and copy alignment). */
const ALIGN = 64;

/** Every gradient of a flat optimizer, by the gradient buffer (for `clipGradNorm`). */
const flatOf = new WeakMap<Storage, { params: Tensor[]; total: number }>();

export class AdamW {
  readonly params: Tensor[];
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  step = 0;
  readonly m: Tensor[];
  readonly v: Tensor[];
  private readonly one: Tensor;
  private readonly flat: Flat | null;

  constructor(params: Iterable<Tensor>, opts: AdamWOptions) {
    this.params = [...params];
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    for (const p of this.params) {
      if (!p.isContiguous || p.offset !== 0 || p.dtype !== 'f32') {
        throw new KdgpuError(`AdamW: parameters must be contiguous f32 leaves, got ${fmtShape(p.shape)} ${p.dtype}`);
      }
    }
    if (new Set(this.params).size !== this.params.length) throw new KdgpuError('AdamW: a parameter is listed twice');
    this.one = keep(full([1], 1));
    this.flat = this.makeFlat();
    if (this.flat) {
      const f = this.flat;
      const view = (st: Storage, k: number) => keep(new Tensor(st.retain(), this.params[k].shape, contiguousStrides(this.params[k].shape), f.offs[k]));
      this.m = this.params.map((_, k) => view(f.M, k));
      this.v = this.params.map((_, k) => view(f.V, k));
    } else {
      this.m = this.params.map((p) => keep(full(p.shape, 0)));
      this.v = this.params.map((p) => keep(full(p.shape, 0)));
    }
  }

  /** Moves the parameters into flat buffers (see the class comment); null when they do not fit one binding. */
  private makeFlat(): Flat | null {
    if (this.params.length === 0 || this.params.some((p) => p._gradSlot || p.grad)) return null;
    const offs: number[] = [];
    let total = 0;
    for (const p of this.params) {
      offs.push(total);
      total += Math.ceil(p.size / ALIGN) * ALIGN;
    }
    const lim = device().limits;
    if (total * 4 > Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize)) return null;
    // Zero-filled: the padding between parameters must stay 0 in every buffer (norm, update).
    const zeroed = () => {
      const t = full([total], 0);
      const st = t.storage.retain();
      t.dispose();
      return st;
    };
    const f: Flat = { W: zeroed(), G: zeroed(), M: zeroed(), V: zeroed(), offs, total };
    this.params.forEach((p, k) => this.adopt(p, f, k));
    flatOf.set(f.G, { params: this.params, total });
    return f;
  }

  /** Copies parameter k into the flat weights and makes it a view of them. */
  private adopt(p: Tensor, f: Flat, k: number): void {
    const src = p.isContiguous ? p : keep(p.contiguous());
    copyBuffer(src.storage.buf, src.offset * 4, f.W.buf.gpu, f.offs[k] * 4, p.size * 4);
    if (src !== p) src.dispose();
    p._rehome(f.W, f.offs[k]);
    p._gradSlot = { storage: f.G, offset: f.offs[k] };
  }

  /** Re-adopts parameters or moments whose storage was replaced (`assign`) since the last step. */
  private checkFlat(f: Flat): void {
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k];
      if (p.storage !== f.W || p.offset !== f.offs[k]) this.adopt(p, f, k);
      for (const [list, st] of [[this.m, f.M], [this.v, f.V]] as const) {
        const t = list[k];
        if (t.storage !== st || t.offset !== f.offs[k]) {
          const src = t.isContiguous ? t : keep(t.contiguous());
          copyBuffer(src.storage.buf, src.offset * 4, st.buf.gpu, f.offs[k] * 4, t.size * 4);
          if (src !== t) src.dispose();
          t._rehome(st, f.offs[k]);
        }
      }
    }
  }

  /**
   * One update from each parameter's `.grad` (parameters without a grad are skipped), optionally
   * multiplying gradients by `gradScale[0]` (a GPU scalar, e.g. from `clipGradNorm`).
   */
  update(opts: { gradScale?: Tensor } = {}): void {
    this.step++;
    const t = this.step;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    const sc = opts.gradScale ?? this.one;
    const hyper = { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, lrWd: this.lr * this.weightDecay, bc1: 1 / bc1, bc2: 1 / Math.sqrt(bc2), scOff: sc.offset };
    const f = this.flat;
    if (f) {
      this.checkFlat(f);
      if (this.params.every((p) => p.grad && p.grad.storage === f.G)) {
        // Every gradient is in the flat buffer: one dispatch over all parameters (padding stays 0).
        const bufs = { G: f.G.buf, SC: sc.storage.buf, W: f.W.buf, M: f.M.buf, V: f.V.buf };
        dispatch(ADAMW, bufs, { ...hyper, n: f.total, wOff: 0, gOff: 0, mOff: 0 }, grid(f.total, WG));
        return;
      }
    }
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k];
      const g0 = p.grad;
      if (!g0) continue;
      const g = g0.isContiguous ? g0 : keep(g0.contiguous());
      const m = this.m[k];
      const bufs = { G: g.storage.buf, SC: sc.storage.buf, W: p.storage.buf, M: m.storage.buf, V: this.v[k].storage.buf };
      dispatch(ADAMW, bufs, { ...hyper, n: p.size, wOff: p.offset, gOff: g.offset, mOff: m.offset }, grid(p.size, WG));
      if (g !== g0) g.dispose();
    }
  }

  /** Drops every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** The moments and step (tensors owned by the optimizer; read them, do not dispose). */
  state(): AdamWState {
    return { step: this.step, m: this.m, v: this.v };
  }

  /** Frees the moment buffers; the parameters keep their weights (and take their gradients as before). */
  dispose(): void {
    for (const t of [...this.m, ...this.v, this.one]) t.dispose();
    const f = this.flat;
    if (!f) return;
    for (const p of this.params) if (p._gradSlot?.storage === f.G) p._gradSlot = null;
    flatOf.delete(f.G);
    for (const st of [f.W, f.G, f.M, f.V]) st.drop();
  }
}

/**
 * Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_: returns the total L2 norm of
 * all gradients and the factor min(1, maxNorm / (norm + 1e-6)), both 1-element tensors computed on
 * the GPU (nothing is read back), and `finite` (1 when the norm is finite, else 0). `scale` is NaN
 * for non-finite gradients, which makes `AdamW.update({ gradScale: scale })` skip the step. With
 * `maxNorm = Infinity` it only checks finiteness. The caller owns the three tensors. When the
 * gradients are exactly those of one `AdamW`'s flat buffer, it takes two dispatches in all.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm = Infinity): { norm: Tensor; scale: Tensor; finite: Tensor } {
  const list = [...params];
  const G = list[0]?.grad?.storage;
  const flat = G ? flatOf.get(G) : undefined;
  if (flat && flat.params.length === list.length && list.every((p, k) => p === flat.params[k] && p.grad && p.grad.storage === G)) {
    return noGrad(() =>
      tidy(() => {
        const partial = empty([NORM_GROUPS]);
        const out = empty([3]); // [norm, scale, finite]
        dispatch(NORM_PARTIAL, { G: G!.buf, partial: partial.storage.buf }, { n: flat.total }, [NORM_GROUPS, 1, 1]);
        const clip = Number.isFinite(maxNorm);
        dispatch(NORM_FINAL, { partial: partial.storage.buf, out: out.storage.buf }, { maxNorm: clip ? maxNorm : 0, clip: clip ? 1 : 0 }, [1, 1, 1]);
        return { norm: out.slice(0, 0, 1), scale: out.slice(0, 1, 2), finite: out.slice(0, 2, 3) };
      }),
    );
  }
  return noGrad(() =>
    tidy(() => {
      let acc: Tensor | null = null;
      for (const p of list) {
        if (!p.grad) continue;
        const s = p.grad.mul(p.grad).sum().reshape([1]);
        acc = acc ? acc.add(s) : s;
      }
      const norm = (acc ?? full([1], 0)).sqrt();
      // NaN when the norm is not finite, so AdamW.update skips the step (see the kernel).
      const finite = norm.abs().lt(Infinity);
      const scale = where(finite, norm.add(1e-6).pow(-1).mul(maxNorm).minimum(1), NaN);
      return { norm, scale, finite };
    }),
  );
}
