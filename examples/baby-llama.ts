/**
 * The Baby Llama recipe (Timiryasov & Tastet, 2023), end to end:
 *   clean -> train a byte-level BPE on the train split -> train two teachers of different
 *   architectures (a GPT-2 and a LLaMA) -> distil their ensemble (mean of logits, T = 2,
 *   α = 0.5, KL with `batchmean` as the original) into a smaller LLaMA student that was not
 *   pretrained -> train the same student without distillation on the same data and steps ->
 *   evaluate all four -> print a table and save it as JSON and an SVG plot.
 *
 * usage: node --import tsx examples/baby-llama.ts [--preset cpu|smoke|paper] [--corpus embedded|DIR|ZIP]
 *                                                 [--out runs/baby-llama]
 * `cpu` (default) is sized for ~15 minutes on 2 CPU cores with software Vulkan; `smoke` is a
 * one-minute check (CI); `paper` uses the seed sizes (Llama-360M and GPT2-705M teachers, 58M student,
 * vocab 16000, context 128) and needs a real GPU. The real BabyLM 10M data: --corpus path/to/babylm_data
 * (or the distributed .zip), which also switches on the per-source cleaning.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { adapterName, init } from '@kdgpu/tensor';
import { loadModel } from '@kdgpu/models/node';
import { babyLlamaTokenizerOptions } from '@kdgpu/tokenizer';
import { save as saveTokenizer, trainBpeFromFiles } from '@kdgpu/tokenizer/node';
import {
  evalBatches, evaluateLM, evaluateMinimalPairs, modelScorer, parseMinimalPairs, plotRuns, type TrainConfig, validateConfig,
} from '@kdgpu/train';
import { readMetricsFile, runTraining, tokenizeFiles } from '@kdgpu/train/node';
import { prepareCorpus } from './lib/corpus-node.ts';

// ---- settings -------------------------------------------------------------------------------
const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const presetName = arg('preset', 'cpu');
const out = resolve(arg('out', `runs/baby-llama-${presetName}`));
const corpusSource = arg('corpus', 'embedded');

interface Preset {
  maxWords?: number;
  vocab: number;
  block: number;
  batch: number;
  gpt2: Record<string, number>;
  llama: Record<string, number>;
  student: Record<string, number>;
  teacherSteps: number;
  studentSteps: number;
  lr: { teacher: number; student: number };
  evalBlocks: number;
}
const PRESETS: Record<string, Preset> = {
  smoke: {
    maxWords: 30_000, vocab: 600, block: 32, batch: 8, evalBlocks: 16,
    gpt2: { n_embd: 32, n_layer: 2, n_head: 2 },
    llama: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 2 },
    student: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2 },
    teacherSteps: 8, studentSteps: 8, lr: { teacher: 3e-3, student: 3e-3 },
  },
  // Sized by arithmetic: lavapipe does ~2-3 GFLOP/s of matmul on 2 cores, a step costs about
  // 6 x params x tokens, so ~1.5-2 minutes per model run keeps the whole recipe near 15 minutes.
  cpu: {
    maxWords: 300_000, vocab: 512, block: 64, batch: 8, evalBlocks: 96,
    gpt2: { n_embd: 64, n_layer: 3, n_head: 4 },
    llama: { hidden_size: 64, intermediate_size: 192, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 4 },
    student: { hidden_size: 32, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4 },
    // The teachers must be trained well past the student's budget, or there is nothing to distil.
    teacherSteps: 400, studentSteps: 250, lr: { teacher: 4e-3, student: 4e-3 },
  },
  paper: {
    vocab: 16000, block: 128, batch: 32, evalBlocks: 8192,
    gpt2: { n_embd: 1536, n_layer: 24, n_head: 16 },
    llama: { hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 24, num_attention_heads: 8, num_key_value_heads: 8 },
    student: { hidden_size: 512, intermediate_size: 1024, num_hidden_layers: 16, num_attention_heads: 8, num_key_value_heads: 8 },
    teacherSteps: 0, studentSteps: 0, lr: { teacher: 3e-4, student: 2.5e-4 },
  },
};
const P = PRESETS[presetName];
if (!P) throw new Error(`unknown preset ${presetName}; use one of ${Object.keys(PRESETS).join(', ')}`);

await init();
console.log(`Baby Llama recipe, preset "${presetName}", on ${adapterName()}; outputs in ${out}`);
await mkdir(out, { recursive: true });
const started = performance.now();

// ---- 1. corpus: a BabyLM-style folder (<source>.train / <source>.dev) ------------------------
const corpus = await prepareCorpus({ source: corpusSource, outDir: join(out, 'corpus'), maxWords: P.maxWords });
console.log(`corpus: ${corpus.files.map((f) => `${f.name} ${f.trainWords}+${f.devWords} words`).join(', ')}`);
const trainFiles = corpus.files.map((f) => join(corpus.dir, `${f.name}.train`));

// ---- 2. the tokenizer, trained on the (cleaned) train split only -----------------------------
// Cleaning happens inside the trainer per source (data.clean); the tokenizer sees the same text.
const tokPath = join(out, 'tokenizer.json');
const tok = await trainBpeFromFiles(trainFiles, babyLlamaTokenizerOptions({ vocabSize: P.vocab, minFrequency: 2, showProgress: false }));
saveTokenizer(tok, tokPath);
console.log(`tokenizer: vocabulary ${tok.vocabSize}`);

// ---- 3. the run configs ----------------------------------------------------------------------
const base = (name: string, steps: number, lr: number, model: TrainConfig['model']): Record<string, unknown> => ({
  run: { name, outDir: out, seed: 2023 },
  data: { dir: corpus.dir, blockSize: P.block, batchSize: P.batch, maxEvalBlocks: P.evalBlocks, randomOffset: true, clean: corpus.clean },
  tokenizer: { path: tokPath },
  model,
  optimizer: { lr, weightDecay: 0.1, clipGradNorm: 1 },
  schedule: { type: 'cosine', warmupSteps: Math.max(1, Math.round(steps * 0.05)) },
  train: steps > 0 ? { maxSteps: steps, logEvery: 10, evalEvery: Math.max(1, Math.round(steps / 4)) } : { epochs: 6, logEvery: 10, evalEvery: 0 },
});
const maxPos = { max_position_embeddings: 2 * P.block };
const gpt2Teacher = validateConfig(base('gpt2-teacher', P.teacherSteps, P.lr.teacher, { type: 'gpt2', config: { ...P.gpt2, n_positions: 2 * P.block } }));
const llamaTeacher = validateConfig(base('llama-teacher', P.teacherSteps, P.lr.teacher, { type: 'llama', config: { ...P.llama, ...maxPos } }));
const studentModel: TrainConfig['model'] = { type: 'llama', config: { ...P.student, ...maxPos } };
const distilled = validateConfig({
  ...base('student-distilled', P.studentSteps, P.lr.student, studentModel),
  teachers: [{ path: join(out, 'llama-teacher', 'final') }, { path: join(out, 'gpt2-teacher', 'final') }],
  // Baby Llama: L = α CE + (1 − α) T² KL(batchmean), α = 0.5, T = 2, mean of the teachers' logits.
  distill: { loss: 'forwardKL', kdRatio: 0.5, temperature: 2, ensemble: 'logits', lossOptions: { reduction: 'batchmean' } },
});
const baseline = validateConfig(base('student-no-kd', P.studentSteps, P.lr.student, studentModel));

// ---- 4. train the teachers, then the two students --------------------------------------------
const results: Array<{ name: string; seconds: number }> = [];
// A re-run moves the previous runs of this folder aside (<name>.replaced-<date>) rather than overwriting them.
for (const c of [gpt2Teacher, llamaTeacher, distilled, baseline]) {
  console.log(`\n== ${c.run.name}`);
  const r = await runTraining(c, { overwrite: true });
  results.push({ name: c.run.name, seconds: r.summary.seconds });
  r.model.dispose();
}

// ---- 5. evaluate all four on the same held-out blocks and minimal pairs ----------------------
const devFiles = corpus.files.map((f) => join(corpus.dir, `${f.name}.dev`));
const devTokens = await tokenizeFiles(distilled, devFiles, tok, join(out, 'cache', 'tokens'));
const pairs = parseMinimalPairs(readFileSync(new URL('../packages/train/data/minimal-pairs.jsonl', import.meta.url), 'utf8'));
const table: Array<Record<string, string | number>> = [];
for (const { name, seconds } of results) {
  const model = await loadModel(join(out, name, 'final'));
  const lm = await evaluateLM(model, evalBatches(devTokens, { blockSize: P.block, batchSize: P.batch, maxEvalBlocks: P.evalBlocks, seed: 2023 }));
  const mp = await evaluateMinimalPairs(modelScorer(model, { encode: (s) => ({ ids: tok.encode(s, { addSpecialTokens: false }).ids }), decode: (ids) => tok.decode(ids) }), pairs);
  table.push({
    model: name,
    params: model.numParameters(),
    'val loss': Number(lm.loss.toFixed(4)),
    perplexity: Number(lm.perplexity.toFixed(2)),
    'minimal pairs': Number(mp.mean.toFixed(3)),
    'train s': Number(seconds.toFixed(1)),
  });
  model.dispose();
}

// ---- 6. report -------------------------------------------------------------------------------
const cols = Object.keys(table[0]);
console.log(`\n| ${cols.join(' | ')} |\n|${cols.map(() => '---').join('|')}|`);
for (const row of table) console.log(`| ${cols.map((c) => row[c]).join(' | ')} |`);
const kd = table.find((r) => r.model === 'student-distilled')!;
const nokd = table.find((r) => r.model === 'student-no-kd')!;
const verdict = (kd['val loss'] as number) < (nokd['val loss'] as number) ? 'beat' : 'did not beat';
console.log(`\nThe distilled student ${verdict} the student trained without distillation on validation loss (${kd['val loss']} vs ${nokd['val loss']}).`);
await writeFile(join(out, 'results.json'), JSON.stringify({ preset: presetName, adapter: adapterName(), corpus: corpus.files, table, verdict, seconds: (performance.now() - started) / 1000 }, null, 2));

// One plot of the four runs, with the code `kdgpu plot` uses: losses (the distilled student's CE and
// KD parts too), validation perplexity on a log scale, and the learning rate.
const label: Record<string, string> = { 'gpt2-teacher': 'GPT-2 teacher', 'llama-teacher': 'LLaMA teacher', 'student-distilled': 'student, distilled', 'student-no-kd': 'student, no KD' };
const runs = results.map(({ name }) => ({ name: label[name] ?? name, records: readMetricsFile(join(out, name, 'metrics.jsonl')) }));
await writeFile(join(out, 'loss.svg'), plotRuns(runs, { title: `Baby Llama recipe (${presetName})` }));
console.log(`wrote ${join(out, 'results.json')} and ${join(out, 'loss.svg')} in ${((performance.now() - started) / 60000).toFixed(1)} min`);
process.exit(0);
