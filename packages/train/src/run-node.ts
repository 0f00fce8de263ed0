/**
 * A whole training or distillation run from a validated config, on disk: read and clean the
 * corpus, train or load the tokenizer, tokenize with a cache, build or resume the model, load the
 * teachers, train with checkpoints and metrics, and save the final and best models. The CLI's
 * `train` and `distill` commands are this function.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { adapterName, checkDeviceHealth, init, KdgpuError, type Tensor, tuneMatmul } from '@kdgpu/tensor';
import { createLoss, lossOptionKeys, type LossName, lossNames, type TeacherInput, universalLogitDistillation } from '@kdgpu/losses';
import * as models from '@kdgpu/models';
import { type CausalLM, createModel, type ModelConfig } from '@kdgpu/models';
import { loadModel, saveModel } from '@kdgpu/models/node';
import { babyLlamaTokenizerOptions, type Tokenizer } from '@kdgpu/tokenizer';
import { fromFile as loadTokenizer, save as saveTokenizer, trainBpeFromFiles } from '@kdgpu/tokenizer/node';
import { writeJsonAtomic } from './atomic-node.ts';
import type { Batch, TokenArray } from './blocks.ts';
import { findCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint-node.ts';
import { cleanerFor, sourceOf } from './clean.ts';
import type { TrainConfig } from './config.ts';
import { openMetricsFile } from './metrics-node.ts';
import { consoleProgress } from './progress-node.ts';
import type { KdReduction } from './config-schema.ts';
import type { DistillPart } from './step.ts';
import { cachedTokenize } from './token-cache-node.ts';
import { fileTuneStore } from './tune-node.ts';
import { train, type TrainSummary } from './trainer.ts';
import { offlineTeacher } from './offline-logits-node.ts';

export interface RunOptions {
  /** Continue from `<run>/checkpoints/latest.json` when it exists. */
  resume?: boolean;
  /** Print progress (default true). */
  quiet?: boolean;
  /** Stop after this step, as if killed (tests). */
  onStep?: (step: number) => void | Promise<void>;
}

export interface RunResult {
  runDir: string;
  summary: TrainSummary;
  tokenizer: Tokenizer;
  model: CausalLM;
}

/** Files of a corpus given as a directory (by extension) or a list. */
async function listFiles(dir: string | undefined, files: string[] | undefined, keep: (name: string) => boolean): Promise<string[]> {
  if (files) return files.map((f) => resolve(f));
  if (!dir) return [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new KdgpuError(`data: cannot read directory ${dir}: ${(e as Error).message}`);
  }
  return names.filter(keep).sort().map((n) => resolve(dir, n));
}

/** Training and evaluation files: BabyLM layout `<source>.train` / `<source>.dev`. */
export async function corpusFiles(c: TrainConfig): Promise<{ train: string[]; eval: string[] }> {
  const exts = c.data.extensions.filter((e) => e !== '.dev');
  const trainFiles = await listFiles(c.data.dir, c.data.files, (n) => exts.some((e) => n.endsWith(e)));
  let evalFiles = await listFiles(c.data.evalDir, c.data.evalFiles, (n) => exts.some((e) => n.endsWith(e)) || n.endsWith('.dev'));
  if (evalFiles.length === 0 && c.data.dir && c.data.extensions.includes('.dev')) {
    evalFiles = await listFiles(c.data.dir, undefined, (n) => n.endsWith('.dev'));
  }
  if (trainFiles.length === 0) throw new KdgpuError(`data: no training files found (dir ${c.data.dir ?? '-'}, extensions ${c.data.extensions.join(', ')})`);
  return { train: trainFiles, eval: evalFiles };
}

/** The cleaner configured for a file (by its source name), or identity. */
function cleanerOf(c: TrainConfig, file: string): { name: string; fn: (t: string) => string } {
  const src = sourceOf(file);
  const name = c.data.clean[src];
  if (!name) return { name: 'none', fn: (t) => t };
  const f = cleanerFor(name);
  return { name, fn: (t) => f(t, { dropParagraphBreaks: c.data.dropParagraphBreaks }) };
}

