import { type CausalLM, generateBatch } from '@kdgpu/models';
import { cat, noGrad, tensor, tidy } from '@kdgpu/tensor';
import type { Batch } from '../blocks.ts';
import { continuationLabels, promptsOf } from './batches.ts';

/**
 * What on-policy methods are judged by: the student's own samples, scored by the teacher. The
 * student continues held-out prompts (batched on the GPU), and the teacher's per-token negative
 * log-likelihood of those continuation tokens is averaged (lower: the student writes what the
 * teacher finds likely). The student's own NLL of its samples is reported beside it (an estimate of
 * its per-token entropy: a student that wins by collapsing to a few safe tokens shows a low one).
 */

/** Settings of {@link teacherNllOfSamples}. */
export interface SampleNllOptions {
  /** Tokens of each block given as the prompt; the rest of the block is sampled. */
  promptLength: number;
  /** Sampling temperature (default 1: the student's distribution as it is). */
  temperature?: number;
  /** Nucleus mass (default 1). */
  topP?: number;
  /** Sampling seed (default 0). */
  seed?: number;
}

/** The result of {@link teacherNllOfSamples}. */
export interface SampleNllResult {
  /** Mean teacher NLL per sampled token (nats). */
  teacherNll: number;
  /** Mean student NLL per sampled token (nats): an entropy estimate. */
  studentNll: number;
  /** Tokens sampled and scored. */
  tokens: number;
  /** Sampling throughput, tokens per second (batched generation only). */
  tokensPerSecond: number;
}

/**
 * Samples a continuation of each held-out block's prompt from `student` and scores it with
 * `teacher` (and the student). `blocks` are the held-out batches (e.g. `evalBatches`); the
 * continuation fills each block's length.
 */
export async function teacherNllOfSamples(student: CausalLM, teacher: CausalLM, blocks: Iterable<Batch>, o: SampleNllOptions): Promise<SampleNllResult> {
  let tSum = 0;
  let sSum = 0;
  let n = 0;
  let genMs = 0;
  let batchIndex = 0;
  for (const b of blocks) {
    const [B, T] = b.shape;
    const g = await generateBatch(student, promptsOf(b, o.promptLength), [B, o.promptLength], {
      maxNewTokens: T - o.promptLength, temperature: o.temperature ?? 1, topP: o.topP ?? 1, seed: (o.seed ?? 0) * 4096 + batchIndex++,
    });
    genMs += g.ms;
    const labels = continuationLabels(g.ids, [B, T], o.promptLength);
    const safe = Int32Array.from(labels, (y) => Math.max(0, y));
    const mask = Float32Array.from(labels, (y) => (y === -100 ? 0 : 1));
    const sums = noGrad(() =>
      tidy(() => {
        const ids = tensor(g.ids, { shape: [B, T], dtype: 'i32' });
        const idx = tensor(safe, { shape: [B, T, 1], dtype: 'i32' });
        const m = tensor(mask, { shape: [B, T] });
        const nll = (model: CausalLM) => model.forward(ids).logSoftmax(-1).gather(2, idx).reshape([B, T]).mul(m).sum().neg().reshape([1]); // [1]
        return cat([nll(teacher), nll(student)], 0); // [2]
      }),
    );
    const v = await sums.data();
    sums.dispose();
    tSum += v[0]!;
    sSum += v[1]!;
    n += mask.reduce((a, x) => a + x, 0);
  }
  return { teacherNll: tSum / Math.max(1, n), studentNll: sSum / Math.max(1, n), tokens: n, tokensPerSecond: genMs > 0 ? (n * 1000) / genMs : 0 };
}
