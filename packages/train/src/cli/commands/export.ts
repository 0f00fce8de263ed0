/** `kdgpu export`: a saved model and its tokenizer as one GGUF file for llama.cpp / ollama / LM Studio. */

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { init, KdgpuError } from '@kdgpu/tensor';
import type { GgufExportType } from '@kdgpu/models';
import { saveGguf } from '@kdgpu/models/node';
import { tokenizerToGguf } from '@kdgpu/tokenizer';
import { defineCommand } from '../args.ts';
import { modelWithTokenizer } from './model-files.ts';

export const exportCommand = defineCommand({
  name: 'export',
  summary: 'export a saved model with its tokenizer to GGUF (llama.cpp)',
  description: `Writes the model folder (a run's final/, a checkpoint, or a run folder) and its tokenizer as one GGUF
file that llama.cpp, ollama and LM Studio load: LLaMA as llama.cpp's "llama" architecture (Q/K rows
permuted as convert_hf_to_gguf.py does), GPT-2 as "gpt2". --type f16 keeps 1-D tensors f32; q8_0
quantises every 2-D tensor whose rows are a multiple of 32 (others f16). The file is written under a
temporary name and renamed when complete.`,
  positional: { name: 'MODEL_DIR', help: 'a saved model folder, or a run folder (its final/)', min: 1, max: 1 },
  flags: {
    format: { type: 'string', value: 'FORMAT', default: 'gguf', choices: ['gguf'], help: 'output format' },
    out: { type: 'string', value: 'FILE', required: true, help: 'the .gguf file to write' },
    type: { type: 'string', value: 'TYPE', default: 'f16', choices: ['f32', 'f16', 'q8_0'], help: 'tensor type of the weights' },
    tokenizer: { type: 'string', value: 'FILE', help: 'its tokenizer.json (default: the one in the model folder or its run)' },
    name: { type: 'string', value: 'NAME', help: 'general.name in the file (default: the folder name)' },
    overwrite: { type: 'boolean', help: 'replace an existing --out file' },
  },
  async run(args) {
    const f = args.flags;
    let dir = resolve(args.positional[0]!);
    // A run folder: its final model.
    if (!existsSync(resolve(dir, 'config.json')) && existsSync(resolve(dir, 'final', 'config.json'))) dir = resolve(dir, 'final');
    const out = resolve(f.out);
    if (!out.endsWith('.gguf')) throw new KdgpuError(`--out ${f.out}: give a file name ending in .gguf`);
    if (existsSync(out) && !f.overwrite) throw new KdgpuError(`--out ${out} exists; pass --overwrite to replace it`);
    if (existsSync(out) && statSync(out).isDirectory()) throw new KdgpuError(`--out ${out} is a folder; give a file name`);
    await init();
    const { model, tok, tokPath } = await modelWithTokenizer(dir, f.tokenizer, (s) => process.stderr.write(`note: ${s}\n`));
    try {
      const vocab = tokenizerToGguf(tok);
      const bytes = await saveGguf(model, out, { type: f.type as GgufExportType, vocab, name: f.name ?? dir.split(/[\\/]/).filter(Boolean).slice(-2).join('/') });
      process.stdout.write(`wrote ${out} (${(bytes / 2 ** 20).toFixed(1)} MiB, ${model.config.model_type}, ${f.type}, tokenizer ${tokPath})\n`);
      return 0;
    } finally {
      model.dispose();
    }
  },
});