/** Tokenizes files (cleaned), with the on-disk cache, and concatenates them (Baby Llama: no BOS/EOS). */
export async function tokenizeFiles(c: TrainConfig, files: string[], tok: Tokenizer, cacheDir: string): Promise<TokenArray> {
  const parts: ArrayLike<number>[] = [];
  const tokJson = tok.serialize(false);
  for (const f of files) {
    const cl = cleanerOf(c, f);
    const r = await cachedTokenize(f, `${tokJson}\n${cl.name}\n${c.data.dropParagraphBreaks}`, (text) => tok.encode(cl.fn(text), { addSpecialTokens: false }).ids, cacheDir, { vocabSize: tok.vocabSize });
    parts.push(r.ids);
  }
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = tok.vocabSize <= 65536 ? new Uint16Array(n) : new Uint32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p as ArrayLike<number>, o);
    o += p.length;
  }
  return out;
}

/** The tokenizer of a run: loaded from `tokenizer.path`, or trained on the (cleaned) training files. */
export async function resolveTokenizer(c: TrainConfig, runDir: string, trainFiles: string[], quiet = false): Promise<Tokenizer> {
  if (c.tokenizer.path) return loadTokenizer(c.tokenizer.path);
  const saved = join(runDir, 'tokenizer.json');
  try {
    return loadTokenizer(saved);
  } catch {
    // not trained yet
  }
  const t = c.tokenizer.train!;
  const cleanDir = join(runDir, 'cache', 'clean');
  await mkdir(cleanDir, { recursive: true });
  const cleaned: string[] = [];
  for (const f of trainFiles) {
    const cl = cleanerOf(c, f);
    if (cl.name === 'none') {
      cleaned.push(f);
      continue;
    }
    const out = join(cleanDir, basename(f));
    const { writeFileAtomic } = await import('./atomic-node.ts');
    await writeFileAtomic(out, cl.fn(await readFile(f, 'utf8')));
    cleaned.push(out);
  }
  const opts = babyLlamaTokenizerOptions({ vocabSize: t.vocabSize, minFrequency: t.minFrequency, showProgress: !quiet });
  const tok = await trainBpeFromFiles(cleaned, { ...opts, specialTokens: t.specialTokens });
  await mkdir(runDir, { recursive: true });
  saveTokenizer(tok, saved);
  return tok;
}

/** Builds the student from `model.preset` / `model.config`, with the tokenizer's vocabulary size. */
export function buildModel(c: TrainConfig, vocabSize: number, special: { bos?: number; eos?: number; pad?: number } = {}): CausalLM {
  const presets = models as unknown as Record<string, (f?: Record<string, unknown>) => ModelConfig>;
  let config: ModelConfig;
  // The tokenizer's special tokens (not the architecture's defaults, e.g. GPT-2's 50256, which
  // would be outside a small vocabulary); the config may still override them.
  const ids: Record<string, number> = {};
  if (special.bos !== undefined) ids.bos_token_id = special.bos;
  if (special.eos !== undefined) ids.eos_token_id = special.eos;
  if (special.pad !== undefined) ids.pad_token_id = special.pad;
  const fields = { vocab_size: vocabSize, ...ids, ...(c.model.config ?? {}) };
  if (c.model.preset) {
    const p = presets[c.model.preset];
    if (typeof p !== 'function' || !/^(babyLlama58M|llama360M|gpt2_705M|distilLlama80M|tinyLlama|tinyGPT2|demoLlama)$/.test(c.model.preset)) {
      throw new KdgpuError(`model.preset: unknown preset "${c.model.preset}"; use one of babyLlama58M, llama360M, gpt2_705M, distilLlama80M, tinyLlama, tinyGPT2, demoLlama`);
    }
    config = p(fields);
  } else {
    config = c.model.type === 'llama' ? models.llamaConfig(fields) : models.gpt2Config(fields);
  }
  if (config.model_type !== c.model.type) throw new KdgpuError(`model.type is "${c.model.type}" but preset ${c.model.preset} builds a ${config.model_type}`);
  return createModel(config, { seed: c.run.seed });
}

/** Losses that compare distributions over different vocabularies (cross-tokenizer distillation). */
export const CROSS_TOKENIZER_LOSSES = ['uld'] as const;

