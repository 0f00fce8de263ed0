/**
 * The Baby Llama recipe (Timiryasov & Tastet, 2023), end to end:
 *   clean -> train a byte-level BPE on the train split -> train two teachers of different
 *   architectures (a GPT-2 and a LLaMA), keeping each one's best checkpoint by validation loss ->
 *   distil their ensemble (mean of logits, T = 2, α = 0.5, forward KL) into a smaller LLaMA student
 *   that was not pretrained -> train the same student without distillation on the same blocks and
 *   steps -> repeat the students over several seeds -> evaluate everything on the same held-out
 *   blocks -> print a table (every seed, the mean and spread of the margin) and save it as JSON and
 *   an SVG plot.
 *
 * usage: node --import tsx examples/baby-llama.ts [--preset cpu|smoke|paper] [--seed N] [--seeds K]
 *          [--teacher-seed N] [--corpus embedded|DIR|ZIP] [--out runs/baby-llama-cpu] [--publish DIR]
 *
 * `--seed N --seeds K` trains the students with seeds N, N+1, ..., N+K-1 (default: the preset's).
 * The teachers are trained once, with `--teacher-seed` (default 2023), and reused by a later run in
 * the same `--out` folder when their config and tokenizer are unchanged. `--publish DIR` copies
 * results.json and loss.svg there (the committed `docs/demo`).
 *
 * `cpu` (default) is sized for about 15 minutes on 2 CPU cores with software Vulkan (lavapipe); it is
 * BabyLM's setting in miniature: a 25k-word slice trained for many epochs, teachers trained to
 * their best validation loss, students trained ~7 epochs. Its students read the teachers' ensemble
 * logits from a file computed once (`offlineLogits`, top-128 of 512 tokens), since the training
 * blocks are a fixed set, instead of running both teachers at every step. `smoke` is a one-minute
 * check (CI); `paper` uses the paper's sizes (Llama-360M and GPT2-705M teachers, 58M student, vocab
 * 16000, context 128, KL with `batchmean`) and needs a real GPU. The real BabyLM 10M data:
 * --corpus path/to/babylm_data (or the distributed .zip), which also switches on the per-source cleaning.
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { adapterName, init } from '@kdgpu/tensor';
import { type CausalLM } from '@kdgpu/models';
import { loadModel } from '@kdgpu/models/node';
import { babyLlamaTokenizerOptions, type Tokenizer } from '@kdgpu/tokenizer';
import { save as saveTokenizer, trainBpeFromFiles } from '@kdgpu/tokenizer/node';
import {
  evalBatches, evaluateLM, evaluateMinimalPairs, modelScorer, parseMinimalPairs, plotRuns, type TrainConfig, validateConfig,
} from '@kdgpu/train';
import { checkOfflineLogitsData, corpusFiles, readMetricsFile, runTraining, tokenizeFiles, writeOfflineLogits } from '@kdgpu/train/node';
import { prepareCorpus } from './lib/corpus-node.ts';
import { type DemoRow, seedList, summarizeDemo } from './lib/demo-results.ts';

// ---- settings -------------------------------------------------------------------------------
const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const presetName = arg('preset', 'cpu');

interface Preset {
  maxWords?: number;
  vocab: number;
  block: number;
  batch: number;
  gpt2: Record<string, number>;
  llama: Record<string, number>;
  student: Record<string, number>;
  /** Teacher steps (0 = 6 epochs, the paper's), per teacher. */
  gpt2Steps: number;
  llamaSteps: number;
  /** Evaluate the teachers every N steps; each is distilled from its best checkpoint. */
  teacherEvalEvery: number;
  studentSteps: number;
  studentEvalEvery: number;
  lr: { teacher: number; student: number };
  evalBlocks: number;
  /** Student seeds run by default (`--seed`/`--seeds` override). */
  seeds: number;
  /** Seeds (the first ones) that also get a student distilled from the single best teacher. */
  singleTeacherSeeds: number;
  /** KD reduction: `mean` per token (as CE), or `batchmean` (the paper's, ~T x heavier). */
  reduction: 'mean' | 'batchmean';
  /** Teacher logits computed once and read from a file (top-k kept) instead of live teachers. */
  offlineTopK: number | null;
}
const PRESETS: Record<string, Preset> = {
  smoke: {
    maxWords: 30_000, vocab: 600, block: 32, batch: 8, evalBlocks: 16,
    gpt2: { n_embd: 32, n_layer: 2, n_head: 2 },
    llama: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 2 },
    student: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2 },
    gpt2Steps: 8, llamaSteps: 8, teacherEvalEvery: 4, studentSteps: 8, studentEvalEvery: 4, lr: { teacher: 3e-3, student: 3e-3 },
    seeds: 1, singleTeacherSeeds: 1, reduction: 'mean', offlineTopK: 16,
  },
  // BabyLM in miniature, sized from measured step times on lavapipe (2 cores): a 25k-word slice
  // (62k training tokens, 965 blocks of 64), teachers ~4x the student's width trained many epochs
  // and distilled from their best checkpoint, students 800 steps (~6.6 epochs) with and without KD.
  cpu: {
    maxWords: 25_000, vocab: 512, block: 64, batch: 8, evalBlocks: 96,
    gpt2: { n_embd: 64, n_layer: 3, n_head: 4 },
    llama: { hidden_size: 64, intermediate_size: 192, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 4 },
    student: { hidden_size: 32, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4 },
    gpt2Steps: 1200, llamaSteps: 1200, teacherEvalEvery: 200, studentSteps: 800, studentEvalEvery: 200, lr: { teacher: 4e-3, student: 4e-3 },
    seeds: 3, singleTeacherSeeds: 1, reduction: 'mean', offlineTopK: 128,
  },
  paper: {
    vocab: 16000, block: 128, batch: 32, evalBlocks: 8192,
    gpt2: { n_embd: 1536, n_layer: 24, n_head: 16 },
    llama: { hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 24, num_attention_heads: 8, num_key_value_heads: 8 },
    student: { hidden_size: 512, intermediate_size: 1024, num_hidden_layers: 16, num_attention_heads: 8, num_key_value_heads: 8 },
    gpt2Steps: 0, llamaSteps: 0, teacherEvalEvery: 0, studentSteps: 0, studentEvalEvery: 0, lr: { teacher: 3e-4, student: 2.5e-4 },
    seeds: 1, singleTeacherSeeds: 0, reduction: 'batchmean', offlineTopK: null,
  },
};
const P = PRESETS[presetName];
if (!P) throw new Error(`--preset: unknown preset ${presetName}; use one of ${Object.keys(PRESETS).join(', ')}`);
const seeds = seedList(arg('seed', '1'), arg('seeds', String(P.seeds)));
const teacherSeed = Number(arg('teacher-seed', '2023'));
if (!Number.isSafeInteger(teacherSeed) || teacherSeed < 0) throw new Error(`--teacher-seed: expected a whole number >= 0, got ${arg('teacher-seed', '')}`);
const out = resolve(arg('out', `runs/baby-llama-${presetName}`));
const publish = arg('publish', '');
const corpusSource = arg('corpus', 'embedded');

