/**
 * The Baby Llama demo's shared setting (`examples/baby-llama.ts`, `examples/loss-sweep.ts`): the
 * presets, and everything before the students: the corpus slice, the tokenizer, the two teachers
 * (trained once, reused from the same output folder when their config and tokenizer are unchanged,
 * each taken at its best checkpoint by validation loss) and the teachers' logits over the students'
 * fixed training blocks, computed once.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { type CausalLM } from '@kdgpu/models';
import { loadModel } from '@kdgpu/models/node';
import { babyLlamaTokenizerOptions, type Tokenizer } from '@kdgpu/tokenizer';
import { fromFile, save as saveTokenizer, trainBpeFromFiles } from '@kdgpu/tokenizer/node';
import { type TokenArray, type TrainConfig, validateConfig } from '@kdgpu/train';
import { checkOfflineLogitsData, corpusFiles, readMetricsFile, runTraining, signalExitCode, tokenizeFiles, writeOfflineLogits } from '@kdgpu/train/node';
import { prepareCorpus, type PreparedCorpus } from './corpus-node.ts';

export interface Preset {
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
export const PRESETS: Record<string, Preset> = {
  smoke: {
    maxWords: 30_000, vocab: 600, block: 32, batch: 8, evalBlocks: 16,
    gpt2: { n_embd: 32, n_layer: 2, n_head: 2 },
    llama: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 2 },
    student: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2 },
    gpt2Steps: 8, llamaSteps: 8, teacherEvalEvery: 8, studentSteps: 8, studentEvalEvery: 8, lr: { teacher: 3e-3, student: 3e-3 },
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
    gpt2Steps: 800, llamaSteps: 1200, teacherEvalEvery: 200, studentSteps: 800, studentEvalEvery: 200, lr: { teacher: 4e-3, student: 4e-3 },
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
/** A teacher after training: its best checkpoint and validation loss there. */
export interface TeacherInfo { name: string; dir: string; step: number; valLoss: number; seconds: number; reused: boolean }

/** What {@link setupBabyLlama} prepared. */
export interface BabyLlamaSetup {
  P: Preset;
  corpus: PreparedCorpus;
  tok: Tokenizer;
  tokPath: string;
  teacherInfo: TeacherInfo[];
  bestTeacher: TeacherInfo;
  /** A student's config (not validated): the preset's model, steps, schedule and blocks. */
  student: (name: string, seed: number) => Record<string, unknown>;
  /** The demo's distillation settings (forward KL, kdRatio 0.5, T 2, logit mean, the preset's reduction). */
  distill: { loss: string; kdRatio: number; temperature: number; ensemble: 'logits'; lossOptions: { reduction: 'mean' | 'batchmean' } };
  /** The config fields that make a student distil from these teachers (offline logits file or live teachers). */
  /**
   * `topK` (default the preset's) keeps that many tokens per position; the whole vocabulary keeps the
   * exact distribution, which divergences that weigh the student's own mass (reverse KL and kin) need:
   * a truncated teacher leaves the student's mass outside the kept tokens unpenalised.
   */
  logitsFor: (name: string, ts: TeacherInfo[], topK?: number) => Promise<Record<string, unknown>>;
  /** The held-out tokens every model is evaluated on. */
  devTokens: () => Promise<TokenArray>;
  /** The students' training tokens. */
  trainTokens: () => Promise<TokenArray>;
}

