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
 *          [--only gpt2-teacher|llama-teacher|teachers] [--students distilled,no-kd,best-teacher]
 *
 * `--seed N --seeds K` trains the students with seeds N, N+1, ..., N+K-1 (default: the preset's).
 * The teachers are trained once, with `--teacher-seed` (default 2023), and reused by a later run in
 * the same `--out` folder when their config and tokenizer are unchanged. `--publish DIR` copies
 * results.json and loss.svg there (the committed `docs/demo`). `--only` and `--students` split the
 * work over processes on a shared machine (each trains a part; a last run without them reuses all
 * and writes the table).
 *
 * `cpu` (default) is sized for under 15 minutes on 2 CPU cores with software Vulkan (lavapipe): 8.5 minutes on
 * this project's machine (docs/demo/results.json); it is
 * BabyLM's setting in miniature: a 25k-word slice trained for many epochs, teachers trained to
 * their best validation loss, students trained ~7 epochs. Its students read the teachers' ensemble
 * logits from a file computed once (`offlineLogits`, top-128 of 512 tokens), since the training
 * blocks are a fixed set, instead of running both teachers at every step. `smoke` is a one-minute
 * check (CI); `paper` uses the paper's sizes (Llama-360M and GPT2-705M teachers, 58M student, vocab
 * 16000, context 128, KL with `batchmean`) and needs a real GPU. The real BabyLM 10M data:
 * --corpus path/to/babylm_data (or the distributed .zip), which also switches on the per-source cleaning.
 */
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { adapterName, init } from '@kdgpu/tensor';
import { loadModel } from '@kdgpu/models/node';
import { type Tokenizer } from '@kdgpu/tokenizer';
import { evalBatches, evaluateLM, evaluateMinimalPairs, modelScorer, parseMinimalPairs, plotRuns, type TrainConfig, validateConfig } from '@kdgpu/train';
import { readMetricsFile, runTraining } from '@kdgpu/train/node';
import { PRESETS, setupBabyLlama, trainOrReuse } from './lib/baby-llama-setup.ts';
import { type DemoRow, seedList, summarizeDemo } from './lib/demo-results.ts';

// ---- settings -------------------------------------------------------------------------------
const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const presetName = arg('preset', 'cpu');

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

// --only gpt2-teacher|llama-teacher|teachers: stop after that stage (to train the teachers in
// parallel processes on a shared machine; a later run in the same --out reuses them).
const only = arg('only', '');
// --students distilled,no-kd,best-teacher: which students to train (default all). The table needs
// the distilled and no-KD students; without best-teacher it has no single-teacher row. A process that
// trains only some of the first two (while another trains the rest) stops before the table.
const studentKinds = arg('students', 'distilled,no-kd,best-teacher').split(',');
for (const k of studentKinds) if (!['distilled', 'no-kd', 'best-teacher'].includes(k)) throw new Error(`--students: unknown student ${k}; use distilled, no-kd, best-teacher`);
const partial = !studentKinds.includes('distilled') || !studentKinds.includes('no-kd');
if (only && !['gpt2-teacher', 'llama-teacher', 'teachers'].includes(only)) throw new Error(`--only: expected gpt2-teacher, llama-teacher or teachers, got ${only}`);
const S = await setupBabyLlama({ P, out, corpusSource, teacherSeed, onlyTeacher: only === 'teachers' ? undefined : only || undefined });
if (only && only !== 'teachers') process.exit(0);
const { corpus, tok, teacherInfo, bestTeacher, student, distill, logitsFor } = S;
const label: Record<string, string> = { 'gpt2-teacher': 'GPT-2 teacher', 'llama-teacher': 'LLaMA teacher' };
const ensembleSource = await logitsFor('ensemble', teacherInfo);
const singleSource = P.singleTeacherSeeds > 0 ? await logitsFor(`single-${bestTeacher.name}`, [bestTeacher]) : null;
if (only === 'teachers') process.exit(0);

// ---- 1-5 (corpus, tokenizer, teachers, their logits): examples/lib/baby-llama-setup.ts ----------
// ---- 6. the students, per seed: distilled from the ensemble, from the best teacher, and alone --
interface StudentRun { name: string; model: string; seed: number; seconds: number; reused: boolean }
const studentRuns: StudentRun[] = [];
const withSource = (cfg: Record<string, unknown>, source: Record<string, unknown>) => validateConfig({ ...cfg, ...source, distill });
for (const [i, seed] of seeds.entries()) {
  const plan: Array<[string, TrainConfig]> = [
    ['student-distilled', withSource(student(`student-distilled-s${seed}`, seed), ensembleSource)],
    ['student-no-kd', validateConfig(student(`student-no-kd-s${seed}`, seed))],
  ];
  if (singleSource && i < P.singleTeacherSeeds) plan.push(['student-best-teacher', withSource(student(`student-best-teacher-s${seed}`, seed), singleSource)]);
  for (const [model, c] of plan) {
    if (!studentKinds.includes(model.replace('student-', ''))) continue;
    const { seconds, reused } = await trainOrReuse(c, S.tokPath);
    studentRuns.push({ name: c.run.name, model, seed, seconds, reused });
  }
}

if (partial) {
  console.log(`trained the students ${studentKinds.join(', ')}; run without --students for the table`);
  process.exit(0);
}

// ---- 7. evaluate everything on the same held-out blocks and minimal pairs ---------------------
const devTokens = await S.devTokens();
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
  corpus: corpus.files, trainTokens: (await S.trainTokens()).length, seeds, teacherSeed,
  settings: { ...P, distill },
  teachers: teacherInfo.map(({ name, step, valLoss, reused }) => ({ name, bestStep: step, bestValLoss: valLoss, reused })),
  bestTeacher: bestTeacher.name,
  table: rows, margins: summary.margins, beatsTeachers: summary.beatsTeachers, verdict: summary.verdict, seconds: round(seconds, 1),
  // Runs reused from earlier invocations in the same folder (their training is not in \`seconds\`), and
  // the training time of every run, reused or not.
  reusedRuns: [...teacherInfo.filter((t) => t.reused).map((t) => t.name), ...studentRuns.filter((s) => s.reused).map((s) => s.name)],
  trainSeconds: round([...teacherInfo, ...studentRuns].reduce((a, r) => a + r.seconds, 0), 1),
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