await init();
console.log(`Baby Llama recipe, preset "${presetName}", student seeds ${seeds.join(', ')}, on ${adapterName()}; outputs in ${out}`);
await mkdir(out, { recursive: true });
const started = performance.now();
const loadAtStart = loadavg()[0];

// ---- 1. corpus: a BabyLM-style folder (<source>.train / <source>.dev) ------------------------
const corpus = await prepareCorpus({ source: corpusSource, outDir: join(out, 'corpus'), maxWords: P.maxWords });
console.log(`corpus: ${corpus.files.map((f) => `${f.name} ${f.trainWords}+${f.devWords} words`).join(', ')}`);
const trainFiles = corpus.files.map((f) => join(corpus.dir, `${f.name}.train`));

// ---- 2. the tokenizer, trained on the (cleaned) train split only -----------------------------
const tokPath = join(out, 'tokenizer.json');
const tok = await trainBpeFromFiles(trainFiles, babyLlamaTokenizerOptions({ vocabSize: P.vocab, minFrequency: 2, showProgress: false }));
saveTokenizer(tok, tokPath);
console.log(`tokenizer: vocabulary ${tok.vocabSize}`);

// ---- 3. the run configs ----------------------------------------------------------------------
const train = (steps: number, evalEvery: number) => steps > 0
  // Checkpoints only at evaluations (the best one is kept for distillation), none periodically.
  ? { maxSteps: steps, logEvery: 10, evalEvery, checkpointEvery: steps, keepCheckpoints: 1 }
  : { epochs: 6, logEvery: 10, evalEvery: 0 };