/** Whether two tokenizers map text to the same ids (same vocabulary, merges and added tokens). */
export function sameTokenizer(a: Tokenizer, b: Tokenizer): boolean {
  const key = (t: Tokenizer) => {
    const j = JSON.parse(t.serialize(false));
    return JSON.stringify([j.model?.vocab, j.model?.merges, j.added_tokens?.map((x: { id: number; content: string }) => [x.id, x.content]), j.normalizer, j.pre_tokenizer]);
  };
  return key(a) === key(b);
}

/** The teacher's tokenizer: `teachers[i].tokenizer`, or a tokenizer.json beside or above the model directory. */
function teacherTokenizer(t: TrainConfig['teachers'][number]): Tokenizer | null {
  const candidates = t.tokenizer ? [t.tokenizer] : [join(t.path, 'tokenizer.json'), join(dirname(t.path), 'tokenizer.json')];
  for (const c of candidates) {
    if (existsSync(c)) return loadTokenizer(c);
  }
  if (t.tokenizer) throw new KdgpuError(`teachers: tokenizer ${t.tokenizer} not found`);
  return null;
}

/**
 * The distillation objective from the config: teachers loaded and their vocabularies checked
 * against the student's. Same tokenizer and vocabulary: plain. Same tokenizer but padded rows
 * (e.g. 152064 vs 151936 for one tokenizer): the KD loss runs over the shared ids and the dropped
 * rows are reported. Different tokenizers: refused for a same-vocabulary loss (before any step);
 * with a cross-tokenizer loss (`uld`), the teacher reads the same text tokenized its own way.
 */
