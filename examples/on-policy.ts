/**
 * On-policy distillation against off-policy, on the demo's corpus and teacher: the same student
 * distilled four ways, each with three seeds:
 *   - off-policy: forward KL on the data (what the Baby Llama demo does, without CE);
 *   - GKD: half of the steps on the student's own continuations of the data's prompts, generalized
 *     JSD (β = 0.5), TRL's defaults;
 *   - DistiLLM: skew forward KL (α = 0.1) on an adaptive mix of data, fresh student outputs and a
 *     replay buffer;
 *   - MiniLLM: policy-gradient sequence reverse KL on teacher-mixed samples (α = 0.2, γ = 0.95,
 *     length normalisation), plus the forward-KL step on the data (its pt_loss).
 * Each student is judged on what it writes (the teacher's per-token NLL of its samples of held-out
 * prompts, lower is better), on DistilLlama's query metrics (`kdgpu eval --queries`), and on the
 * validation loss; with the time each run took and the share of it spent generating.
 *
 * usage: node --import tsx examples/on-policy.ts [--preset cpu|smoke] [--teacher DIR] [--out DIR]
 *                                                [--seeds 3] [--steps N] [--teacher-steps N] [--docs DIR|none]
 * The teacher is the demo's LLaMA teacher (examples/baby-llama.ts): trained here with the demo's
 * settings unless --teacher names a saved one trained with this corpus' tokenizer (its folder's
 * parent must hold tokenizer.json, as the demo's runs do). The `cpu` preset (default) writes its
 * table to docs/on-policy/ as well.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { adapterName, init } from '@kdgpu/tensor';
import { type CausalLM, createModel, llamaConfig } from '@kdgpu/models';
import { loadModel } from '@kdgpu/models/node';
import { babyLlamaTokenizerOptions, type Tokenizer } from '@kdgpu/tokenizer';
import { fromFile as loadTokenizer, save as saveTokenizer, trainBpeFromFiles } from '@kdgpu/tokenizer/node';
import {
  buildObjective, evalBatches, evaluateLM, evaluateQueries, onPolicyMethod, parseQueries, teacherNllOfSamples, train, trainingConfig, validateConfig,
} from '@kdgpu/train';
import { runTraining, tokenizeFiles } from '@kdgpu/train/node';
import { prepareCorpus } from './lib/corpus-node.ts';

// ---- settings -------------------------------------------------------------------------------
const args = process.argv.slice(2);
const arg = (name: string, dflt?: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const presetName = arg('preset', 'cpu')!;
const out = resolve(arg('out', `runs/on-policy-${presetName}`)!);

interface Preset {
  maxWords: number;
  vocab: number;
  block: number;
  batch: number;
  /** Tokens of a block kept as the prompt; the student samples the rest. */
  prompt: number;
  teacher: Record<string, number>;
  student: Record<string, number>;
  teacherSteps: number;
  studentSteps: number;
  lr: { teacher: number; student: number };
  evalBlocks: number;
  /** Held-out prompts the students continue for the teacher-NLL metric. */
  sampleBlocks: number;
  seeds: number;
}
const PRESETS: Record<string, Preset> = {
  smoke: {
    maxWords: 20_000, vocab: 400, block: 24, batch: 4, prompt: 8, evalBlocks: 8, sampleBlocks: 8, seeds: 1,
    teacher: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 2 },
    student: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2 },
    teacherSteps: 6, studentSteps: 4, lr: { teacher: 3e-3, student: 3e-3 },
  },
  // The demo's `cpu` sizes (its LLaMA teacher and student), with shorter blocks so sampling a
  // continuation stays cheap, and shorter budgets (teacher 200 steps, students 60): sized for
  // ~15-20 minutes on 2 shared cores with software Vulkan (a probe: ~1.4 s per teacher step,
  // ~0.5 s per off-policy student step, ~1.9 s per MiniLLM step at load 24).
  cpu: {
    maxWords: 300_000, vocab: 512, block: 48, batch: 8, prompt: 16, evalBlocks: 96, sampleBlocks: 32, seeds: 3,
    teacher: { hidden_size: 64, intermediate_size: 192, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 4 },
    student: { hidden_size: 32, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4 },
    teacherSteps: 200, studentSteps: 60, lr: { teacher: 4e-3, student: 4e-3 },
  },
};
const preset = PRESETS[presetName];
if (!preset) throw new Error(`unknown preset ${presetName}; use one of ${Object.keys(PRESETS).join(', ')}`);
const stepsArg = (name: string, dflt: number) => {
  const v = Number(arg(name, String(dflt)));
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer, got ${arg(name)}`);
  return v;
};
const P: Preset = { ...preset, studentSteps: stepsArg('steps', preset.studentSteps), teacherSteps: stepsArg('teacher-steps', preset.teacherSteps) };
const seeds = Number(arg('seeds', String(P.seeds)));
if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds must be a positive integer, got ${arg('seeds')}`);
const docsArg = arg('docs', presetName === 'cpu' ? 'docs/on-policy' : 'none')!;
const docsDir = docsArg === 'none' ? null : resolve(docsArg);

