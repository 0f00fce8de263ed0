import { noGrad, type Tensor, where } from '@kdgpu/tensor';
import type { Reduction } from './types.ts';

/**
 * The one masked reduction every loss goes through, so that masking, the N = 0 guard and the
 * reductions mean the same thing everywhere (and chunked runs reduce exactly like whole ones).
 */

/** f32 1/0 mask of the positions that count, shape of `labels`; null means every position counts. */
export function validMask(labels: Tensor | null, ignoreIndex: number): Tensor | null {
  return labels === null ? null : noGrad(() => labels.ne(ignoreIndex));
}

/**
 * Per-token losses with ignored positions set to 0 and `scale` applied. `where` rather than a
 * multiply: an ignored position's loss may be NaN or inf (padding rows of -inf logits), and
 * 0 * NaN would leak into the sum.
 */
export function maskTokens(perToken: Tensor, valid: Tensor | null, scale: number): Tensor {
  const scaled = scale === 1 ? perToken : perToken.mul(scale);
  return valid === null ? scaled : where(valid, scaled, 0);
}

/**
 * Reduces masked per-token losses [N] or [B, T] (see `Reduction`). `valid` is the mask of the whole
 * batch (not of a chunk), `batchSize` is B for [B, T] tokens and N for [N]. With no valid token
 * `mean` gives 0 rather than 0/0.
 */
export function reduceTokens(tokens: Tensor, valid: Tensor | null, reduction: Reduction, batchSize: number): Tensor {
  switch (reduction) {
    case 'none':
      return tokens;
    case 'sum':
      return tokens.sum();
    case 'batchmean':
      return tokens.sum().div(batchSize);
    case 'mean': {
      if (valid === null) return tokens.sum().div(Math.max(1, tokens.size));
      const count = noGrad(() => valid.sum().maximum(1));
      return tokens.sum().div(count);
    }
    default:
      return reduction satisfies never;
  }
}
