/** What the CLI's model commands share: a saved model with its tokenizer, checked against each other. */

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KdgpuError } from '@kdgpu/tensor';
import type { CausalLM, ModelConfig } from '@kdgpu/models';
import { loadModel, readModelConfig } from '@kdgpu/models/node';
import type { Tokenizer } from '@kdgpu/tokenizer';
import { loadTokenizerFile } from '../../data-node.ts';
import { checkVocabulary } from '../../vocab.ts';
import { ggufTokenizer, isGgufPath } from '../../gguf-node.ts';

/** The longest sequence a model accepts. */
export function contextLength(c: ModelConfig): number {
  return c.model_type === 'llama' ? c.max_position_embeddings : c.n_positions;
}

/** The run folder a model folder belongs to (`<run>/final` or `<run>/checkpoints/step-N`), if it is one. */
export function runOf(modelDir: string): string | null {
  const d = resolve(modelDir);
  for (const run of [dirname(d), dirname(dirname(d))]) if (existsSync(join(run, 'config.resolved.json'))) return run;
  return null;
}

/** The tokenizer of a model folder: `--tokenizer`, else tokenizer.json in the folder or its run. */
function findTokenizer(modelDir: string, given: string | undefined): { tok: Tokenizer; path: string } {
  if (given) return { tok: loadTokenizerFile(given, '--tokenizer'), path: resolve(given) };
  const run = runOf(modelDir);
  for (const p of [join(modelDir, 'tokenizer.json'), ...(run ? [join(run, 'tokenizer.json')] : [])]) {
    if (existsSync(p)) return { tok: loadTokenizerFile(p, `--tokenizer (found ${p})`), path: p };
  }
  throw new KdgpuError(`--tokenizer is needed: no tokenizer.json in ${resolve(modelDir)}${run ? ` or its run ${run}` : ''}`);
}

/**
 * Loads `--model` and its tokenizer, checking the vocabularies before the weights are read: a
 * tokenizer larger than the model's vocabulary is refused with both numbers and files; a larger
 * model vocabulary (padded) is reported through `note`.
 */
export async function modelWithTokenizer(modelDir: string, tokenizer: string | undefined, note: (s: string) => void): Promise<{ model: CausalLM; tok: Tokenizer; tokPath: string }> {
  let config: ModelConfig;
  try {
    config = await readModelConfig(modelDir);
  } catch (e) {
    throw new KdgpuError(`--model: ${(e as Error).message.replace(/^loadModel: /, '')}`);
  }
  // A .gguf model without --tokenizer: the vocabulary in the file.
  const fromGguf = !tokenizer && isGgufPath(modelDir) ? await ggufTokenizer(modelDir, '--model') : null;
  const { tok, path } = fromGguf ? { tok: fromGguf, path: `${resolve(modelDir)} (its vocabulary)` } : findTokenizer(modelDir, tokenizer);
  const n = checkVocabulary({
    model: { vocabSize: config.vocab_size, name: `the model ${resolve(modelDir)} (config.json vocab_size)` },
    tokenizer: { vocabSize: tok.vocabSize, name: `the tokenizer ${path}` },
    fix: 'Give the tokenizer the model was trained with (--tokenizer <run>/tokenizer.json)',
  });
  if (n) note(n);
  return { model: await loadModel(modelDir), tok, tokPath: path };
}

/** The block size a model was trained with (its run's config), else its context length; and where that came from. */
export function trainedBlockSize(modelDir: string, config: ModelConfig): { blockSize: number; from: string } {
  const run = runOf(modelDir);
  if (run) {
    try {
      const c = JSON.parse(readFileSync(join(run, 'config.resolved.json'), 'utf8')) as { data?: { blockSize?: unknown } };
      if (typeof c.data?.blockSize === 'number') return { blockSize: c.data.blockSize, from: `data.blockSize of ${join(run, 'config.resolved.json')}` };
    } catch {
      // fall through to the context length
    }
  }
  return { blockSize: contextLength(config), from: "the model's context length" };
}
