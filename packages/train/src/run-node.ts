/**
 * A whole training or distillation run from a validated config, on disk; the CLI's `train` and
 * `distill` are this function. In order:
 * 1. checks that write nothing: the data files, the run folder (a folder holding a run is never
 *    overwritten by accident; `--resume` needs a checkpoint), the teachers' folders and stored
 *    logits, the tokenizer (loaded, or trained in memory), every vocabulary (student, tokenizer,
 *    teachers), a resumed run's architecture and schedule, and the distillation objective;
 * 2. only then writes: the old run moved aside (`--overwrite`), `config.resolved.json`,
 *    `tokenizer.json`, the token cache;
 * 3. trains with checkpoints, metrics and signal handling, and saves the final model.
 * @module
 */

import { existsSync, writeSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setImmediate } from 'node:timers';
import { adapterName, checkDeviceHealth, init, KdgpuError, tuneMatmul } from '@kdgpu/tensor';
import { type CausalLM, createModel } from '@kdgpu/models';
import { saveModel } from '@kdgpu/models/node';
import type { Tokenizer } from '@kdgpu/tokenizer';
import { save as saveTokenizer } from '@kdgpu/tokenizer/node';
import { writeJsonAtomic } from './atomic-node.ts';
import { loadCheckpoint, pruneCheckpoints, saveCheckpoint } from './checkpoint-node.ts';
import type { TrainConfig } from './config-schema.ts';
import { corpusFiles, loadTokenizerFile, tokenizeFiles, trainRunTokenizer } from './data-node.ts';
import { openMetricsFile } from './metrics-node.ts';
import { studentModelConfig, type TokenizerFacts } from './model-config.ts';
import { buildObjective, sameTokenizer } from './objective.ts';
import { onPolicyMethod } from './on-policy/from-config.ts';
import { checkOfflineLogitsData } from './offline-logits-node.ts';
import { consoleProgress } from './progress-node.ts';
import { checkResumeArchitecture, checkResumeSchedule, findResumePoint, isInside, moveRunAside, previousRun, type ResumePoint, runExistsError, supersedeLaterCheckpoints } from './run-folder-node.ts';
import { handleStopSignals, type StopSignal } from './signals-node.ts';
import { inspectOfflineLogits, inspectTeachers, loadTeachers } from './teachers-node.ts';
import { fileTuneStore } from './tune-node.ts';
import { plannedSteps, train, type TrainSummary } from './trainer.ts';
import { checkVocabulary } from './vocab.ts';

export interface RunOptions {
  /**
   * Continue a run: `true` from the run folder's latest checkpoint (an error when there is none),
   * or a checkpoint folder (or a run folder, meaning its latest checkpoint).
   */
  resume?: boolean | string;
  /** When the run folder holds a run, move it aside (to `<name>.replaced-<date>`) instead of refusing. */
  overwrite?: boolean;
  /** Let a resumed run continue with a changed schedule (length, learning rate, KD ratio). */
  allowScheduleChange?: boolean;
  /** No progress output (default false). */
  quiet?: boolean;
  /** Handle SIGINT/SIGTERM: save a checkpoint and stop (default true). */
  handleSignals?: boolean;
  /** Called after every step (tests use it to kill or inspect a run). */
  onStep?: (step: number) => void | Promise<void>;
}

