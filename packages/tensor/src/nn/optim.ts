import { keep, tidy } from '../scope.ts';
import { noGrad } from '../autograd.ts';
import { full } from '../ops/broadcast.ts';
import { where } from '../ops/elementwise.ts';
import { dispatch, grid, LINEAR_ID } from '../engine.ts';
import { defineKernel } from '../kernel.ts';
import { fmtShape, KdgpuError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { WG } from './util.ts';

/**
 * AdamW as torch.optim.AdamW (decoupled weight decay, bias correction, eps added after the
 * bias-corrected square root), one fused kernel per parameter that updates the weight and both
 * moments in place. An optional 1-element gradient scale (from `clipGradNorm`) is read on the GPU,
 * so clipping needs no readback; when that scale is NaN (non-finite gradients) the kernel leaves
 * weights and moments untouched, so a bad step is skipped without the CPU looking.
 */

// lrWd = lr * weight decay; bc1 = 1 / bias correction 1; bc2 = 1 / sqrt(bias correction 2).
const ADAMW = defineKernel({
  key: 'adamw',
  inputs: { G: 'f32', SC: 'f32' },
  outputs: { W: 'f32', M: 'f32', V: 'f32' },
  params: { n: 'u32', lr: 'f32', beta1: 'f32', beta2: 'f32', eps: 'f32', lrWd: 'f32', bc1: 'f32', bc2: 'f32' },
  body: () => `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${LINEAR_ID(WG)};
  if (i >= params.n) { return; }
  // A non-finite scale (from clipGradNorm on NaN/inf gradients) skips the update entirely.
  let sc = SC[0];
  if (!(abs(sc) <= 3.4028234e38)) { return; }
  let lr = params.lr;
  let b1 = params.beta1;
  let b2 = params.beta2;
  let eps = params.eps;
  let g = G[i] * sc;
  var w = W[i] * (1.0 - params.lrWd);
  let m = b1 * M[i] + (1.0 - b1) * g;
  let v = b2 * V[i] + (1.0 - b2) * g * g;
  M[i] = m;
  V[i] = v;
  let denom = sqrt(v) * params.bc2 + eps;
  W[i] = w - lr * params.bc1 * m / denom;
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
    this.m = this.params.map((p) => keep(full(p.shape, 0)));
    this.v = this.params.map((p) => keep(full(p.shape, 0)));
    this.one = keep(full([1], 1));
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
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k];
      const g0 = p.grad;
      if (!g0) continue;
      const g = g0.isContiguous && g0.offset === 0 ? g0 : keep(g0.contiguous());
      const params = { n: p.size, lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, lrWd: this.lr * this.weightDecay, bc1: 1 / bc1, bc2: 1 / Math.sqrt(bc2) };
      const bufs = { G: g.storage.buf, SC: sc.storage.buf, W: p.storage.buf, M: this.m[k].storage.buf, V: this.v[k].storage.buf };
      dispatch(ADAMW, bufs, params, grid(p.size, WG));
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

  /** Frees the moment buffers. */
  dispose(): void {
    for (const t of [...this.m, ...this.v, this.one]) t.dispose();
  }
}

/**
 * Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_: returns the total L2 norm of
 * all gradients and the factor min(1, maxNorm / (norm + 1e-6)), both 1-element tensors computed on
 * the GPU (nothing is read back), and `finite` (1 when the norm is finite, else 0). `scale` is NaN
 * for non-finite gradients, which makes `AdamW.update({ gradScale: scale })` skip the step. With
 * `maxNorm = Infinity` it only checks finiteness. The caller owns the three tensors.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm = Infinity): { norm: Tensor; scale: Tensor; finite: Tensor } {
  return noGrad(() =>
    tidy(() => {
      let acc: Tensor | null = null;
      for (const p of params) {
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