const base = (name: string, seed: number, steps: number, evalEvery: number, lr: number, model: TrainConfig['model'], fixedBlocks: boolean): Record<string, unknown> => ({
  run: { name, outDir: out, seed },
  // Students read stored teacher logits per block, so their blocks are a fixed set (no random offset).
  data: { dir: corpus.dir, blockSize: P.block, batchSize: P.batch, maxEvalBlocks: P.evalBlocks, randomOffset: !fixedBlocks, clean: corpus.clean },
  tokenizer: { path: tokPath },
  model,
  optimizer: { lr, weightDecay: 0.1, clipGradNorm: 1 },
  schedule: { type: 'cosine', warmupSteps: Math.max(1, Math.round(steps * 0.05)) },
  train: train(steps, evalEvery),
});
const maxPos = { max_position_embeddings: 2 * P.block };
const teacherConfigs = [
  validateConfig(base('gpt2-teacher', teacherSeed, P.gpt2Steps, P.teacherEvalEvery, P.lr.teacher, { type: 'gpt2', config: { ...P.gpt2, n_positions: 2 * P.block } }, false)),
  validateConfig(base('llama-teacher', teacherSeed, P.llamaSteps, P.teacherEvalEvery, P.lr.teacher, { type: 'llama', config: { ...P.llama, ...maxPos } }, false)),
];
const studentModel: TrainConfig['model'] = { type: 'llama', config: { ...P.student, ...maxPos } };
const offline = P.offlineTopK !== null;
const student = (name: string, seed: number) => base(name, seed, P.studentSteps, P.studentEvalEvery, P.lr.student, studentModel, offline);
// Baby Llama: L = α CE + (1 − α) T² KL, α = 0.5, T = 2, mean of the teachers' logits; here KL per token.
const distill = { loss: 'forwardKL', kdRatio: 0.5, temperature: 2, ensemble: 'logits', lossOptions: { reduction: P.reduction } };

// ---- 4. the teachers: trained once, reused when unchanged -------------------------------------
const label: Record<string, string> = { 'gpt2-teacher': 'GPT-2 teacher', 'llama-teacher': 'LLaMA teacher' };
const teacherInfo: Array<{ name: string; dir: string; step: number; valLoss: number; seconds: number; reused: boolean }> = [];
for (const c of teacherConfigs) {
  const runDir = join(out, c.run.name);
  const best = join(runDir, 'checkpoints', 'best.json');
  const reusable = existsSync(join(runDir, 'final')) && existsSync(best) &&
    (await readFile(join(runDir, 'config.resolved.json'), 'utf8').then((s) => JSON.stringify(JSON.parse(s)) === JSON.stringify(c), () => false)) &&
    (await readFile(join(runDir, 'tokenizer.json'), 'utf8').then((s) => s === readFileSync(tokPath, 'utf8'), () => false));
  let seconds = 0;
  if (reusable) {
    console.log(`\n== ${c.run.name}: reusing the finished run in ${runDir} (same config and tokenizer)`);
    const records = readMetricsFile(join(runDir, 'metrics.jsonl'));
    seconds = records.at(-1)?.time ?? 0;
  } else {
    console.log(`\n== ${c.run.name}`);
    const r = await runTraining(c, { overwrite: true });
    seconds = r.summary.seconds;
    r.model.dispose();
  }
  const pointer = JSON.parse(await readFile(best, 'utf8')) as { dir: string; step: number; bestEval: number };
  teacherInfo.push({ name: c.run.name, dir: join(runDir, 'checkpoints', pointer.dir), step: pointer.step, valLoss: pointer.bestEval, seconds, reused: reusable });
  console.log(`${c.run.name}: best validation loss ${pointer.bestEval.toFixed(4)} at step ${pointer.step}`);
}
const bestTeacher = teacherInfo.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));

