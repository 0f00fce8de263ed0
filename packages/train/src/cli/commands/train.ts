/** `kdgpu train` and `kdgpu distill`: a run from a JSON config. */

import { KdgpuError } from '@kdgpu/tensor';
import { presetNames } from '@kdgpu/models';
import { runTraining } from '../../run-node.ts';
import { signalExitCode } from '../../signals-node.ts';
import { relative } from 'node:path';
import { defineCommand, UsageError } from '../args.ts';
import { loadConfigFile } from '../config-file.ts';
import { commentedConfig, exampleConfig, SCHEMA_FILE } from './init.ts';

const flags = {
  resume: {
    type: 'string',
    value: 'DIR',
    help: 'continue the run from its latest checkpoint, or from checkpoint folder DIR',
    optionalValue: (next: string) => !/\.jsonc?$/i.test(next),
  },
  overwrite: { type: 'boolean', help: 'if the run folder holds a run, move it aside to <name>.replaced-<date>/ (nothing is deleted) and start over' },
  'allow-schedule-change': { type: 'boolean', help: 'with --resume: accept a config whose schedule (steps, lr, kdRatio, batch) differs from the checkpoint\'s' },
  quiet: { type: 'boolean', help: 'no progress output' },
  'print-config': { type: 'boolean', help: 'print the config with every default filled in, commented, and exit (without CONFIG: an example)' },
} as const;

const common = () => `Overrides use the config's field paths: optimizer.lr=3e-4 train.maxSteps=200 distill.loss=reverseKL.
Outputs go to <run.outDir>/<run.name>/: checkpoints/, final/ (a Hugging Face model), tokenizer.json,
metrics.jsonl, config.resolved.json. A folder that already holds a run is never overwritten:
use --resume, another run.name, or --overwrite (moves the old run aside).
Everything (data files, tokenizer, teachers, vocabularies) is checked before anything is written.
Ctrl-C or SIGTERM finishes the step, saves a checkpoint and exits; a second one stops at once.

Start from an example: kdgpu init my-run.json (or examples/configs/*.json). Every field, its
default and meaning: packages/train/config.schema.json (point a config's "$schema" at it for
completion in an editor). Model presets: ${presetNames().join(', ')}.`;

function trainLike(name: 'train' | 'distill') {
  return defineCommand({
    name,
    summary: name === 'train' ? 'train a language model from a JSON config' : 'distil teachers into a student from a JSON config',
    description:
      name === 'train'
        ? `Trains a language model as the config says (a "distill" section makes it distillation).\n${common()}`
        : `Distils the config's teachers (saved model folders) or offlineLogits (from kdgpu logits) into the\nstudent, with the config's "distill" section (loss, kdRatio, temperature, ensemble).\n${common()}`,
    positional: { name: 'CONFIG.json', help: 'the run config (JSON; // comments allowed)', min: 0, max: 1, overrides: true },
    flags,
    async run(args) {
      const path = args.positional[0];
      if (path === undefined) {
        if (!args.flags['print-config']) throw new UsageError(`missing CONFIG.json: usage: kdgpu ${name} CONFIG.json [key.sub=value ...] [flags] (kdgpu init writes an example)`);
        const kind = name === 'distill' ? 'distill' : 'train';
        console.log(commentedConfig(exampleConfig(kind, relative(process.cwd(), SCHEMA_FILE)), `kdgpu ${kind} example (kdgpu init --kind ${kind})`).trimEnd());
        return 0;
      }
      const c = loadConfigFile(path, args.overrides);
      if (args.flags['print-config']) {
        console.log(commentedConfig(c, `${path}${args.overrides.length ? ` with ${args.overrides.join(' ')}` : ''}, every default filled in`).trimEnd());
        return 0;
      }
      if (name === 'distill' && !c.distill) throw new KdgpuError(`${path}: distill: the config has no "distill" section (use kdgpu train for plain training)`);
      const r = await runTraining(c, {
        resume: args.flags.resume ?? false,
        overwrite: args.flags.overwrite ?? false,
        allowScheduleChange: args.flags['allow-schedule-change'] ?? false,
        quiet: args.flags.quiet ?? false,
      });
      r.model.dispose();
      return r.stoppedBy ? signalExitCode(r.stoppedBy) : r.summary.interrupted ? 130 : 0;
    },
  });
}

export const trainCommand = trainLike('train');
export const distillCommand = trainLike('distill');
