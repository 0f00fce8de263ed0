/** `kdgpu logits`: the teachers' logits for a config's training data, stored for distillation (dense truncated, or sparse top-k with a tail; also from vLLM). */

import { existsSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { init, KdgpuError } from '@kdgpu/tensor';
import type { Tokenizer } from '@kdgpu/tokenizer';
import type { TrainConfig } from '../../config-schema.ts';
import { corpusFiles, loadTokenizerFile, tokenizeFiles, trainRunTokenizer } from '../../data-node.ts';
import { tokensKey, writeOfflineLogits, writeSparseOfflineLogits } from '../../offline-logits-node.ts';
import { sameTokenizer, tokenizerKey } from '../../objective.ts';
import { partialPaths } from '../../sparse-logits-node.ts';
import { inspectTeachers, loadTeachers } from '../../teachers-node.ts';
import { studentModelConfig } from '../../model-config.ts';
import { checkVocabulary } from '../../vocab.ts';
import { convertVllmLogits, writeVllmRequests } from '../../vllm-logits-node.ts';
import { defineCommand } from '../args.ts';
import { loadConfigFile } from '../config-file.ts';

export const logitsCommand = defineCommand({
  name: 'logits',
  summary: 'precompute offline teacher logits (top-p / top-k, or sparse top-k + tail; or from vLLM)',
  description: `Runs the config's teachers over its training blocks (in order, no random offset) and writes their
logits to offlineLogits.path, compressed, for kdgpu distill to stream instead of running the
teachers: top-p-then-top-k truncated logits, or with --top-k K (offlineLogits.sparse) each
position's K most likely token ids, their log-probabilities and the tail mass. The tokenizer is
tokenizer.path, or the one tokenizer.train gives (the same the distill run will train). An existing
file is kept unless --overwrite. A sparse write killed part way is continued with --resume.

A teacher served by vLLM instead: --vllm-requests FILE writes the requests (one per block, token-id
prompts) and exits; send them to the server (see the train README), then --from-vllm RESPONSES.jsonl
converts the answers into the sparse file, refusing them if the server's tokenizer is not kdgpu's.`,
  positional: { name: 'CONFIG.json', help: 'a config with offlineLogits.path (and teachers, unless --from-vllm / --vllm-requests)', min: 1, max: 1, overrides: true },
  flags: {
    'top-k': { type: 'integer', value: 'K', help: 'write a sparse file: the top K ids and log-probabilities per position plus the tail (sets offlineLogits.sparse and topK)' },
    resume: { type: 'boolean', help: 'continue an unfinished sparse write of offlineLogits.path' },
    overwrite: { type: 'boolean', help: 'replace an existing offlineLogits.path file (and drop an unfinished write)' },
    'vllm-requests': { type: 'string', value: 'FILE', help: 'write the vLLM request lines for the training blocks to FILE and exit (needs --top-k)' },
    'vllm-model': { type: 'string', value: 'NAME', default: 'teacher', help: 'the model name the vLLM server serves (the requests\' "model")' },
    'from-vllm': { type: 'string', value: 'FILE', help: 'convert vLLM responses (JSONL) into the sparse file instead of running teachers' },
    quiet: { type: 'boolean', help: 'no progress output' },
  },
  async run(args) {
    const cfgPath = args.positional[0]!;
    const c = loadConfigFile(cfgPath, args.overrides);
    const f = args.flags;
    if (!c.offlineLogits) throw new KdgpuError(`${cfgPath}: offlineLogits: the config needs offlineLogits.{path, topK, topP}`);
    const K = f['top-k'] ?? c.offlineLogits.topK;
    if (!(Number.isSafeInteger(K) && K >= 1 && K <= 65535)) throw new KdgpuError(`--top-k must be a whole number in [1, 65535], got ${K}`);
    const sparse = f['top-k'] !== undefined || c.offlineLogits.sparse;
    const vllm = f['from-vllm'] !== undefined || f['vllm-requests'] !== undefined;
    if (vllm && f['from-vllm'] !== undefined && f['vllm-requests'] !== undefined) throw new KdgpuError('--from-vllm and --vllm-requests: give one (first write the requests, then convert the answers)');
    if (vllm && !sparse) throw new KdgpuError('--from-vllm / --vllm-requests: vLLM gives top-k log-probabilities: add --top-k K (the prompt_logprobs asked for)');
    if (f.resume && !sparse) throw new KdgpuError('--resume: only sparse writes (--top-k) are resumable; a dense write starts again with --overwrite');
    if (f.resume && f.overwrite) throw new KdgpuError('--resume and --overwrite: give one');
    if (!vllm && c.teachers.length === 0) throw new KdgpuError(`${cfgPath}: teachers: the config needs teachers to run (or pass --from-vllm with a vLLM teacher's answers)`);

    const out = resolve(c.offlineLogits.path);
    if (f['vllm-requests'] === undefined) {
      if (existsSync(out) && !f.overwrite) throw new KdgpuError(`offlineLogits.path: ${out} already exists; pass --overwrite to replace it, or set another path`);
      if (!existsSync(dirname(out)) || !statSync(dirname(out)).isDirectory()) throw new KdgpuError(`offlineLogits.path: the folder ${dirname(out)} does not exist; create it first`);
      const part = partialPaths(out);
      if (sparse && !f.resume && (existsSync(part.data) || existsSync(part.journal))) {
        if (!f.overwrite) throw new KdgpuError(`offlineLogits.path: an unfinished write of ${out} exists (${part.data}); pass --resume to continue it or --overwrite to start again`);
        rmSync(part.data, { force: true });
        rmSync(part.journal, { force: true });
      }
    }
    if (!vllm) await init();
    const runDir = resolve(c.run.outDir, c.run.name);
    const files = await corpusFiles(c);
    const facts = vllm ? [] : await inspectTeachers(c);
    const tok = c.tokenizer.path ? loadTokenizerFile(c.tokenizer.path, 'tokenizer.path') : await trainRunTokenizer(c, files.train, true);
    for (const t of facts) {
      if (t.tokenizer && !sameTokenizer(t.tokenizer, tok)) throw new KdgpuError(`${t.field}: the teacher ${t.path} uses another tokenizer than the student's; offline logits compare token id by token id, so the teacher must share the student's tokenizer`);
      checkVocabulary({ model: { vocabSize: t.config.vocab_size, name: `teacher ${t.path}` }, tokenizer: { vocabSize: tok.vocabSize, name: c.tokenizer.path ?? 'the trained tokenizer' } });
    }
    const tokens = await tokenizeFiles(c, files.train, tok, c.data.cacheDir ?? join(runDir, 'cache', 'tokens'));
    const progress = f.quiet ? undefined : (d: number, n: number) => process.stderr.write(`\rlogits: ${d}/${n} blocks`);
    const onStart = (start: number, n: number) => {
      if (start > 0) process.stderr.write(`logits: resuming at block ${start} of ${n}\n`);
    };
    // How often an unfinished sparse write's journal is brought up to date (a kill loses at most that much work).
    const journalEvery = process.env.KDGPU_LOGITS_JOURNAL_SECONDS ? Number(process.env.KDGPU_LOGITS_JOURNAL_SECONDS) : undefined;
    const done = (msg: string) => {
      if (!f.quiet) process.stderr.write('\n');
      console.log(msg);
      return 0;
    };

    if (f['vllm-requests'] !== undefined) {
      const path = resolve(f['vllm-requests']);
      const n = await writeVllmRequests(path, tokens, c.data.blockSize, f['vllm-model'], K);
      return done(`wrote ${path}: ${n} requests (blocks of ${c.data.blockSize}, prompt_logprobs ${K}); send them to the vLLM server, then: kdgpu logits ${cfgPath} --top-k ${K} --from-vllm RESPONSES.jsonl`);
    }
    if (f['from-vllm'] !== undefined) {
      const V = modelVocab(c, tok);
      const footer = await convertVllmLogits(resolve(f['from-vllm']), tokens, out, {
        blockSize: c.data.blockSize, topK: K, vocabSize: V, tokenizer: tok, tokensKey: tokensKey(tokens), tokenizerKey: tokenizerKey(tok), resume: f.resume, journalEvery, onProgress: progress, onStart,
      });
      return done(`wrote ${out}: ${footer.records.length} blocks of ${footer.blockSize}, top ${footer.topK} + tail per position, from vLLM`);
    }

    const teachers = await loadTeachers({ ...c, offlineLogits: undefined }, facts);
    try {
      const models = teachers.specs.flatMap((s) => (s.kind === 'model' ? [s.model] : []));
      const common = { blockSize: c.data.blockSize, batchSize: c.data.batchSize, ensemble: c.distill?.ensemble, teacherWeights: c.teachers.map((t) => t.weight), onProgress: progress };
      if (sparse) {
        const footer = await writeSparseOfflineLogits(models, tokens, out, { ...common, topK: K, tokenizerKey: tokenizerKey(tok), producer: JSON.stringify(c.teachers.map((t) => resolve(t.path))), resume: f.resume, journalEvery, onStart });
        return done(`wrote ${out}: ${footer.records.length} blocks of ${footer.blockSize}, top ${footer.topK} + tail per position`);
      }
      const footer = await writeOfflineLogits(models, tokens, out, { ...common, topK: c.offlineLogits.topK, topP: c.offlineLogits.topP });
      return done(`wrote ${out}: ${footer.records.length} blocks of ${footer.blockSize}`);
    } finally {
      teachers.dispose();
    }
  },
});

/** The vocabulary the sparse file indexes: the student's (the tokenizer's size unless model.config pads it). */
function modelVocab(c: TrainConfig, tok: Tokenizer): number {
  return studentModelConfig(c.model, { vocabSize: tok.vocabSize, name: c.tokenizer.path ?? 'the trained tokenizer' }).vocab_size;
}
