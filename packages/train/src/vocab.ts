/**
 * Vocabulary checks, wherever a model meets a tokenizer (train, distill, eval, generate, logits):
 * a model must have a row for every id the tokenizer produces. A model vocabulary larger than the
 * tokenizer's is normal (Hugging Face pads embedding matrices to a multiple of 64 or 128; the extra
 * rows are never produced by the tokenizer) and is reported; a smaller one is refused, naming both
 * sizes and where they come from.
 * @module
 */

import { KdgpuError } from '@kdgpu/tensor';

/** One side of a check: a vocabulary size and where it comes from (a file, a config field). */
export interface VocabSide {
  vocabSize: number;
  /** E.g. `model runs/t/final (config.json vocab_size)` or `tokenizer runs/t/tokenizer.json`. */
  name: string;
}

/**
 * Checks that `model` has a row for every id of `tokenizer`. Returns null when the sizes are equal,
 * a one-line note when the model's vocabulary is larger (padded), and throws a KdgpuError naming
 * both sides and `fix` (default: use the model's own tokenizer) when it is smaller.
 */
export function checkVocabulary(p: { model: VocabSide; tokenizer: VocabSide; fix?: string }): string | null {
  const { model, tokenizer } = p;
  if (model.vocabSize === tokenizer.vocabSize) return null;
  if (model.vocabSize > tokenizer.vocabSize) {
    return `${model.name} has a vocabulary of ${model.vocabSize}, ${model.vocabSize - tokenizer.vocabSize} more than the ${tokenizer.vocabSize} of ${tokenizer.name} (padded embeddings; the extra rows are never used)`;
  }
  throw new KdgpuError(
    `${model.name} has a vocabulary of ${model.vocabSize}, smaller than the ${tokenizer.vocabSize} tokens of ${tokenizer.name}: ` +
      `ids ${model.vocabSize}-${tokenizer.vocabSize - 1} would have no embedding. ${p.fix ?? 'Use the tokenizer the model was trained with'}`,
  );
}
