/**
 * Fused transformer kernels, each matching its composed version in `composed.ts` (tested forward
 * and backward).
 */
export { geluTanh, silu, swiglu, swigluPacked } from './activations.ts';
export { layerNorm, rmsNorm } from './norm.ts';
export { applyRotary, rotaryTables } from './rope.ts';
export { type AttentionBackward, type AttentionOptions, causalAttention, setAttentionBackward } from './attention.ts';
export { crossEntropy } from './cross-entropy.ts';
export { dropout } from './dropout.ts';
export { AdamW, type AdamWOptions, type AdamWState, clipGradNorm } from './optim.ts';
export {
  attentionComposed, crossEntropyComposed, geluTanhComposed, layerNormComposed, rmsNormComposed, rotaryComposed, siluComposed, swigluComposed,
} from './composed.ts';
export { embedding } from './embedding.ts';