// ---- 5. the teachers' logits over the students' (fixed) training blocks, computed once --------
const teacherRef = (t: (typeof teacherInfo)[number]) => ({ path: t.dir, tokenizer: tokPath });
const logitsFor = async (name: string, ts: typeof teacherInfo): Promise<Record<string, unknown>> => {
  if (!offline) return { teachers: ts.map(teacherRef) };
  const path = join(out, `${name}.logits`);
  const probe = validateConfig(student('probe', seeds[0]!));
  const tokens = await tokenizeFiles(probe, (await corpusFiles(probe)).train, tok, join(out, 'cache', 'tokens'));
  let fresh = !ts.every((t) => t.reused) || !existsSync(path);
  if (!fresh) {
    try { checkOfflineLogitsData(path, tokens); } catch { fresh = true; }
  }
  if (fresh) {
    const t0 = performance.now();
    const models: CausalLM[] = [];
    for (const t of ts) models.push(await loadModel(t.dir));
    await writeOfflineLogits(models, tokens, path, { blockSize: P.block, batchSize: P.batch, topK: P.offlineTopK!, topP: 1, ensemble: 'logits' });
    for (const m of models) m.dispose();
    console.log(`${name}: teacher logits of ${tokens.length} training tokens written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return { teachers: ts.map(teacherRef), offlineLogits: { path, topK: P.offlineTopK!, topP: 1 } };
};
const ensembleSource = await logitsFor('ensemble', teacherInfo);
const singleSource = seeds.length > 0 && P.singleTeacherSeeds > 0 ? await logitsFor(`single-${bestTeacher.name}`, [bestTeacher]) : null;

// ---- 6. the students, per seed: distilled from the ensemble, from the best teacher, and alone --
interface StudentRun { name: string; model: string; seed: number; seconds: number }
const studentRuns: StudentRun[] = [];
const withSource = (cfg: Record<string, unknown>, source: Record<string, unknown>) => validateConfig({ ...cfg, ...source, distill });
for (const [i, seed] of seeds.entries()) {
  const plan: Array<[string, TrainConfig]> = [
    ['student-distilled', withSource(student(`student-distilled-s${seed}`, seed), ensembleSource)],
    ['student-no-kd', validateConfig(student(`student-no-kd-s${seed}`, seed))],
  ];
  if (singleSource && i < P.singleTeacherSeeds) plan.push(['student-best-teacher', withSource(student(`student-best-teacher-s${seed}`, seed), singleSource)]);
  for (const [model, c] of plan) {
    console.log(`\n== ${c.run.name}`);
    const r = await runTraining(c, { overwrite: true });
    studentRuns.push({ name: c.run.name, model, seed, seconds: r.summary.seconds });
    r.model.dispose();
    // The students' checkpoints are not needed after the run (the final model is kept).
    await rm(join(out, c.run.name, 'checkpoints'), { recursive: true, force: true });
  }
}

// ---- 7. evaluate everything on the same held-out blocks and minimal pairs ---------------------
const probe = validateConfig(student('probe', seeds[0]!));
const devTokens = await tokenizeFiles(probe, (await corpusFiles(probe)).eval, tok, join(out, 'cache', 'tokens'));
const pairs = parseMinimalPairs(readFileSync(new URL('../packages/train/data/minimal-pairs.jsonl', import.meta.url), 'utf8'));
const scorerTok = (t: Tokenizer) => ({ encode: (s: string) => ({ ids: t.encode(s, { addSpecialTokens: false }).ids }), decode: (ids: number[]) => t.decode(ids) });
const evaluate = async (dir: string) => {
  const model = await loadModel(dir);
  const lm = await evaluateLM(model, evalBatches(devTokens, { blockSize: P.block, batchSize: P.batch, maxEvalBlocks: P.evalBlocks, seed: 2023 }));
  const mp = await evaluateMinimalPairs(modelScorer(model, scorerTok(tok)), pairs);
  const params = model.numParameters();
  model.dispose();
  return { loss: lm.loss, perplexity: lm.perplexity, pairs: mp.mean, params };
};
const bestOf = (runName: string) => {
  const evals = readMetricsFile(join(out, runName, 'metrics.jsonl')).filter((r) => r.split === 'eval' && typeof r.loss === 'number');
  const best = evals.reduce((a, b) => (b.loss! < a.loss! ? b : a), evals[0]!);
  return { loss: best.loss!, step: best.step };
};
const rows: DemoRow[] = [];
for (const t of teacherInfo) {
  const e = await evaluate(t.dir);
  rows.push({ model: t.name, seed: teacherSeed, steps: t.step, params: e.params, 'val loss': round(e.loss, 4), 'best val (step)': `${round(t.valLoss, 4)} (${t.step})`, perplexity: round(e.perplexity, 2), 'minimal pairs': round(e.pairs, 3), 'train s': round(t.seconds, 1) });
}
for (const s of studentRuns) {
  const e = await evaluate(join(out, s.name, 'final'));
  const b = bestOf(s.name);
  rows.push({ model: s.model, seed: s.seed, steps: P.studentSteps, params: e.params, 'val loss': round(e.loss, 4), 'best val (step)': `${round(b.loss, 4)} (${b.step})`, perplexity: round(e.perplexity, 2), 'minimal pairs': round(e.pairs, 3), 'train s': round(s.seconds, 1) });
}

// ---- 8. report -------------------------------------------------------------------------------
const summary = summarizeDemo(rows, { bestTeacher: bestTeacher.name });
const cols = Object.keys(rows[0]!);
console.log(`\n| ${cols.join(' | ')} |\n|${cols.map(() => '---').join('|')}|`);
for (const row of rows) console.log(`| ${cols.map((c) => row[c]).join(' | ')} |`);
for (const line of summary.lines) console.log(line);
console.log(`\n${summary.verdict}`);
const seconds = (performance.now() - started) / 1000;
const results = {
  preset: presetName, adapter: adapterName(),
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, runtime: typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined' ? 'Deno' : `Node ${process.versions.node}`, loadAtStart: round(loadAtStart, 2), loadAtEnd: round(loadavg()[0], 2) },
  corpus: corpus.files, seeds, teacherSeed,
  settings: { ...P, distill },
  teachers: teacherInfo.map(({ name, step, valLoss, reused }) => ({ name, bestStep: step, bestValLoss: valLoss, reused })),
  bestTeacher: bestTeacher.name,
  table: rows, margins: summary.margins, beatsTeachers: summary.beatsTeachers, verdict: summary.verdict, seconds: round(seconds, 1),
};
await writeFile(join(out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

// One plot: the teachers and the first seed's students, with the code `kdgpu plot` uses: losses
// (the distilled students' CE and KD parts too), validation perplexity on a log scale, the learning rate.
const plotted = [...teacherInfo.map((t) => ({ name: label[t.name]!, dir: t.name })), ...studentRuns.filter((s) => s.seed === seeds[0]).map((s) => ({ name: `${s.model.replace('student-', 'student, ').replace('no-kd', 'no KD').replace('best-teacher', 'best teacher only')}`, dir: s.name }))];
const runs = plotted.map(({ name, dir }) => ({ name, records: readMetricsFile(join(out, dir, 'metrics.jsonl')) }));
await writeFile(join(out, 'loss.svg'), plotRuns(runs, { title: `Baby Llama recipe (${presetName}), student seed ${seeds[0]}` }));
if (publish) {
  await mkdir(resolve(publish), { recursive: true });
  for (const f of ['results.json', 'loss.svg']) await copyFile(join(out, f), join(resolve(publish), f));
  console.log(`published results.json and loss.svg to ${resolve(publish)}`);
}
console.log(`wrote ${join(out, 'results.json')} and ${join(out, 'loss.svg')}; the whole recipe took ${(seconds / 60).toFixed(1)} min`);
process.exit(0);

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
