/**
 * The research use in one command: distil the same student from the same teacher with each
 * divergence of the zoo (forward, reverse, symmetric KL; JS and generalized JSD (GKD); skew forward
 * and reverse KL (DistiLLM); total variation), plus a no-distillation baseline, all with the same
 * data, steps, seed and kdRatio, and tabulate validation loss, perplexity and minimal-pair accuracy.
 *
 * usage: node --import tsx examples/loss-sweep.ts [--preset cpu|smoke] [--teacher DIR --tokenizer T]
 *                                                 [--corpus embedded|DIR|ZIP] [--out DIR] [--losses a,b,c]
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { adapterName, init } from '@kdgpu/tensor';
import { babyLlamaTokenizerOptions } from '@kdgpu/tokenizer';
import { save as saveTokenizer, trainBpeFromFiles } from '@kdgpu/tokenizer/node';
import { evalBatches, evaluateLM, evaluateMinimalPairs, modelScorer, parseMinimalPairs, plotRuns, validateConfig } from '@kdgpu/train';
import { readMetricsFile, runTraining, tokenizeFiles } from '@kdgpu/train/node';
import { prepareCorpus } from './lib/corpus-node.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt?: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const presetName = arg('preset', 'cpu')!;
const out = resolve(arg('out', `runs/loss-sweep-${presetName}`)!);
const PRESETS = {
  smoke: { maxWords: 30_000, vocab: 600, block: 32, batch: 8, steps: 4, teacherSteps: 10, student: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2 }, teacher: { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 2 } },
  cpu: { maxWords: 200_000, vocab: 1500, block: 64, batch: 16, steps: 120, teacherSteps: 300, student: { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4 }, teacher: { hidden_size: 128, intermediate_size: 256, num_hidden_layers: 4, num_attention_heads: 4 } },
} as const;
const P = PRESETS[presetName as keyof typeof PRESETS];
if (!P) throw new Error(`unknown preset ${presetName}; use one of ${Object.keys(PRESETS).join(', ')}`);

// Each divergence with the option values its source uses by default.
const SWEEP: Record<string, Record<string, unknown>> = {
  forwardKL: {},
  reverseKL: {},
  symmetricKL: { ratio: 0.5 },
  jsDivergence: {},
  generalizedJSD: { beta: 0.5 },
  skewForwardKL: { alpha: 0.1 },
  skewReverseKL: { alpha: 0.1 },
  totalVariation: {},
};
const chosen = arg('losses')?.split(',') ?? Object.keys(SWEEP);

await init();
console.log(`loss sweep, preset "${presetName}", on ${adapterName()}; outputs in ${out}`);
const corpus = await prepareCorpus({ source: arg('corpus', 'embedded'), outDir: join(out, 'corpus'), maxWords: P.maxWords });
const trainFiles = corpus.files.map((f) => join(corpus.dir, `${f.name}.train`));
let tokPath = arg('tokenizer');
if (!tokPath) {
  tokPath = join(out, 'tokenizer.json');
  saveTokenizer(await trainBpeFromFiles(trainFiles, babyLlamaTokenizerOptions({ vocabSize: P.vocab, showProgress: false })), tokPath);
}
const config = (name: string, steps: number, model: Record<string, unknown>, lr: number) => ({
  run: { name, outDir: out, seed: 7 },
  data: { dir: corpus.dir, blockSize: P.block, batchSize: P.batch, maxEvalBlocks: 64, clean: corpus.clean },
  tokenizer: { path: tokPath },
  model: { type: 'llama', config: { ...model, max_position_embeddings: P.block } },
  optimizer: { lr, clipGradNorm: 1 },
  schedule: { type: 'cosine', warmupSteps: Math.max(1, Math.round(steps / 10)) },
  train: { maxSteps: steps, logEvery: 10, evalEvery: steps },
});

let teacher = arg('teacher');
if (!teacher) {
  console.log('\n== training the teacher');
  (await runTraining(validateConfig(config('teacher', P.teacherSteps, P.teacher, 2e-3)), { quiet: true, overwrite: true })).model.dispose();
  teacher = join(out, 'teacher', 'final');
}

const pairs = parseMinimalPairs(readFileSync(new URL('../packages/train/data/minimal-pairs.jsonl', import.meta.url), 'utf8'));
const rows: Array<{ loss: string; valLoss: number; perplexity: number; minimalPairs: number; seconds: number }> = [];
for (const name of ['none (CE only)', ...chosen]) {
  const kd = name.startsWith('none') ? null : name;
  if (kd && !SWEEP[kd]) throw new Error(`--losses: unknown loss ${kd}; choose from ${Object.keys(SWEEP).join(', ')}`);
  const c = validateConfig({
    ...config(`student-${kd ?? 'no-kd'}`, P.steps, P.student, 2e-3),
    ...(kd ? { teachers: [{ path: teacher }], distill: { loss: kd, kdRatio: 0.5, temperature: 1, lossOptions: SWEEP[kd] } } : {}),
  });
  const r = await runTraining(c, { quiet: true, overwrite: true });
  const dev = await tokenizeFiles(c, corpus.files.map((f) => join(corpus.dir, `${f.name}.dev`)), r.tokenizer, join(out, 'cache', 'tokens'));
  const lm = await evaluateLM(r.model, evalBatches(dev, { blockSize: P.block, batchSize: P.batch, maxEvalBlocks: 64, seed: 1 }));
  const mp = await evaluateMinimalPairs(modelScorer(r.model, r.tokenizer), pairs);
  rows.push({ loss: name, valLoss: lm.loss, perplexity: lm.perplexity, minimalPairs: mp.mean, seconds: r.summary.seconds });
  console.log(`${name}: validation loss ${lm.loss.toFixed(4)}, minimal pairs ${mp.mean.toFixed(3)} (${r.summary.seconds.toFixed(1)} s)`);
  r.model.dispose();
}

console.log(`\n| KD loss (kdRatio 0.5, ${P.steps} steps) | val loss | perplexity | minimal pairs | train s |\n|---|---:|---:|---:|---:|`);
for (const r of rows) console.log(`| ${r.loss} | ${r.valLoss.toFixed(4)} | ${r.perplexity.toFixed(2)} | ${r.minimalPairs.toFixed(3)} | ${r.seconds.toFixed(1)} |`);
await writeFile(join(out, 'sweep.json'), JSON.stringify({ preset: presetName, adapter: adapterName(), rows }, null, 2));
// Every student's curves overlaid, with the code `kdgpu plot` uses.
const runs = rows.map((r) => ({ name: r.loss, records: readMetricsFile(join(out, `student-${r.loss.startsWith('none') ? 'no-kd' : r.loss}`, 'metrics.jsonl')) }));
await writeFile(join(out, 'sweep.svg'), plotRuns(runs, { title: `Loss sweep (${presetName}): the same student, each divergence` }));
console.log(`wrote ${join(out, 'sweep.json')} and ${join(out, 'sweep.svg')}`);
process.exit(0);
