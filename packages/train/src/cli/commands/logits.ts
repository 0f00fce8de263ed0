/** `kdgpu logits`: the teachers' truncated logits for a config's training data, stored for distillation. */

import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { init, KdgpuError } from '@kdgpu/tensor';
import { corpusFiles, loadTokenizerFile, tokenizeFiles, trainRunTokenizer } from '../../data-node.ts';
import { writeOfflineLogits } from '../../offline-logits-node.ts';
import { sameTokenizer } from '../../objective.ts';
import { inspectTeachers, loadTeachers } from '../../teachers-node.ts';
import { checkVocabulary } from '../../vocab.ts';
import { defineCommand } from '../args.ts';
import { loadConfigFile } from '../config-file.ts';

export const logitsCommand = defineCommand({
  name: 'logits',
  summary: 'precompute offline teacher logits (top-p / top-k, compressed)',
  description: `Runs the config's teachers over its training blocks (in order, no random offset) and writes their
top-p-then-top-k truncated logits to offlineLogits.path, compressed, for kdgpu distill to stream
instead of running the teachers. The tokenizer is tokenizer.path, or the one tokenizer.train gives
(the same the distill run will train). An existing file is kept unless --overwrite.`,
  positional: { name: 'CONFIG.json', help: 'a config with teachers and offlineLogits.{path, topK, topP}', min: 1, max: 1, overrides: true },
  flags: {
    overwrite: { type: 'boolean', help: 'replace an existing offlineLogits.path file' },
    quiet: { type: 'boolean', help: 'no progress output' },
  },
  async run(args) {
    const c = loadConfigFile(args.positional[0]!, args.overrides);
    if (!c.offlineLogits) throw new KdgpuError(`${args.positional[0]}: offlineLogits: the config needs offlineLogits.{path, topK, topP}`);
    if (c.teachers.length === 0) throw new KdgpuError(`${args.positional[0]}: teachers: the config needs teachers to run`);
    const out = resolve(c.offlineLogits.path);
    if (existsSync(out) && !args.flags.overwrite) throw new KdgpuError(`offlineLogits.path: ${out} already exists; pass --overwrite to replace it, or set another path`);
    if (!existsSync(dirname(out)) || !statSync(dirname(out)).isDirectory()) throw new KdgpuError(`offlineLogits.path: the folder ${dirname(out)} does not exist; create it first`);
    await init();
    const runDir = resolve(c.run.outDir, c.run.name);
    const files = await corpusFiles(c);
    const facts = await inspectTeachers(c);
    const tok = c.tokenizer.path ? loadTokenizerFile(c.tokenizer.path, 'tokenizer.path') : await trainRunTokenizer(c, files.train, true);
    for (const t of facts) {
      if (t.tokenizer && !sameTokenizer(t.tokenizer, tok)) throw new KdgpuError(`${t.field}: the teacher ${t.path} uses another tokenizer than the student's; offline logits compare token id by token id, so the teacher must share the student's tokenizer`);
      checkVocabulary({ model: { vocabSize: t.config.vocab_size, name: `teacher ${t.path}` }, tokenizer: { vocabSize: tok.vocabSize, name: c.tokenizer.path ?? 'the trained tokenizer' } });
    }
    const tokens = await tokenizeFiles(c, files.train, tok, c.data.cacheDir ?? join(runDir, 'cache', 'tokens'));
    const teachers = await loadTeachers({ ...c, offlineLogits: undefined }, facts);
    try {
      const models = teachers.specs.flatMap((s) => (s.kind === 'model' ? [s.model] : []));
      const f = await writeOfflineLogits(models, tokens, out, {
        blockSize: c.data.blockSize, batchSize: c.data.batchSize, topK: c.offlineLogits.topK, topP: c.offlineLogits.topP,
        ensemble: c.distill?.ensemble, teacherWeights: c.teachers.map((t) => t.weight),
        onProgress: args.flags.quiet ? undefined : (d, n) => process.stderr.write(`\rlogits: ${d}/${n} blocks`),
      });
      if (!args.flags.quiet) process.stderr.write('\n');
      console.log(`wrote ${out}: ${f.records.length} blocks of ${f.blockSize}`);
      return 0;
    } finally {
      teachers.dispose();
    }
  },
});
