/** `kdgpu tokenizer train`: a byte-level BPE tokenizer from text files. */

import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { KdgpuError } from '@kdgpu/tensor';
import { babyLlamaTokenizerOptions, linesOf, trainBpe } from '@kdgpu/tokenizer';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../atomic-node.ts';
import { decodeTextInput } from '../../text-input.ts';
import { defineCommand } from '../args.ts';

export const tokenizerTrainCommand = defineCommand({
  name: 'tokenizer train',
  summary: 'train a byte-level BPE tokenizer (Hugging Face tokenizer.json)',
  description: `Baby Llama's tokenizer: NFKC, ByteLevel with prefix space, BPE; merges identical to Hugging Face's
trainer. Text files may be plain, .gz, or JSON Lines with a "text" field. The output folder is
checked before training; an existing file is kept unless --overwrite.`,
  positional: { name: 'FILE', help: 'text files to train on', min: 1, max: Infinity },
  flags: {
    out: { type: 'string', value: 'FILE', required: true, help: 'where to write tokenizer.json' },
    'vocab-size': { type: 'integer', value: 'N', default: 16000, help: 'vocabulary size, special tokens included' },
    'min-frequency': { type: 'integer', value: 'N', default: 2, help: 'merge only pairs seen at least N times' },
    special: { type: 'list', value: 'A,B', default: ['<pad>', '<s>', '</s>'], help: 'special tokens, given the first ids' },
    overwrite: { type: 'boolean', help: 'replace an existing --out file' },
    quiet: { type: 'boolean', help: 'no progress output' },
  },
  async run(args) {
    const f = args.flags;
    const out = resolve(f.out);
    const dir = dirname(out);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new KdgpuError(`--out: the folder ${dir} does not exist; create it first (nothing was trained)`);
    if (existsSync(out) && !f.overwrite) throw new KdgpuError(`--out: ${out} already exists; pass --overwrite to replace it, or choose another path`);
    if (f['vocab-size'] < 1) throw new KdgpuError(`--vocab-size must be positive, got ${f['vocab-size']}`);
    for (const p of args.positional) {
      if (!existsSync(p) || !statSync(p).isFile()) throw new KdgpuError(`${p}: no such file (nothing was trained)`);
    }
    const sources = await Promise.all(args.positional.map(async (p) => linesOf(decodeTextInput(await readFile(p), p), p)));
    const opts = babyLlamaTokenizerOptions({ vocabSize: f['vocab-size'], minFrequency: f['min-frequency'], showProgress: !f.quiet });
    const tok = await trainBpe(sources, { ...opts, specialTokens: f.special });
    await writeFileAtomic(out, tok.serialize(true));
    console.log(`wrote ${out}: vocabulary ${tok.vocabSize}`);
    return 0;
  },
});