export async function buildDistill(c: TrainConfig, student: CausalLM, trainTokens: TokenArray, studentTok?: Tokenizer, say: (s: string) => void = () => {}): Promise<{ part: DistillPart; teachers: CausalLM[] } | null> {
  if (!c.distill) return null;
  const d = c.distill;
  const cross = (CROSS_TOKENIZER_LOSSES as readonly string[]).includes(d.loss);
  if (!cross && !lossNames().includes(d.loss as LossName)) {
    throw new KdgpuError(`distill.loss: unknown loss "${d.loss}"; known: ${[...lossNames(), ...CROSS_TOKENIZER_LOSSES].join(', ')}`);
  }
  // The loss gives per-position values; the step reduces them over the optimizer window (step.ts).
  const { reduction: asked, ...lossOptions } = d.lossOptions as Record<string, unknown>;
  const reduction = (asked ?? 'mean') as KdReduction; // the schema allows only KD_REDUCTIONS
  const perPosition = { ...lossOptions, reduction: 'none' };
  if (cross) {
    if (c.teachers.length !== 1 || c.offlineLogits) throw new KdgpuError('distill.loss "uld": cross-tokenizer distillation takes exactly one teacher (no offline logits)');
    if (!studentTok) throw new KdgpuError('distill.loss "uld": the student tokenizer is needed');
    const tt = teacherTokenizer(c.teachers[0]);
    if (!tt) throw new KdgpuError(`distill.loss "uld": the teacher's tokenizer is needed to tokenize the text its way; set teachers.0.tokenizer (none found beside ${c.teachers[0].path})`);
    const m = await loadModel(c.teachers[0].path);
    const maxPos = m.config.model_type === 'llama' ? m.config.max_position_embeddings : m.config.n_positions;
    const opts = { temperature: d.temperature, ...perPosition } as Record<string, unknown>;
    const loss = (s: Tensor, t: TeacherInput, labels: Tensor | null) => universalLogitDistillation(s, t as Tensor, labels, opts);
    // The same text for the teacher: each student row decoded, then encoded with the teacher's
    // tokenizer; rows truncated to the shortest (positions are compared up to the shorter side).
    const retokenize = (batch: Batch) => {
      const [B, T] = batch.shape;
      const rows = Array.from({ length: B }, (_, r) => tt.encode(studentTok.decode(Array.from(batch.ids.subarray(r * T, (r + 1) * T))), { addSpecialTokens: false }).ids);
      const n = Math.max(1, Math.min(maxPos, ...rows.map((x) => x.length)));
      const ids = new Int32Array(B * n);
      rows.forEach((x, r) => ids.set(x.slice(0, n), r * n));
      return { ids, shape: [B, n] as [number, number] };
    };
    say(`distillation across tokenizers (ULD): teacher vocabulary ${m.config.vocab_size}, student ${student.config.vocab_size}`);
    return { part: { loss, teachers: { kind: 'models', models: [m], retokenize }, reduction }, teachers: [m] };
  }
  const keys = new Set(lossOptionKeys(d.loss as LossName));
  const extra: Record<string, unknown> = {};
  if (keys.has('temperature')) extra.temperature = d.temperature;
  if (keys.has('ensemble') && c.teachers.length > 1) {
    extra.ensemble = d.ensemble;
    extra.teacherWeights = c.teachers.map((t) => t.weight);
  }
  if (keys.has('chunks')) extra.chunks = d.chunks;
  if (c.offlineLogits) {
    // The stored logits are already truncated (and ensembled): the loss must not truncate again.
    const { topK: _k, topP: _p, ...rest } = { ...extra, ...perPosition } as Record<string, unknown>;
    delete rest.ensemble;
    delete rest.teacherWeights;
    const src = await offlineTeacher(c.offlineLogits.path, student.config.vocab_size, trainTokens);
    return { part: { loss: createLoss(d.loss, rest), teachers: { kind: 'offline', logits: src }, reduction }, teachers: [] };
  }
  const loss = createLoss(d.loss, { ...extra, ...perPosition });
  const teachers: CausalLM[] = [];
  let shared: number | undefined;
  const Vs = student.config.vocab_size;
  for (const t of c.teachers) {
    const tt = teacherTokenizer(t);
    const same = tt && studentTok ? sameTokenizer(tt, studentTok) : null;
    const m = await loadModel(t.path);
    const Vt = m.config.vocab_size;
    const describe = `teacher ${t.path} (vocabulary ${Vt}${tt ? `, tokenizer of ${tt.vocabSize} tokens` : ', tokenizer unknown'}) and the student (vocabulary ${Vs}${studentTok ? `, tokenizer of ${studentTok.vocabSize} tokens` : ''})`;
    if (same === false) {
      m.dispose();
      throw new KdgpuError(
        `${describe} use different tokenizers: "${d.loss}" compares the two distributions token id by token id, which would train on wrong log-probabilities. ` +
          'Use a cross-tokenizer loss (distill.loss = "uld", Universal Logit Distillation), or distil from a teacher trained with the student\'s tokenizer.',
      );
    }
    if (Vt !== Vs) {
      if (same === null) {
        m.dispose();
        throw new KdgpuError(`${describe} differ in vocabulary size and the tokenizers cannot be compared: set teachers[].tokenizer to the teacher's tokenizer.json (if it is the student's, the padded rows are dropped), or use distill.loss = "uld"`);
      }
      const n = Math.min(Vt, Vs);
      if (shared !== undefined && shared !== n) throw new KdgpuError('teachers: padded vocabularies of different sizes in one ensemble are not supported');
      shared = n;
      say(`same tokenizer, padded vocabulary: distilling over the ${n} shared ids, dropping ${Math.abs(Vt - Vs)} ${Vt > Vs ? "teacher" : "student"} rows`);
    }
    teachers.push(m);
  }
  return { part: { loss, teachers: { kind: 'models', models: teachers }, reduction, sharedVocab: shared }, teachers };
}

/**
 * When the GPU device was lost (or a WebGPU error surfaced) during training, an error that says so
 * and names the checkpoint `--resume` continues from; other errors are returned unchanged.
 */
function gpuFailure(e: unknown, step: number, lastGood: { dir: string; step: number } | null): unknown {
  const msg = e instanceof Error ? e.message : String(e);
  let health = '';
  try {
    checkDeviceHealth();
  } catch (h) {
    health = (h as Error).message;
  }
  if (!/GPU device was lost|WebGPU error|device (is |was )?(lost|destroyed)/i.test(`${msg}\n${health}`)) return e;
  const where = lastGood
    ? `The last good checkpoint is ${lastGood.dir} (step ${lastGood.step}): run the same command with --resume to continue from it.`
    : 'No checkpoint was written yet: run the same command again to start over.';
  return new KdgpuError(`training stopped after step ${step}: ${health || msg}\n${where}`, { cause: e });
}