// The four methods: the distill section of each (kdRatio 1: pure distillation, as DistiLLM's and GKD's scripts).
const METHODS: Record<string, Record<string, unknown>> = {
  'off-policy (forward KL)': { method: 'offPolicy', loss: 'forwardKL' },
  'GKD (JSD β=0.5, λ=0.5)': { method: 'gkd', loss: 'generalizedJSD', lossOptions: { beta: 0.5 }, onPolicy: { lmbda: 0.5 } },
  // DistiLLM's initThreshold default is 0: student outputs appear only once the validation loss
  // rises. 0.2 makes the scheme act within this short run (documented in the README).
  'DistiLLM (skew FKL α=0.1, adaptive)': { method: 'distillm', loss: 'skewForwardKL', lossOptions: { alpha: 0.1 }, onPolicy: { initThreshold: 0.2 } },
  'MiniLLM (PG reverse KL, mix α=0.2)': { method: 'minillm', loss: 'forwardKL', onPolicy: { mixAlpha: 0.2, gamma: 0.95, lengthNorm: true, ptLoss: true } },
};

await init();
console.log(`on-policy distillation, preset "${presetName}", ${seeds} seed(s), on ${adapterName()}; outputs in ${out}`);
await mkdir(out, { recursive: true });
const started = performance.now();

// ---- 1. corpus and tokenizer, as the demo makes them -----------------------------------------
const corpus = await prepareCorpus({ source: 'embedded', outDir: join(out, 'corpus'), maxWords: P.maxWords });
const trainFiles = corpus.files.map((f) => join(corpus.dir, `${f.name}.train`));
const devFiles = corpus.files.map((f) => join(corpus.dir, `${f.name}.dev`));
const teacherArg = arg('teacher');
let tokPath = teacherArg ? join(dirname(resolve(teacherArg)), '..', 'tokenizer.json') : join(out, 'tokenizer.json');
let tok: Tokenizer;
if (teacherArg) {
  if (!existsSync(tokPath)) throw new Error(`--teacher ${teacherArg}: no tokenizer.json at ${tokPath} (the demo writes it beside its runs)`);
  tok = loadTokenizer(tokPath);
} else {
  tok = await trainBpeFromFiles(trainFiles, babyLlamaTokenizerOptions({ vocabSize: P.vocab, minFrequency: 2, showProgress: false }));
  tokPath = join(out, 'tokenizer.json');
  saveTokenizer(tok, tokPath);
}