export interface RunResult {
  runDir: string;
  summary: TrainSummary;
  tokenizer: Tokenizer;
  model: CausalLM;
  /** The signal that stopped the run early, if one did. */
  stoppedBy: StopSignal | null;
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

function tokenizerFacts(tok: Tokenizer, name: string): TokenizerFacts {
  return { vocabSize: tok.vocabSize, bos: tok.tokenToId('<s>'), eos: tok.tokenToId('</s>'), pad: tok.tokenToId('<pad>'), name };
}

/**
 * The run's tokenizer, without writing anything: a resumed run's own `tokenizer.json` (the one its
 * model was trained with; `tokenizer.path`, when set, must be the same), else `tokenizer.path`,
 * else one trained in memory on the training files.
 */
async function runTokenizer(c: TrainConfig, point: ResumePoint | null, files: Awaited<ReturnType<typeof corpusFiles>>, quiet: boolean): Promise<{ tok: Tokenizer; name: string }> {
  const configured = c.tokenizer.path ? { tok: loadTokenizerFile(c.tokenizer.path, 'tokenizer.path'), name: `tokenizer ${resolve(c.tokenizer.path)}` } : null;
  const saved = point ? join(point.runDir, 'tokenizer.json') : null;
  if (saved && existsSync(saved)) {
    const tok = loadTokenizerFile(saved, '--resume');
    if (configured && !sameTokenizer(configured.tok, tok)) {
      throw new KdgpuError(`--resume: tokenizer.path ${configured.name.slice(10)} is not the tokenizer the resumed run was trained with (${saved}); undo the change to tokenizer.path`);
    }
    return { tok, name: `tokenizer ${saved}` };
  }
  if (configured) return configured;
  return { tok: await trainRunTokenizer(c, files.train, quiet), name: 'the tokenizer trained on data (tokenizer.train)' };
}

/** Runs training (plain LM, or distillation when `distill` is set) as configured. */
export async function runTraining(c: TrainConfig, opts: RunOptions = {}): Promise<RunResult> {
  await init();
  const runDir = resolve(c.run.outDir, c.run.name);
  const ckptDir = join(runDir, 'checkpoints');
  const say = (s: string) => {
    if (!opts.quiet) console.log(s);
  };
  const notes: string[] = [];
  const note = (s: string) => notes.push(s);

  // ---- 1. checks; nothing is written until all pass ------------------------------------------
  const files = await corpusFiles(c);
  const prev = previousRun(runDir);
  let point: ResumePoint | null = null;
  if (opts.resume) {
    point = await findResumePoint(runDir, opts.resume === true ? true : opts.resume);
    if (!isInside(point.dir, runDir) && prev) throw runExistsError(runDir, prev, c.run.name);
  } else if (prev && !opts.overwrite) {
    throw runExistsError(runDir, prev, c.run.name);
  }
  const teacherFacts = c.distill && !c.offlineLogits ? await inspectTeachers(c) : [];
  const offline = c.distill ? inspectOfflineLogits(c) : null;
  const { tok, name: tokName } = await runTokenizer(c, point, files, opts.quiet ?? false);
  const studentConfig = studentModelConfig(c.model, tokenizerFacts(tok, tokName), note);
  if (point) {
    await checkResumeArchitecture(point, studentConfig);
    const changed = checkResumeSchedule(point, c, opts.allowScheduleChange ?? false);
    if (changed.length) note(`--allow-schedule-change: continuing with ${changed.join('; ')}`);
  }
  // Teachers: their vocabularies against the student's tokenizer, before their weights are loaded.
  if (c.distill && !c.offlineLogits) {
    for (const t of teacherFacts) {
      if (t.tokenizer && !sameTokenizer(t.tokenizer, tok)) continue; // another tokenizer: buildObjective decides (ULD or refusal)
      checkVocabulary({ model: { vocabSize: t.config.vocab_size, name: `teacher ${t.path}` }, tokenizer: { vocabSize: tok.vocabSize, name: tokName }, fix: "Distil from a teacher trained with the student's tokenizer" });
    }
  }
  const teachers = c.distill ? await loadTeachers(c, teacherFacts) : null;
  let distill;
  try {
    distill = c.distill ? buildObjective({ distill: c.distill, student: { vocabSize: studentConfig.vocab_size, tokenizer: tok, name: `the student (${c.model.preset ?? c.model.type})` }, teachers: teachers!.specs, log: note }) : null;
  } catch (e) {
    teachers?.dispose();
    throw e;
  }
  if (offline && offline.vocabSize !== studentConfig.vocab_size) {
    teachers?.dispose();
    throw new KdgpuError(`offlineLogits.path: ${c.offlineLogits!.path} covers a vocabulary of ${offline.vocabSize}, the student has ${studentConfig.vocab_size}; compute them again with \`kdgpu logits\``);
  }

  // ---- 2. writes -------------------------------------------------------------------------------
  let model: CausalLM | null = null;
  let stop: ReturnType<typeof handleStopSignals> | null = null;
  let metrics: ReturnType<typeof openMetricsFile> | null = null;
  try {
    if (!point && prev && opts.overwrite) say(`moved the previous run aside to ${await moveRunAside(runDir)}`);
    await mkdir(ckptDir, { recursive: true });
    // A final model left half-written by a killed run (it is written beside, then renamed).
    for (const n of await readdir(runDir)) if (n.startsWith('.final.tmp-')) await rm(join(runDir, n), { recursive: true, force: true });
    if (point && isInside(point.dir, runDir)) {
      const moved = await supersedeLaterCheckpoints(ckptDir, point.step);
      if (moved) say(`resuming from step ${point.step}: the run's later checkpoints were moved to ${moved}`);
    }
    await writeJsonAtomic(join(runDir, 'config.resolved.json'), c);
    saveTokenizer(tok, join(runDir, 'tokenizer.json'));
    say(`kdgpu: run ${c.run.name} in ${runDir} on ${adapterName()}`);
    for (const n of notes) say(`note: ${n}`);
    // The fastest matmul kernel for this adapter: timed on the first run on a machine, then read
    // from the user's cache folder. Results are the same bits whichever kernel runs.
    await tuneMatmul({ store: fileTuneStore(), log: say });
    const cacheDir = c.data.cacheDir ?? join(runDir, 'cache', 'tokens');
    const trainTokens = await tokenizeFiles(c, files.train, tok, cacheDir);
    const evalTokens = files.eval.length ? await tokenizeFiles(c, files.eval, tok, cacheDir) : null;
    say(`data: ${trainTokens.length} training tokens from ${files.train.length} files, ${evalTokens?.length ?? 0} validation tokens; vocabulary ${tok.vocabSize}`);
    if (c.offlineLogits) checkOfflineLogitsData(c.offlineLogits.path, trainTokens, tok);

    let resume: Parameters<typeof train>[0]['resume'];
    if (point) {
      const ck = await loadCheckpoint(point.dir);
      model = ck.model;
      resume = { state: ck.meta.state, optimizer: ck.optimizer };
      say(`resuming from ${point.dir} (step ${ck.meta.state.step})`);
    } else {
      model = createModel(studentConfig, { seed: c.run.seed });
    }
    say(`model: ${model.config.model_type}, ${model.numParameters().toLocaleString('en-US')} parameters`);
    metrics = openMetricsFile(join(runDir, 'metrics.jsonl'), { truncate: !point });
    // Where --resume would continue from, for the error when the GPU goes away mid-run.
    let lastGood = point && resume ? { dir: point.dir, step: resume.state.step } : null;
    if (opts.handleSignals !== false) stop = handleStopSignals({ write: (s) => writeSync(2, s), checkpointDir: ckptDir, lastGood: () => lastGood });
    const progress = opts.quiet ? undefined : consoleProgress({ total: plannedSteps(c, trainTokens.length), label: c.run.name, everySteps: c.train.logEvery });
    let stepNow = resume?.state.step ?? 0;
    const m = model;
    let summary: TrainSummary;
    try {
      summary = await train({
        model: m,
        data: { train: trainTokens, eval: evalTokens },
        tokenizer: tok,
        config: c,
        distill,
        onPolicy: onPolicyMethod(c, m, distill ?? null),
        metrics,
        progress,
        resume,
        shouldStop: () => stop?.signal != null,
        beforeStep: async (step) => {
          stop?.setStep(step);
          // One turn of the event loop per step, so a signal is acknowledged within a step.
          await new Promise<void>((r) => setImmediate(r));
        },
        onStep: async (step) => {
          stepNow = step;
          await opts.onStep?.(step);
        },
        checkpoint: async (reason, state, opt) => {
          const pointers = reason === 'best' ? ['best'] : ['latest'];
          const dir = await saveCheckpoint(ckptDir, m, opt, state, c, pointers);
          if (pointers.includes('latest')) lastGood = { dir, step: state.step };
          if (reason !== 'best') await pruneCheckpoints(ckptDir, c.train.keepCheckpoints);
        },
      });
    } catch (e) {
      throw gpuFailure(e, stepNow, lastGood);
    }
    if (!summary.interrupted) {
      // The final model appears whole or not at all: written beside, then renamed into place.
      const tmp = join(runDir, `.final.tmp-${Date.now()}`);
      await saveModel(m, tmp);
      await rm(join(runDir, 'final'), { recursive: true, force: true });
      await rename(tmp, join(runDir, 'final'));
    }
    const stoppedBy = summary.interrupted ? (stop?.signal ?? null) : null;
    say(summary.interrupted
      ? `interrupted at step ${summary.steps + (resume?.state.step ?? 0)}; resume with --resume`
      : `done: ${summary.steps} steps in ${summary.seconds.toFixed(1)} s, best validation loss ${summary.bestEval?.toFixed(4) ?? 'n/a'}`);
    return { runDir, summary, tokenizer: tok, model: m, stoppedBy };
  } catch (e) {
    model?.dispose();
    throw e;
  } finally {
    stop?.dispose();
    await metrics?.close();
    teachers?.dispose();
  }
}
