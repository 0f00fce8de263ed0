import { type CausalLM, generateBatch } from '@kdgpu/models';
import type { Batch } from '../blocks.ts';
import { continuationBatch, promptsOf, splitRows } from './batches.ts';

/**
 * One generation serves an optimizer window: the prompts of all its micro-batches decode together
 * in one batch on the GPU (one readback at the end), and the result is split back into micro-batches
 * of the same shapes, prompt + continuation = the block length, labels masked on the prompt.
 */

/** How student samples are drawn. */
export interface SamplingSettings {
  /** Tokens of each block kept as the prompt; the rest of the block's length is sampled. */
  promptLength: number;
  /** Softmax temperature of sampling. */
  temperature: number;
  /** Nucleus sampling mass (1: all tokens). */
  topP: number;
}

/** Counters of the generation work, for the speed report. */
export interface GenerationStats {
  /** Batched generations run. */
  calls: number;
  /** Tokens sampled (rows × new tokens). */
  tokens: number;
  /** Wall-clock milliseconds spent generating (recording, GPU work and the readback). */
  ms: number;
}

/** A zeroed {@link GenerationStats}. */
export function newGenerationStats(): GenerationStats {
  return { calls: 0, tokens: 0, ms: 0 };
}

/**
 * Student continuations for the window `micro`: batches shaped as `micro`'s, whose first
 * `promptLength` tokens are the data's and the rest sampled from `model` (teacher-mixed when `mix`
 * is given). Adds to `stats`.
 */
export async function generateWindow(
  model: CausalLM,
  micro: readonly Batch[],
  s: SamplingSettings,
  seed: number,
  stats: GenerationStats,
  mix?: { model: CausalLM; alpha: number },
): Promise<Batch[]> {
  const T = micro[0]!.shape[1];
  const prompts = micro.map((b) => promptsOf(b, s.promptLength));
  const rows = micro.reduce((a, b) => a + b.shape[0], 0);
  const all = new Int32Array(rows * s.promptLength);
  let at = 0;
  for (const p of prompts) {
    all.set(p, at);
    at += p.length;
  }
  const g = await generateBatch(model, all, [rows, s.promptLength], { maxNewTokens: T - s.promptLength, temperature: s.temperature, topP: s.topP, seed, ...(mix ? { mix } : {}) });
  stats.calls++;
  stats.tokens += rows * (T - s.promptLength);
  stats.ms += g.ms;
  return splitRows(g.ids, T, micro).map((part, i) => continuationBatch(part.ids, part.shape, s.promptLength, micro[i]!));
}