// ---- 2. the teacher: the demo's LLaMA teacher ------------------------------------------------
const maxPos = { max_position_embeddings: 2 * P.block };
const teacherConfig = validateConfig({
  run: { name: 'teacher', outDir: out, seed: 2023 },
  data: { dir: corpus.dir, blockSize: P.block, batchSize: P.batch, maxEvalBlocks: P.evalBlocks, randomOffset: true, clean: corpus.clean },
  tokenizer: { path: tokPath },
  model: { type: 'llama', config: { ...P.teacher, ...maxPos } },
  optimizer: { lr: P.lr.teacher, weightDecay: 0.1, clipGradNorm: 1 },
  schedule: { type: 'cosine', warmupSteps: Math.max(1, Math.round(P.teacherSteps * 0.05)) },
  train: { maxSteps: P.teacherSteps, logEvery: 50, evalEvery: P.teacherSteps },
});
let teacher: CausalLM;
if (teacherArg) {
  teacher = await loadModel(resolve(teacherArg));
} else {
  console.log('\n== teacher');
  const r = await runTraining(teacherConfig, { overwrite: true });
  r.model.dispose();
  teacher = await loadModel(join(out, 'teacher', 'final'));
}
const trainTokens = await tokenizeFiles(teacherConfig, trainFiles, tok, join(out, 'cache', 'tokens'));
const devTokens = await tokenizeFiles(teacherConfig, devFiles, tok, join(out, 'cache', 'tokens'));
const evalOpts = { blockSize: P.block, batchSize: P.batch, maxEvalBlocks: P.evalBlocks, seed: 2023 };
const sampleBlocks = () => evalBatches(devTokens, { ...evalOpts, maxEvalBlocks: P.sampleBlocks, seed: 7 });
const queries = parseQueries(readFileSync(new URL('../packages/train/data/queries.jsonl', import.meta.url), 'utf8'));
const teacherVal = await evaluateLM(teacher, evalBatches(devTokens, evalOpts));
console.log(`teacher: ${teacher.numParameters()} parameters, validation loss ${teacherVal.loss.toFixed(4)}`);

// ---- 3. each method, each seed: distil, then evaluate ----------------------------------------
interface Run {
  method: string;
  seed: number;
  valLoss: number;
  teacherNll: number;
  studentNll: number;
  queryRougeL: number;
  queryCosine: number;
  seconds: number;
  generationSeconds: number;
  generatedTokens: number;
  onPolicySteps: number;
}
const runs: Run[] = [];
for (const [method, distill] of Object.entries(METHODS)) {
  for (let s = 0; s < seeds; s++) {
    const seed = 100 + s;
    const config = trainingConfig({
      run: { seed },
      data: { blockSize: P.block, batchSize: P.batch, maxEvalBlocks: P.evalBlocks, randomOffset: true },
      optimizer: { lr: P.lr.student, weightDecay: 0.1, clipGradNorm: 1 },
      schedule: { type: 'cosine', warmupSteps: Math.max(1, Math.round(P.studentSteps * 0.05)) },
      train: { maxSteps: P.studentSteps, logEvery: Math.max(1, Math.round(P.studentSteps / 4)), evalEvery: Math.max(1, Math.round(P.studentSteps / 4)) },
      distill: { kdRatio: 1, ...distill, onPolicy: { promptLength: P.prompt, ...(distill.onPolicy as object | undefined) } },
    });
    const student = createModel(llamaConfig({ ...P.student, ...maxPos, vocab_size: tok.vocabSize }), { seed });
    const objective = buildObjective({ distill: config.distill!, student: { vocabSize: tok.vocabSize, tokenizer: tok }, teachers: [{ kind: 'model', model: teacher, tokenizer: tok, name: 'teacher' }] });
    const onPolicy = onPolicyMethod(config, student, objective);
    const summary = await train({ model: student, data: { train: trainTokens, eval: devTokens }, tokenizer: tok, config, distill: objective, onPolicy });
    const val = await evaluateLM(student, evalBatches(devTokens, evalOpts));
    const samples = await teacherNllOfSamples(student, teacher, sampleBlocks(), { promptLength: P.prompt, seed: 1 });
    const q = await evaluateQueries(student, tok, queries, { maxNewTokens: 16 });
    const gen = onPolicy?.stats.generation;
    const run: Run = {
      method, seed, valLoss: val.loss, teacherNll: samples.teacherNll, studentNll: samples.studentNll, queryRougeL: q.rougeL, queryCosine: q.cosine,
      seconds: summary.seconds, generationSeconds: (gen?.ms ?? 0) / 1000, generatedTokens: gen?.tokens ?? 0, onPolicySteps: (onPolicy?.stats.generatedSteps ?? 0) + (onPolicy?.stats.replaySteps ?? 0),
    };
    runs.push(run);
    console.log(`${method}, seed ${seed}: val ${run.valLoss.toFixed(4)}, teacher NLL of samples ${run.teacherNll.toFixed(4)}, ${run.seconds.toFixed(1)} s (${run.generationSeconds.toFixed(1)} s generating)`);
    student.dispose();
  }
}

