/** GGUF files where the CLI and the teachers take a model folder: their tokenizer comes from the file's vocabulary. */

import { KdgpuError } from '@kdgpu/tensor';
import { readGgufHeader, vocabFromMetadata } from '@kdgpu/models';
import { fileSource } from '@kdgpu/models/node';
import { type Tokenizer, tokenizerFromGguf } from '@kdgpu/tokenizer';

/** Whether a model path names a GGUF file rather than a folder. */
export function isGgufPath(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf');
}

/**
 * The tokenizer stored in a GGUF model file (`tokenizer.ggml.*`, or the kept tokenizer.json of a
 * kdgpu export); null when the file has no vocabulary. `field` names the setting in errors.
 */
export async function ggufTokenizer(path: string, field: string): Promise<Tokenizer | null> {
  const src = await fileSource(path);
  try {
    const vocab = vocabFromMetadata(await readGgufHeader(src), path);
    if (!vocab) return null;
    return tokenizerFromGguf(vocab);
  } catch (e) {
    throw new KdgpuError(`${field}: ${path}: ${(e as Error).message}; give the tokenizer as a tokenizer.json file instead`);
  } finally {
    await src.close?.();
  }
}