/** Prepares the corpus, the tokenizer and the teachers of `P` in `out` (see the module comment). */
export async function setupBabyLlama(o: { P: Preset; out: string; corpusSource: string; teacherSeed: number; onlyTeacher?: string }): Promise<BabyLlamaSetup> {
  const { P, out, corpusSource, teacherSeed } = o;
  await mkdir(out, { recursive: true });
  // ---- 1. corpus: a BabyLM-style folder (<source>.train / <source>.dev) ------------------------
  const corpus = await prepareCorpus({ source: corpusSource, outDir: join(out, 'corpus'), maxWords: P.maxWords });
  console.log(`corpus: ${corpus.files.map((f) => `${f.name} ${f.trainWords}+${f.devWords} words`).join(', ')}`);
  const trainFiles = corpus.files.map((f) => join(corpus.dir, `${f.name}.train`));

  // ---- 2. the tokenizer, trained on the (cleaned) train split only -----------------------------
  const tokPath = join(out, 'tokenizer.json');
  const tok = await trainBpeFromFiles(trainFiles, babyLlamaTokenizerOptions({ vocabSize: P.vocab, minFrequency: 2, showProgress: false }));
  // Rewritten only when it changed: runs of other processes may be reading it.
  if (!existsSync(tokPath) || fromFile(tokPath).serialize(false) !== tok.serialize(false)) saveTokenizer(tok, tokPath);
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
  const distill = { loss: 'forwardKL', kdRatio: 0.5, temperature: 2, ensemble: 'logits' as const, lossOptions: { reduction: P.reduction } };

  // ---- 4. the teachers: trained once, reused when unchanged -------------------------------------
  const teacherInfo: TeacherInfo[] = [];
  for (const c of teacherConfigs) {
    if (o.onlyTeacher && o.onlyTeacher !== c.run.name) continue;
    const runDir = join(out, c.run.name);
    const best = join(runDir, 'checkpoints', 'best.json');
    const { seconds, reused } = await trainOrReuse(c, tokPath, [best]);
    const pointer = JSON.parse(await readFile(best, 'utf8')) as { dir: string; step: number; bestEval: number };
    teacherInfo.push({ name: c.run.name, dir: join(runDir, 'checkpoints', pointer.dir), step: pointer.step, valLoss: pointer.bestEval, seconds, reused });
    console.log(`${c.run.name}: best validation loss ${pointer.bestEval.toFixed(4)} at step ${pointer.step}`);
  }
  const bestTeacher = teacherInfo.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));

  // ---- 5. the teachers' logits over the students' (fixed) training blocks, computed once --------
  const teacherRef = (t: TeacherInfo) => ({ path: t.dir, tokenizer: tokPath });
  const logitsFor = async (name: string, ts: TeacherInfo[], topK = P.offlineTopK ?? P.vocab): Promise<Record<string, unknown>> => {
    if (!offline) return { teachers: ts.map(teacherRef) };
    const path = join(out, `${name}.logits`);
    const probe = validateConfig(student('probe', 0));
    const tokens = await tokenizeFiles(probe, (await corpusFiles(probe)).train, tok, join(out, 'cache', 'tokens'));
    let fresh = !ts.every((t) => t.reused) || !existsSync(path);
    if (!fresh) {
      try { checkOfflineLogitsData(path, tokens); } catch { fresh = true; }
    }
    if (fresh) {
      const t0 = performance.now();
      const models: CausalLM[] = [];
      for (const t of ts) models.push(await loadModel(t.dir));
      await writeOfflineLogits(models, tokens, path, { blockSize: P.block, batchSize: P.batch, topK, topP: 1, ensemble: 'logits' });
      for (const m of models) m.dispose();
      console.log(`${name}: teacher logits of ${tokens.length} training tokens written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    return { teachers: ts.map(teacherRef), offlineLogits: { path, topK, topP: 1 } };
  };

  const devTokens = async () => {
    const probe = validateConfig(student('probe', 0));
    return tokenizeFiles(probe, (await corpusFiles(probe)).eval, tok, join(out, 'cache', 'tokens'));
  };
  const trainTokens = async () => {
    const probe = validateConfig(student('probe', 0));
    return tokenizeFiles(probe, (await corpusFiles(probe)).train, tok, join(out, 'cache', 'tokens'));
  };
  return { P, corpus, tok, tokPath, teacherInfo, bestTeacher, student, distill, logitsFor, devTokens, trainTokens };
}

/** Written beside a finished run by {@link trainOrReuse}: how long it trained. */
const DONE_FILE = 'example-run.json';

/**
 * Trains the run of `c`, or reuses the finished one in its folder when its resolved config and
 * tokenizer are the same as now (and every path of `needs` exists), so that a re-run, another
 * seed or another script on the same setting does not train it again; a run stopped by a signal
 * with the same config continues from its last checkpoint. A signal during training ends the
 * process (exit 130 or 143) after the run's checkpoint is saved. Returns its training seconds.
 */
export async function trainOrReuse(c: TrainConfig, tokPath: string, needs: string[] = []): Promise<{ seconds: number; reused: boolean }> {
  const runDir = join(c.run.outDir, c.run.name);
  const done = join(runDir, DONE_FILE);
  const same = existsSync(join(runDir, 'final')) && existsSync(done) && needs.every((p) => existsSync(p)) &&
    (await readFile(join(runDir, 'config.resolved.json'), 'utf8').then((s) => sameConfig(JSON.parse(s), c), () => false)) &&
    (await readFile(join(runDir, 'tokenizer.json'), 'utf8').then((s) => s === readFileSync(tokPath, 'utf8'), () => false));
  if (same) {
    const { seconds } = JSON.parse(await readFile(done, 'utf8')) as { seconds: number };
    console.log(`\n== ${c.run.name}: reusing the finished run in ${runDir} (same config and tokenizer)`);
    return { seconds, reused: true };
  }
  // A run stopped by a signal (its checkpoint kept, no done file) with the same config continues.
  const stopped = !existsSync(done) && existsSync(join(runDir, 'checkpoints', 'latest.json')) &&
    (await readFile(join(runDir, 'config.resolved.json'), 'utf8').then((s) => sameConfig(JSON.parse(s), c), () => false));
  console.log(`\n== ${c.run.name}${stopped ? ' (continuing the stopped run from its last checkpoint)' : ''}`);
  const r = await runTraining(c, stopped ? { resume: true } : { overwrite: true });
  r.model.dispose();
  if (r.stoppedBy) {
    // Ctrl-C or a kill stops the whole recipe, not just this run.
    console.log(`stopped by ${r.stoppedBy} during ${c.run.name}; its checkpoint is kept: the same command continues it, and reuses the finished runs`);
    process.exit(signalExitCode(r.stoppedBy));
  }
  await writeFile(done, `${JSON.stringify({ seconds: r.summary.seconds, steps: r.summary.steps, loadAtEnd: loadavg()[0] })}\n`);
  return { seconds: r.summary.seconds, reused: false };
}

/**
 * Whether a finished run's resolved config is `c`: compared after validating it again (so defaults
 * added to the schema since it ran are filled in the same way) and with sorted keys.
 */
function sameConfig(old: unknown, c: TrainConfig): boolean {
  try {
    return canonical(validateConfig(old)) === canonical(c);
  } catch {
    return false;
  }
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));
}