// ---- 4. the table: mean ± standard deviation over seeds --------------------------------------
const stat = (xs: number[]) => {
  const m = xs.reduce((a, x) => a + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean: m, sd, min: Math.min(...xs), max: Math.max(...xs) };
};
const fmt = (xs: number[], d: number) => {
  const s = stat(xs);
  return seeds > 1 ? `${s.mean.toFixed(d)} ± ${s.sd.toFixed(d)}` : s.mean.toFixed(d);
};
const rows = Object.keys(METHODS).map((method) => {
  const r = runs.filter((x) => x.method === method);
  const col = (k: keyof Run) => r.map((x) => x[k] as number);
  const gen = col('generationSeconds').reduce((a, x) => a + x, 0);
  const secs = col('seconds').reduce((a, x) => a + x, 0);
  const tok = col('generatedTokens').reduce((a, x) => a + x, 0);
  return {
    method,
    'val loss': fmt(col('valLoss'), 4),
    'teacher NLL of samples': fmt(col('teacherNll'), 4),
    'student NLL of samples': fmt(col('studentNll'), 3),
    'query ROUGE-L': fmt(col('queryRougeL'), 4),
    'train s': fmt(col('seconds'), 1),
    'generating': secs > 0 ? `${((100 * gen) / secs).toFixed(0)}%` : '0%',
    'gen tok/s': gen > 0 ? (tok / gen).toFixed(0) : '-',
  };
});
const cols = Object.keys(rows[0]!);
const md = [`| ${cols.join(' | ')} |`, `|${cols.map((c, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.map((r) => `| ${cols.map((c) => r[c as keyof typeof r]).join(' | ')} |`)].join('\n');
console.log(`\n${md}`);
const best = (k: 'valLoss' | 'teacherNll') => Object.keys(METHODS).map((m) => ({ m, v: stat(runs.filter((x) => x.method === m).map((x) => x[k])).mean })).sort((a, b) => a.v - b.v)[0]!;
const verdict = `Lowest validation loss: ${best('valLoss').m}; lowest teacher NLL of student samples: ${best('teacherNll').m}.`;
console.log(`\n${verdict}`);
const minutes = (performance.now() - started) / 60000;
const results = {
  preset: presetName, adapter: adapterName(), seeds, minutes: Number(minutes.toFixed(1)), preset_settings: P,
  teacher: { parameters: teacher.numParameters(), valLoss: teacherVal.loss }, methods: METHODS, runs, verdict,
};
const header = `Preset \`${presetName}\` on ${adapterName()}; ${seeds} seed(s) per method (mean ± standard deviation); ` +
  `teacher ${teacher.numParameters()} parameters, validation loss ${teacherVal.loss.toFixed(4)}; whole script ${minutes.toFixed(1)} min. ` +
  `Teacher/student NLL: per sampled token of the students' continuations (temperature 1) of ${P.sampleBlocks} held-out ${P.prompt}-token prompts. ` +
  `"generating": share of the training time spent sampling; "gen tok/s": batched sampling throughput during training.`;
for (const dir of [out, ...(docsDir ? [docsDir] : [])]) {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(dir, 'results.md'), `# On-policy distillation: results\n\n${header}\n\n${md}\n\n${verdict}\n\nProduced by \`examples/on-policy.ts --preset ${presetName}\`.\n`);
}
teacher.dispose();
console.log(`wrote results.json and results.md to ${[out, ...(docsDir ? [docsDir] : [])].join(' and ')} in ${minutes.toFixed(1)} min`);
process.exit(0);
