/** `kdgpu init`: a commented example config to start from. */

import { existsSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KdgpuError } from '@kdgpu/tensor';
import { writeFileAtomic } from '../../atomic-node.ts';
import { trainConfigSchema } from '../../config-schema.ts';
import { defineCommand } from '../args.ts';
import { commentedJson } from '../commented-config.ts';

/** The shipped JSON Schema file of configs. */
export const SCHEMA_FILE: string = fileURLToPath(new URL('../../../config.schema.json', import.meta.url));

/** Example configs by kind, sized for a CPU (a few minutes each on a software adapter). */
export function exampleConfig(kind: 'train' | 'distill', schemaRef: string): Record<string, unknown> {
  const common = {
    $schema: schemaRef,
    data: { files: ['examples/data/fortunes.train.gz'], evalFiles: ['examples/data/fortunes.dev.gz'], blockSize: 64, batchSize: 8, maxEvalBlocks: 64 },
    optimizer: { lr: 3e-3, weightDecay: 0.01, clipGradNorm: 1 },
    schedule: { type: 'cosine', warmupSteps: 20 },
  };
  if (kind === 'train') {
    return {
      $schema: schemaRef,
      run: { name: 'teacher', outDir: 'runs', seed: 1 },
      data: common.data,
      tokenizer: { train: { vocabSize: 512, minFrequency: 2 } },
      model: { type: 'llama', preset: 'demoLlama', config: { max_position_embeddings: 128 } },
      optimizer: common.optimizer,
      schedule: common.schedule,
      train: { maxSteps: 300, logEvery: 10, evalEvery: 100, checkpointEvery: 100, keepCheckpoints: 2 },
    };
  }
  return {
    $schema: schemaRef,
    run: { name: 'student', outDir: 'runs', seed: 1 },
    data: common.data,
    tokenizer: { path: 'runs/teacher/tokenizer.json' },
    model: { type: 'llama', preset: 'tinyLlama', config: { max_position_embeddings: 128 } },
    teachers: [{ path: 'runs/teacher/final' }],
    distill: { loss: 'forwardKL', kdRatio: 0.5, temperature: 2 },
    optimizer: common.optimizer,
    schedule: common.schedule,
    train: { maxSteps: 200, logEvery: 10, evalEvery: 100, checkpointEvery: 100, keepCheckpoints: 2 },
  };
}

/** A config as commented JSON text (the descriptions of the schema above each field). */
export function commentedConfig(config: unknown, header: string): string {
  return `// ${header}\n// Every field, its default and meaning: ${relative(process.cwd(), SCHEMA_FILE) || SCHEMA_FILE}\n${commentedJson(config, trainConfigSchema)}\n`;
}

export const initCommand = defineCommand({
  name: 'init',
  summary: 'write a commented example config to start from',
  description: `Writes a commented example config (JSON with // comments, which kdgpu reads) to FILE, or prints it.
--kind train: a small LLaMA teacher trained on the fortunes corpus shipped in examples/data;
--kind distill: a smaller student distilled from that teacher (train it first).
Paths in the example are relative to the repository root. Ready configs: examples/configs/.`,
  positional: { name: 'FILE', help: 'where to write the config (default: print it)', max: 1 },
  flags: {
    kind: { type: 'string', value: 'KIND', default: 'train', choices: ['train', 'distill'], help: 'what the example does' },
    overwrite: { type: 'boolean', help: 'replace an existing FILE' },
  },
  async run(args) {
    const kind = args.flags.kind as 'train' | 'distill';
    const file = args.positional[0];
    if (file === undefined) {
      console.log(commentedConfig(exampleConfig(kind, relative(process.cwd(), SCHEMA_FILE)), `kdgpu ${kind} example (kdgpu init --kind ${kind})`).trimEnd());
      return 0;
    }
    const out = resolve(file);
    if (existsSync(out) && !args.flags.overwrite) throw new KdgpuError(`${out} already exists; pass --overwrite to replace it, or give another FILE`);
    if (!existsSync(dirname(out)) || !statSync(dirname(out)).isDirectory()) throw new KdgpuError(`the folder ${dirname(out)} does not exist; create it first`);
    await writeFileAtomic(out, commentedConfig(exampleConfig(kind, relative(dirname(out), SCHEMA_FILE)), `kdgpu ${kind} example (kdgpu init --kind ${kind})`));
    console.log(`wrote ${out}; run it with: kdgpu ${kind} ${file}`);
    return 0;
  },
});
