/** `kdgpu eval`: perplexity and benchmark scores of a saved model. */

import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { adapterName, init, KdgpuError } from '@kdgpu/tensor';
import { evalBatches } from '../../blocks.ts';
import { decodeTextInput } from '../../text-input.ts';
import { evaluateLM } from '../../evaluate.ts';
import { modelScorer } from '../../eval-loglik.ts';
import { evaluateMinimalPairs, parseMinimalPairs } from '../../eval-minimal-pairs.ts';
import { evaluateMultipleChoice, parseMultipleChoice } from '../../eval-multiple-choice.ts';
import { evaluateQueries, parseQueries } from '../../eval-queries.ts';
import { defineCommand } from '../args.ts';
import { contextLength, modelWithTokenizer, trainedBlockSize } from './model-files.ts';

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'validation loss and perplexity of a saved model, and benchmark scores',
  description: `Perplexity: mean next-token cross-entropy (nats) on the text FILEs' tokens, in blocks of the size
the model was trained with (its run's data.blockSize), or its context length.
Minimal pairs (BLiMP {sentence_good, sentence_bad} JSONL; a folder means every *.jsonl in it):
  accuracy per file and the mean, scored as lm-evaluation-harness does.
Multiple choice ({context, choices, gold} JSONL): acc and acc_norm.
Queries ({query, keyword, reference} JSONL, DistilLlama's metrics): keyword match, ROUGE-L F,
  cosine of bag-of-embedding vectors (the model's own input embeddings).
The tokenizer is checked against the model's vocabulary first. Prints one JSON object.`,
  positional: { name: 'FILE', help: 'text files for perplexity (.txt, .gz, .jsonl with "text")', max: Infinity },
  flags: {
    model: { type: 'string', value: 'DIR', required: true, help: 'a saved model folder (a run\'s final/ or a checkpoint)' },
    tokenizer: { type: 'string', value: 'FILE', help: 'its tokenizer.json (default: the one in the model folder or its run)' },
    'block-size': { type: 'integer', value: 'N', help: 'tokens per block (default: the model\'s training block size, else its context length)' },
    'batch-size': { type: 'integer', value: 'N', default: 16, help: 'blocks per batch' },
    'minimal-pairs': { type: 'list', value: 'FILE|DIR', help: 'BLiMP-style minimal pairs (JSONL files or folders, comma-separated)' },
    'multiple-choice': { type: 'string', value: 'FILE', help: 'multiple-choice questions (JSONL)' },
    queries: { type: 'string', value: 'FILE', help: 'queries with keyword and reference answers (JSONL)' },
  },
  async run(args) {
    const f = args.flags;
    if (args.positional.length === 0 && !f['minimal-pairs'] && !f['multiple-choice'] && !f.queries) {
      throw new KdgpuError('eval: nothing to evaluate: give text files and/or --minimal-pairs, --multiple-choice, --queries');
    }
    await init();
    const notes: string[] = [];
    const { model, tok, tokPath } = await modelWithTokenizer(f.model, f.tokenizer, (s) => notes.push(s));
    try {
      const report: Record<string, unknown> = { model: f.model, tokenizer: tokPath, adapter: adapterName() };
      if (notes.length) report.notes = notes;
      if (args.positional.length) {
        const trained = trainedBlockSize(f.model, model.config);
        const T = f['block-size'] ?? trained.blockSize;
        const ctx = contextLength(model.config);
        if (T > ctx) throw new KdgpuError(`--block-size ${T} is longer than the model's context of ${ctx} tokens`);
        const parts = await Promise.all(args.positional.map(async (p) => tok.encode(decodeTextInput(await readFile(p), p), { addSpecialTokens: false }).ids));
        const ids = Int32Array.from(parts.flat());
        if (ids.length < T) throw new KdgpuError(`eval: the text files hold ${ids.length} tokens, fewer than one block of ${T}; give more text or a smaller --block-size`);
        report.blockSize = { value: T, from: f['block-size'] !== undefined ? '--block-size' : trained.from };
        report.perplexity = await evaluateLM(model, evalBatches(ids, { blockSize: T, batchSize: f['batch-size'] }));
      }
      const scorer = modelScorer(model, tok, { batchSize: f['batch-size'] });
      if (f['minimal-pairs']) {
        const files: string[] = [];
        for (const p of f['minimal-pairs']) {
          if ((await stat(p)).isDirectory()) files.push(...(await readdir(p)).filter((n) => n.endsWith('.jsonl')).sort().map((n) => join(p, n)));
          else files.push(p);
        }
        const pairs = (await Promise.all(files.map(async (file) => parseMinimalPairs(await readFile(file, 'utf8'), file, basename(file, '.jsonl'))))).flat();
        const r = await evaluateMinimalPairs(scorer, pairs);
        report.minimalPairs = { mean: r.mean, accuracy: r.accuracy, n: r.n, groups: r.groups };
      }
      if (f['multiple-choice']) {
        const r = await evaluateMultipleChoice(scorer, parseMultipleChoice(await readFile(f['multiple-choice'], 'utf8'), f['multiple-choice']));
        report.multipleChoice = { acc: r.acc, accNorm: r.accNorm, n: r.n };
      }
      if (f.queries) {
        const r = await evaluateQueries(model, tok, parseQueries(await readFile(f.queries, 'utf8'), f.queries), { eosTokenId: tok.tokenToId('</s>') });
        report.queries = { exactMatch: r.em, rougeL: r.rougeL, cosine: r.cosine, n: r.n };
      }
      console.log(JSON.stringify(report, null, 2));
      return 0;
    } finally {
      model.dispose();
    }
  },
});
