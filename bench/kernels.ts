/**
 * Fused kernels (`nn`) beside their composed versions and PyTorch CPU: forward + backward of each,
 * the causal attention of the issue (B=8, H=8, T=128, d=64), and the transformer block with fused
 * kernels.
 */
import { nn, randn, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import { block as blockComposedRef, type BlockParams, blockParams } from './workloads.ts';

export interface KernelWorkload {
  name: string;
  torch: Record<string, unknown>;
  fused: () => void;
  composed: () => void;
  work?: [number, string];
}

function leaf(shape: number[], seed: number): Tensor {
  const t = randn(shape, { seed });
  t.requiresGrad = true;
  return t;
}

/** forward + backward of `f` on a mean loss; drops the grads afterwards. */
function fb(f: () => Tensor, leaves: Tensor[]): () => void {
  return () =>
    tidy(() => {
      f().mean().backward();
      for (const l of leaves) l.zeroGrad();
    });
}

/** Pre-LN GPT-2 block with the fused kernels. */
export function blockFused(x: Tensor, P: BlockParams, heads: number): Tensor {
  const [B, T, C] = x.shape;
  const D = C / heads;
  const h = nn.layerNorm(x, P.ln1g, P.ln1b);
  const qkv = h.matmul(P.wqkv).add(P.bqkv);
  const split = (k: number) => qkv.slice(-1, k * C, (k + 1) * C).reshape([B, T, heads, D]).transpose(1, 2);
  const y = nn.causalAttention(split(0), split(1), split(2)).transpose(1, 2).reshape([B, T, C]);
  const x1 = x.add(y.matmul(P.wo).add(P.bo));
  const h2 = nn.layerNorm(x1, P.ln2g, P.ln2b);
  return x1.add(nn.geluTanh(h2.matmul(P.w1).add(P.b1)).matmul(P.w2).add(P.b2));
}

export function kernelWorkloads(quick: boolean): KernelWorkload[] {
  const out: KernelWorkload[] = [];
  {
    const [n, c] = quick ? [256, 256] : [1024, 1024];
    const x = leaf([n, c], 1), w = leaf([c], 2), b = leaf([c], 3);
    out.push({ name: `layerNorm fwd+bwd ${n}x${c}`, torch: { kind: 'layernorm', n, c }, fused: fb(() => nn.layerNorm(x, w, b), [x, w, b]), composed: fb(() => nn.layerNormComposed(x, w, b, 1e-5), [x, w, b]) });
    out.push({ name: `rmsNorm fwd+bwd ${n}x${c}`, torch: { kind: 'rmsnorm', n, c }, fused: fb(() => nn.rmsNorm(x, w), [x, w]), composed: fb(() => nn.rmsNormComposed(x, w, 1e-6), [x, w]) });
    out.push({ name: `geluTanh fwd+bwd ${n}x${c}`, torch: { kind: 'gelu', n, c }, fused: fb(() => nn.geluTanh(x), [x]), composed: fb(() => nn.geluTanhComposed(x), [x]) });
    const g = leaf([n, c], 4);
    out.push({ name: `swiglu fwd+bwd ${n}x${c}`, torch: { kind: 'swiglu', n, c }, fused: fb(() => nn.swiglu(x, g), [x, g]), composed: fb(() => nn.swigluComposed(x, g), [x, g]) });
  }
  {
    const [B, H, T, D] = quick ? [2, 4, 64, 32] : [8, 8, 128, 64];
    const x = leaf([B, H, T, D], 5);
    const { cos, sin } = nn.rotaryTables(D, 2 * T);
    out.push({ name: `rotary fwd+bwd ${B}x${H}x${T}x${D}`, torch: { kind: 'rope', shape: [B, H, T, D] }, fused: fb(() => nn.applyRotary(x, cos, sin, 0), [x]), composed: fb(() => nn.rotaryComposed(x, cos, sin, 0), [x]) });
    const q = leaf([B, H, T, D], 6), k = leaf([B, H, T, D], 7), v = leaf([B, H, T, D], 8);
    // Causal: QK^T and PV each ~half of 2*B*H*T*T*D; backward ~2.5x forward.
    const flops = (3.5 * 2 * B * H * T * T * D) / 1e9;
    out.push({
      name: `causal attention fwd+bwd B${B} H${H} T${T} d${D}`,
      torch: { kind: 'attention', shape: [B, H, T, D] },
      fused: fb(() => nn.causalAttention(q, k, v), [q, k, v]),
      composed: fb(() => nn.attentionComposed(q, k, v, 1 / Math.sqrt(D)), [q, k, v]),
      work: [flops, 'GFLOP/s'],
    });
  }
  {
    const [n, V] = quick ? [256, 4000] : [1024, 16000];
    const logits = leaf([n, V], 9);
    const labels = tensor(Int32Array.from({ length: n }, (_, i) => (i * 7919) % V));
    out.push({
      name: `cross-entropy fwd+bwd ${n}x${V}`,
      torch: { kind: 'ce', n, v: V },
      fused: fb(() => nn.crossEntropy(logits, labels), [logits]),
      composed: fb(() => nn.crossEntropyComposed(logits, labels), [logits]),
      work: [n / 1e3, 'k tokens/s'],
    });
  }
  if (!quick) {
    const [B, T, d, heads, ff] = [4, 128, 256, 4, 1024];
    const P = blockParams(d, ff);
    const x = randn([B, T, d], { seed: 13 });
    const leaves = Object.values(P);
    const step = (f: () => Tensor) => () => tidy(() => {
      f().pow(2).mean().backward();
      for (const p of leaves) p.zeroGrad();
    });
    out.push({
      name: `transformer block fwd+bwd B${B} T${T} d${d} h${heads} ff${ff}`,
      torch: { kind: 'block', B, T, d, heads, ff },
      fused: step(() => blockFused(x, P, heads)),
      composed: step(() => blockComposedRef(x, P, heads)),
      work: [2.6, 'GFLOP/s'],
    });
  }
  return out;
}
