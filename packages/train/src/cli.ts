/**
 * The `kdgpu` command line (Node/Deno only). Subcommands:
 *   tokenizer train   train a byte-level BPE tokenizer on text files
 *   train             language-model training from a JSON config
 *   distill           distillation from a JSON config (needs `distill` and teachers or offline logits)
 *   eval              validation loss and perplexity of a saved model on text files
 *   generate          sample text from a saved model
 *   logits            precompute offline teacher logits for a config's training data
 *   plot              SVG of the loss curves in a metrics.jsonl
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { adapterName, init, KdgpuError } from '@kdgpu/tensor';
import { generate } from '@kdgpu/models';
import { loadModel } from '@kdgpu/models/node';
import { babyLlamaTokenizerOptions } from '@kdgpu/tokenizer';
import { fromFile as loadTokenizer, save as saveTokenizer, trainBpeFromFiles } from '@kdgpu/tokenizer/node';
import { evalBatches } from './blocks.ts';
import { applyOverrides, validateConfig } from './config.ts';
import { evaluateLM } from './evaluate.ts';
import { evaluateMinimalPairs, parseMinimalPairs } from './eval-minimal-pairs.ts';
import { evaluateMultipleChoice, parseMultipleChoice } from './eval-multiple-choice.ts';
import { evaluateQueries, parseQueries } from './eval-queries.ts';
import { modelScorer } from './eval-loglik.ts';
import { readMetricsFile } from './metrics-node.ts';
import { writeOfflineLogits } from './offline-logits-node.ts';
import { plotLossCurves } from './plot.ts';
import { corpusFiles, resolveTokenizer, runTraining, tokenizeFiles } from './run-node.ts';
import { writeFileAtomic } from './atomic-node.ts';

const HELP: Record<string, string> = {
  main: `kdgpu: knowledge distillation for language models on WebGPU

usage: kdgpu <command> [options]    (kdgpu <command> --help for details)

commands:
  tokenizer train   train a byte-level BPE tokenizer (Hugging Face tokenizer.json)
  train             train a language model from a JSON config
  distill           distil teachers into a student from a JSON config
  eval              validation loss and perplexity of a saved model
  generate          generate text from a saved model
  logits            precompute offline teacher logits (top-k / top-p)
  plot              draw the loss curves of a metrics.jsonl as SVG`,
  'tokenizer train': `usage: kdgpu tokenizer train --out tokenizer.json [--vocab-size 16000] [--min-frequency 2]
                             [--special "<pad>,<s>,</s>"] FILE...
Baby Llama's tokenizer: NFKC, ByteLevel with prefix space, BPE; merges identical to Hugging Face's trainer.`,
  train: `usage: kdgpu train CONFIG.json [key.sub=value ...] [--resume] [--quiet]
Trains a language model as the config says. Overrides use the config's field paths
(optimizer.lr=3e-4, train.epochs=2). Outputs in <run.outDir>/<run.name>/: checkpoints/, final/,
tokenizer.json, metrics.jsonl, config.resolved.json. --resume continues from checkpoints/latest.json.
Ctrl-C saves a checkpoint and exits.`,
  distill: `usage: kdgpu distill CONFIG.json [key.sub=value ...] [--resume] [--quiet]
As train, with the config's distill section (loss, kdRatio, temperature, ensemble) and teachers
(saved model directories) or offlineLogits (from kdgpu logits).`,
  eval: `usage: kdgpu eval --model DIR --tokenizer tokenizer.json [--block-size 128] [--batch-size 16] [FILE...]
                  [--minimal-pairs FILE.jsonl|DIR[,...]] [--multiple-choice FILE.jsonl] [--queries FILE.jsonl]
Perplexity: mean next-token cross-entropy (nats) on the text FILEs' tokens, in blocks.
Minimal pairs (BLiMP {sentence_good, sentence_bad} JSONL; a directory means every *.jsonl in it):
  accuracy per file and the mean, scored as lm-evaluation-harness does.
Multiple choice ({context, choices, gold} JSONL): acc and acc_norm.
Queries ({query, keyword, reference} JSONL, DistilLlama's metrics): keyword match, ROUGE-L F,
  cosine of bag-of-embedding vectors (the model's own input embeddings).
Prints one JSON object.`,
  generate: `usage: kdgpu generate --model DIR --tokenizer tokenizer.json --prompt TEXT [--max-new-tokens 50]
                      [--temperature 0.8] [--top-k 0] [--top-p 1] [--seed 0]
Temperature 0 is greedy. Tokens stream as they are generated (KV cache).`,
  logits: `usage: kdgpu logits CONFIG.json [key.sub=value ...]
Runs the config's teachers over the training blocks (in order, no random offset) and writes the
top-p-then-top-k truncated logits to offlineLogits.path, compressed.`,
  plot: `usage: kdgpu plot metrics.jsonl [--out loss.svg]`,
};

interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split('=', 2);
      if (v !== undefined) flags.set(k, v);
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--') && !['resume', 'quiet', 'help'].includes(k)) flags.set(k, argv[++i]);
      else flags.set(k, true);
    } else positional.push(a);
  }
  return { positional, flags };
}

function need(args: Args, name: string, cmd: string): string {
  const v = args.flags.get(name);
  if (typeof v !== 'string') throw new KdgpuError(`${cmd}: --${name} is required (see kdgpu ${cmd} --help)`);
  return v;
}

function num(args: Args, name: string, dflt: number): number {
  const v = args.flags.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(n)) throw new KdgpuError(`--${name} must be a number, got ${String(v)}`);
  return n;
}

async function loadConfig(args: Args, cmd: string) {
  const [path, ...overrides] = args.positional;
  if (!path) throw new KdgpuError(`${cmd}: a config file is required (see kdgpu ${cmd} --help)`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new KdgpuError(`${path}: ${(e as Error).message}`);
  }
  return overrides.length ? applyOverrides(raw, overrides) : validateConfig(raw);
}

/** Runs the CLI with `argv` (without node and script). Returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const cmd = argv[0] === 'tokenizer' ? `tokenizer ${argv[1] ?? ''}`.trim() : argv[0];
  const args = parseArgs(argv.slice(cmd?.split(' ').length ?? 0));
  if (!cmd || cmd === '--help' || cmd === 'help') {
    console.log(HELP.main);
    return cmd ? 0 : 1;
  }
  if (!HELP[cmd]) {
    console.error(`kdgpu: unknown command "${cmd}"\n\n${HELP.main}`);
    return 2;
  }
  if (args.flags.has('help')) {
    console.log(HELP[cmd]);
    return 0;
  }
  switch (cmd) {
    case 'tokenizer train': {
      const out = need(args, 'out', cmd);
      if (args.positional.length === 0) throw new KdgpuError('tokenizer train: give the text files to train on');
      const special = typeof args.flags.get('special') === 'string' ? (args.flags.get('special') as string).split(',') : ['<pad>', '<s>', '</s>'];
      const opts = babyLlamaTokenizerOptions({ vocabSize: num(args, 'vocab-size', 16000), minFrequency: num(args, 'min-frequency', 2), showProgress: !args.flags.has('quiet') });
      const tok = await trainBpeFromFiles(args.positional, { ...opts, specialTokens: special });
      saveTokenizer(tok, out);
      console.log(`wrote ${out}: vocabulary ${tok.vocabSize}`);
      return 0;
    }
    case 'train':
    case 'distill': {
      const c = await loadConfig(args, cmd);
      if (cmd === 'distill' && !c.distill) throw new KdgpuError('distill: the config has no "distill" section (use kdgpu train for plain training)');
      const r = await runTraining(c, { resume: args.flags.has('resume'), quiet: args.flags.has('quiet') });
      return r.summary.interrupted ? 130 : 0;
    }
    case 'eval': {
      await init();
      const model = await loadModel(need(args, 'model', cmd));
      const tok = loadTokenizer(need(args, 'tokenizer', cmd));
      const T = num(args, 'block-size', 128);
      const report: Record<string, unknown> = { model: need(args, 'model', cmd), adapter: adapterName() };
      if (args.positional.length) {
        const parts = await Promise.all(args.positional.map(async (f) => tok.encode(await readFile(f, 'utf8'), { addSpecialTokens: false }).ids));
        const ids = Int32Array.from(parts.flat());
        report.perplexity = await evaluateLM(model, evalBatches(ids, { blockSize: T, batchSize: num(args, 'batch-size', 16) }));
      }
      const scorer = modelScorer(model, tok, { batchSize: num(args, 'batch-size', 16) });
      const mpArg = args.flags.get('minimal-pairs');
      if (typeof mpArg === 'string') {
        const files: string[] = [];
        for (const p of mpArg.split(',')) {
          if ((await stat(p)).isDirectory()) files.push(...(await readdir(p)).filter((n) => n.endsWith('.jsonl')).sort().map((n) => join(p, n)));
          else files.push(p);
        }
        const pairs = (await Promise.all(files.map(async (f) => parseMinimalPairs(await readFile(f, 'utf8'), f, basename(f, '.jsonl'))))).flat();
        const r = await evaluateMinimalPairs(scorer, pairs);
        report.minimalPairs = { mean: r.mean, accuracy: r.accuracy, n: r.n, groups: r.groups };
      }
      const mcArg = args.flags.get('multiple-choice');
      if (typeof mcArg === 'string') {
        const r = await evaluateMultipleChoice(scorer, parseMultipleChoice(await readFile(mcArg, 'utf8'), mcArg));
        report.multipleChoice = { acc: r.acc, accNorm: r.accNorm, n: r.n };
      }
      const qArg = args.flags.get('queries');
      if (typeof qArg === 'string') {
        const r = await evaluateQueries(model, tok, parseQueries(await readFile(qArg, 'utf8'), qArg), { eosTokenId: tok.tokenToId('</s>') });
        report.queries = { exactMatch: r.em, rougeL: r.rougeL, cosine: r.cosine, n: r.n };
      }
      if (Object.keys(report).length === 2) throw new KdgpuError('eval: nothing to evaluate: give text files and/or --minimal-pairs, --multiple-choice, --queries');
      console.log(JSON.stringify(report, null, 2));
      model.dispose();
      return 0;
    }
    case 'generate': {
      await init();
      const model = await loadModel(need(args, 'model', cmd));
      const tok = loadTokenizer(need(args, 'tokenizer', cmd));
      const codec = { encode: (s: string) => ({ ids: tok.encode(s, { addSpecialTokens: false }).ids }), decode: (ids: readonly number[]) => tok.decode(ids, { skipSpecialTokens: true }) };
      const prompt = need(args, 'prompt', cmd);
      process.stdout.write(prompt);
      await generate(model, codec, {
        prompt,
        maxNewTokens: num(args, 'max-new-tokens', 50),
        temperature: num(args, 'temperature', 0.8),
        topK: num(args, 'top-k', 0),
        topP: num(args, 'top-p', 1),
        seed: num(args, 'seed', 0),
        eosTokenId: tok.tokenToId('</s>') ?? null,
        onToken: (e) => {
          if (e.text) process.stdout.write(e.text);
        },
      });
      process.stdout.write('\n');
      model.dispose();
      return 0;
    }
    case 'logits': {
      const c = await loadConfig(args, cmd);
      if (!c.offlineLogits) throw new KdgpuError('logits: the config needs offlineLogits.{path, topK, topP}');
      if (c.teachers.length === 0) throw new KdgpuError('logits: the config needs teachers');
      await init();
      const runDir = resolve(c.run.outDir, c.run.name);
      const files = await corpusFiles(c);
      const tok = await resolveTokenizer(c, runDir, files.train, true);
      const tokens = await tokenizeFiles(c, files.train, tok, c.data.cacheDir ?? resolve(runDir, 'cache', 'tokens'));
      const teachers = await Promise.all(c.teachers.map((t) => loadModel(t.path)));
      const f = await writeOfflineLogits(teachers, tokens, c.offlineLogits.path, {
        blockSize: c.data.blockSize, batchSize: c.data.batchSize, topK: c.offlineLogits.topK, topP: c.offlineLogits.topP,
        ensemble: c.distill?.ensemble, teacherWeights: c.teachers.map((t) => t.weight),
        onProgress: (d, n) => process.stderr.write(`\rlogits: ${d}/${n} blocks`),
      });
      process.stderr.write('\n');
      console.log(`wrote ${c.offlineLogits.path}: ${f.records.length} blocks of ${f.blockSize}`);
      for (const t of teachers) t.dispose();
      return 0;
    }
    case 'plot': {
      const [path] = args.positional;
      if (!path) throw new KdgpuError('plot: give a metrics.jsonl file');
      const out = typeof args.flags.get('out') === 'string' ? (args.flags.get('out') as string) : path.replace(/\.jsonl$/, '') + '.svg';
      await writeFileAtomic(out, plotLossCurves(readMetricsFile(path), { title: path }));
      console.log(`wrote ${out}`);
      return 0;
    }
  }
  return 2;
}

