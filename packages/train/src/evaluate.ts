import { keep, nn, noGrad, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import type { CausalLM } from '@kdgpu/models';
import type { Batch } from './blocks.ts';
import { shiftLabels } from './step.ts';

/** Validation loss (mean next-token cross-entropy in nats), perplexity and token count. */
export interface EvalResult {
  loss: number;
  perplexity: number;
  tokens: number;
}

/**
 * Mean cross-entropy of `model` over `batches` (next-token, every position but each block's last),
 * summed on the GPU and read back once at the end.
 */
export async function evaluateLM(model: CausalLM, batches: Iterable<Batch>): Promise<EvalResult> {
  let sum: Tensor = keep(tensor([0]));
  let tokens = 0;
  for (const batch of batches) {
    const [B, T] = batch.shape;
    const next = noGrad(() =>
      tidy(() => {
        const ids = tensor(batch.ids, { shape: [B, T], dtype: 'i32' });
        const labels = tensor(shiftLabels(batch.ids, B, T), { dtype: 'i32' });
        const logits = model.forward(ids);
        const ce = nn.crossEntropy(logits.reshape([B * T, logits.shape[2]]), labels, { reduction: 'sum' });
        return sum.add(ce.reshape([1]));
      }),
    );
    sum.dispose();
    sum = keep(next);
    tokens += B * (T - 1);
  }
  const total = await sum.item();
  sum.dispose();
  const loss = tokens > 0 ? total / tokens : NaN;
  return { loss, perplexity: Math.exp(loss), tokens };
}