/** Runs training (plain LM, or distillation when `distill` is set) as configured. */
export async function runTraining(c: TrainConfig, opts: RunOptions = {}): Promise<RunResult> {
  await init();
  const runDir = resolve(c.run.outDir, c.run.name);
  const ckptDir = join(runDir, 'checkpoints');
  await mkdir(ckptDir, { recursive: true });
  await writeJsonAtomic(join(runDir, 'config.resolved.json'), c);
  const say = (s: string) => {
    if (!opts.quiet) console.log(s);
  };
  say(`kdgpu: run ${c.run.name} in ${runDir} on ${adapterName()}`);
  // The fastest matmul kernel for this adapter: timed on the first run on a machine, then read
  // from the user's cache folder. Results are the same bits whichever kernel runs.
  await tuneMatmul({ store: fileTuneStore(), log: say });
  const files = await corpusFiles(c);
  const tok = await resolveTokenizer(c, runDir, files.train, opts.quiet);
  const cacheDir = c.data.cacheDir ?? join(runDir, 'cache', 'tokens');
  const trainTokens = await tokenizeFiles(c, files.train, tok, cacheDir);
  const evalTokens = files.eval.length ? await tokenizeFiles(c, files.eval, tok, cacheDir) : null;
  say(`data: ${trainTokens.length} training tokens from ${files.train.length} files, ${evalTokens?.length ?? 0} validation tokens; vocabulary ${tok.vocabSize}`);

  let model: CausalLM;
  let resume: Parameters<typeof train>[0]['resume'];
  const latest = opts.resume ? await findCheckpoint(ckptDir, 'latest') : null;
  if (latest) {
    const ck = await loadCheckpoint(latest);
    model = ck.model;
    resume = { state: ck.meta.state, optimizer: ck.optimizer };
    say(`resuming from ${latest} (step ${ck.meta.state.step})`);
  } else {
    model = buildModel(c, tok.vocabSize, { bos: tok.tokenToId('<s>'), eos: tok.tokenToId('</s>'), pad: tok.tokenToId('<pad>') });
  }
  say(`model: ${model.config.model_type}, ${model.numParameters().toLocaleString('en-US')} parameters`);
  const distill = await buildDistill(c, model, trainTokens, tok, say);
  const metrics = openMetricsFile(join(runDir, 'metrics.jsonl'), { truncate: !latest });
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  const { plannedSteps } = await import('./trainer.ts');
  const progress = opts.quiet ? undefined : consoleProgress({ total: plannedSteps(c, trainTokens.length), label: c.run.name });
  // Where --resume would continue from, for the error when the GPU goes away mid-run.
  let lastGood = latest && resume ? { dir: latest, step: resume.state.step } : null;
  let stepNow = resume?.state.step ?? 0;
  let summary: TrainSummary;
  try {
    summary = await train({
      model,
      trainTokens,
      evalTokens,
      config: c,
      distill: distill?.part ?? null,
      metrics,
      progress,
      resume,
      shouldStop: () => interrupted,
      onStep: async (step) => {
        stepNow = step;
        await opts.onStep?.(step);
      },
      checkpoint: async (reason, state, opt) => {
        const pointers = reason === 'best' ? ['best'] : ['latest'];
        const dir = await saveCheckpoint(ckptDir, model, opt, state, c, pointers);
        if (pointers.includes('latest')) lastGood = { dir, step: state.step };
      },
    });
  } catch (e) {
    throw gpuFailure(e, stepNow, lastGood);
  } finally {
    process.off('SIGINT', onSigint);
    await metrics.close();
    for (const t of distill?.teachers ?? []) t.dispose();
  }
  if (!summary.interrupted) await saveModel(model, join(runDir, 'final'));
  await saveTokenizer(tok, join(runDir, 'tokenizer.json'));
  say(summary.interrupted ? `interrupted at step ${summary.steps}; resume with --resume` : `done: ${summary.steps} steps in ${summary.seconds.toFixed(1)} s, best validation loss ${summary.bestEval?.toFixed(4) ?? 'n/a'}`);
  return { runDir, summary, tokenizer: tok, model };
}
