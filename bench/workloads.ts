/**
 * The reference workloads the JS WebGPU peers were measured on (runtime-notes.md): an MLP SGD
 * step and one pre-LN GPT-2 transformer block forward+backward, written with the runtime's
 * composed ops (`nn.*Composed`, the references the fused kernels are tested against). The fused
 * kernels (transformer-kernels issue) must beat these.
 */
import { nn, noGrad, randn, type Tensor, tidy, ones, zeros } from '@kdgpu/tensor';

export function param(shape: number[], seed: number, std = 0.02): Tensor {
  const t = randn(shape, { seed, std });
  t.requiresGrad = true;
  return t;
}

export function mlpParams(i: number, h: number, o: number) {
  const ps = [param([i, h], 1), zeros([h]), param([h, o], 2), zeros([o])];
  ps[1].requiresGrad = true;
  ps[3].requiresGrad = true;
  return ps;
}

/** One SGD step of a 2-layer ReLU MLP on squared error. */
export function mlpStep(ps: Tensor[], x: Tensor, y: Tensor, lr = 0.01): void {
  tidy(() => {
    const [w1, b1, w2, b2] = ps;
    const loss = x.matmul(w1).add(b1).relu().matmul(w2).add(b2).sub(y).pow(2).mean();
    loss.backward();
    noGrad(() => {
      for (const p of ps) {
        p.assign(p.sub(p.grad!.mul(lr)));
        p.zeroGrad();
      }
    });
  });
}

export interface BlockParams {
  [k: string]: Tensor;
}

export function blockParams(d: number, ff: number): BlockParams {
  const P: BlockParams = {
    ln1g: ones([d]), ln1b: zeros([d]), wqkv: param([d, 3 * d], 3), bqkv: param([3 * d], 4),
    wo: param([d, d], 5), bo: param([d], 6), ln2g: ones([d]), ln2b: zeros([d]),
    w1: param([d, ff], 7), b1: param([ff], 8), w2: param([ff, d], 9), b2: param([d], 10),
  };
  for (const p of Object.values(P)) p.requiresGrad = true;
  return P;
}

/** Pre-LN GPT-2 block, composed: x + attn(ln1(x)), then + mlp(ln2(.)). x: [B, T, C]. */
export function block(x: Tensor, P: BlockParams, heads: number): Tensor {
  const [B, T, C] = x.shape;
  const D = C / heads;
  const h = nn.layerNormComposed(x, P.ln1g, P.ln1b, 1e-5);
  const qkv = h.matmul(P.wqkv).add(P.bqkv); // [B, T, 3C]
  const split = (k: number) => qkv.slice(-1, k * C, (k + 1) * C).reshape([B, T, heads, D]).transpose(1, 2); // [B, H, T, D]
  const y = nn.attentionComposed(split(0), split(1), split(2), 1 / Math.sqrt(D)).transpose(1, 2).reshape([B, T, C]); // [B, T, C]
  const x1 = x.add(y.matmul(P.wo).add(P.bo));
  const h2 = nn.layerNormComposed(x1, P.ln2g, P.ln2b, 1e-5);
  return x1.add(nn.geluTanhComposed(h2.matmul(P.w1).add(P.b1)).matmul(P.w2).add(P.b2));
}

/** Forward + backward of one block on a squared-mean loss; grads are dropped after. */
export function blockStep(x: Tensor, P: BlockParams, heads: number): void {
  tidy(() => {
    block(x, P, heads).pow(2).mean().backward();
    for (const p of Object.values(P)) p.zeroGrad();
  });
}
