/**
 * A run's folder, guarded (Node and Deno): a folder that already holds a run is never overwritten
 * by accident (a new run refuses, naming `--resume`, another `run.name` and `--overwrite`, which
 * moves the old run aside and deletes nothing); `--resume` needs something to resume; and a resumed
 * config may not change the architecture, nor (without `--allow-schedule-change`) the schedule.
 * Everything here reads; only {@link moveRunAside} writes.
 * @module
 */

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { KdgpuError } from '@kdgpu/tensor';
import { configToJson, type ModelConfig } from '@kdgpu/models';
import { readModelConfig } from '@kdgpu/models/node';
import { findCheckpoint, STATE_FILE } from './checkpoint-node.ts';
import type { TrainConfig } from './config-schema.ts';

/** What a run folder holds of an earlier run, in words (null when there is nothing to lose). */
export function previousRun(runDir: string): string | null {
  const parts: string[] = [];
  const ckpt = join(runDir, 'checkpoints');
  const steps = existsSync(ckpt) ? readdirSync(ckpt).filter((n) => /^step-\d+$/.test(n)).sort() : [];
  if (steps.length > 0) parts.push(`checkpoints up to step ${Number(steps.at(-1)!.slice(5))}`);
  else if (existsSync(join(ckpt, 'latest.json'))) parts.push('checkpoints/latest.json');
  if (existsSync(join(runDir, 'final'))) parts.push('a final model (final/)');
  const metrics = join(runDir, 'metrics.jsonl');
  if (existsSync(metrics) && statSync(metrics).size > 0) {
    const lines = readFileSync(metrics, 'utf8').split('\n').filter((l) => l.trim() !== '').length;
    parts.push(`metrics.jsonl (${lines} records)`);
  }
  return parts.length ? parts.join(', ') : null;
}

/** The error for a run folder that holds a run, naming the three ways on. */
export function runExistsError(runDir: string, what: string, runName: string): KdgpuError {
  const rows: [string, string][] = [
    ['--resume', 'continue that run from its latest checkpoint'],
    [`run.name=${runName}-2`, 'start a new run beside it (any other name)'],
    ['--overwrite', `move the old run aside to ${basename(runDir)}.replaced-<date>/ and start over (nothing is deleted)`],
  ];
  const w = Math.max(...rows.map(([a]) => a.length)) + 3;
  return new KdgpuError(`the run folder ${runDir} already holds a run (${what}); nothing was changed. Choose one:\n${rows.map(([a, b]) => `  ${a.padEnd(w)}${b}`).join('\n')}`);
}

/** Renames `runDir` to `<runDir>.replaced-<UTC date-time>` (never deletes); returns the new path. */
export async function moveRunAside(runDir: string): Promise<string> {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  let target = `${runDir}.replaced-${stamp}`;
  for (let i = 2; existsSync(target); i++) target = `${runDir}.replaced-${stamp}-${i}`;
  await rename(runDir, target);
  return target;
}

/** What `--resume` continues from. */
export interface ResumePoint {
  /** The checkpoint folder (`.../checkpoints/step-NNNNNN`). */
  dir: string;
  /** Its run folder (two levels up), whose tokenizer.json the run used. */
  runDir: string;
  /** Its step and the resolved config it was written with (from trainer-state.json). */
  step: number;
  config: unknown;
}

function readState(dir: string): { step: number; config: unknown } {
  let meta: { state?: { step?: unknown }; config?: unknown };
  try {
    meta = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8'));
  } catch (e) {
    throw new KdgpuError(`--resume: ${join(dir, STATE_FILE)} is unreadable (${(e as Error).message}); give another checkpoint folder`);
  }
  const step = meta?.state?.step;
  if (typeof step !== 'number') throw new KdgpuError(`--resume: ${join(dir, STATE_FILE)} has no step; give another checkpoint folder`);
  return { step, config: meta.config };
}

/**
 * The checkpoint `--resume` continues from: `resume` true means the run folder's latest checkpoint
 * (an error when there is none); a string is a checkpoint folder, a run's checkpoints folder, or a
 * run folder (then its latest).
 */
export async function findResumePoint(runDir: string, resume: true | string): Promise<ResumePoint> {
  let dir: string | null;
  if (resume === true) {
    dir = await findCheckpoint(join(runDir, 'checkpoints'), 'latest');
    if (!dir) {
      throw new KdgpuError(
        `--resume: nothing to resume in ${runDir} (no checkpoints/latest.json). ` +
          'Run without --resume to start this run, or give a checkpoint: --resume <run>/checkpoints/step-NNNNNN',
      );
    }
  } else {
    const p = resolve(resume);
    if (!existsSync(p)) throw new KdgpuError(`--resume: ${p} does not exist; give a checkpoint folder (<run>/checkpoints/step-NNNNNN) or a run folder`);
    if (existsSync(join(p, STATE_FILE))) dir = p;
    else dir = (await findCheckpoint(p, 'latest')) ?? (await findCheckpoint(join(p, 'checkpoints'), 'latest'));
    if (!dir) throw new KdgpuError(`--resume: ${p} is not a checkpoint folder (no ${STATE_FILE}) and holds no checkpoints/latest.json`);
  }
  if (!existsSync(join(dir, STATE_FILE))) throw new KdgpuError(`--resume: ${dir} is not a complete checkpoint (no ${STATE_FILE}); give an earlier one`);
  const { step, config } = readState(dir);
  return { dir, runDir: dirname(dirname(dir)), step, config };
}

/** Whether `child` is `parent` or inside it. */
export function isInside(child: string, parent: string): boolean {
  const r = relative(resolve(parent), resolve(child));
  return r === '' || (!r.startsWith('..') && !r.startsWith('/'));
}

/** Fields of two model configs that differ, as `field: checkpoint X, config Y` lines. */
export function modelDifferences(saved: ModelConfig, wanted: ModelConfig): string[] {
  const a = configToJson(saved);
  const b = configToJson(wanted);
  const out: string[] = [];
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (k === 'torch_dtype' || k === 'transformers_version') continue;
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out.push(`${k}: the checkpoint has ${JSON.stringify(a[k])}, the config gives ${JSON.stringify(b[k])}`);
  }
  return out;
}

/** Refuses a resumed config whose model differs from the checkpoint's, listing the fields. */
export async function checkResumeArchitecture(point: ResumePoint, wanted: ModelConfig): Promise<void> {
  const saved = await readModelConfig(point.dir);
  const diff = modelDifferences(saved, wanted);
  if (diff.length > 0) {
    throw new KdgpuError(
      `--resume: the config builds a different model than the checkpoint ${point.dir} holds:\n  ${diff.join('\n  ')}\n` +
        'A checkpoint continues only with its own architecture: undo the change to model.preset / model.config, or start a new run (another run.name, or --overwrite).',
    );
  }
}

/** Config fields that shape the schedule of a run (its length and learning-rate and KD curves). */
const SCHEDULE_FIELDS = ['schedule', 'train.maxSteps', 'train.epochs', 'optimizer.lr', 'optimizer.gradAccumulation', 'data.batchSize', 'data.blockSize', 'distill.kdRatio'] as const;

function at(obj: unknown, path: string): unknown {
  let v = obj;
  for (const k of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/**
 * Refuses (unless `allow`) a resumed config that changes the schedule the checkpoint was trained
 * on: the learning rate and KD ratio would jump mid-run. Returns the differences (for a note when
 * allowed).
 */
export function checkResumeSchedule(point: ResumePoint, c: TrainConfig, allow: boolean): string[] {
  const diff: string[] = [];
  for (const f of SCHEDULE_FIELDS) {
    const a = at(point.config, f);
    const b = at(c, f);
    if (JSON.stringify(a) !== JSON.stringify(b)) diff.push(`${f}: the checkpoint's run had ${JSON.stringify(a) ?? 'nothing'}, the config has ${JSON.stringify(b) ?? 'nothing'}`);
  }
  if (diff.length > 0 && !allow) {
    throw new KdgpuError(
      `--resume: the config changes the schedule of the run being resumed (${point.dir}):\n  ${diff.join('\n  ')}\n` +
        'The learning rate and KD ratio would jump mid-run. Undo the change, or pass --allow-schedule-change to continue with the new schedule from this step.',
    );
  }
  return diff;
}

/**
 * Resuming from a checkpoint older than the run's latest abandons the later ones; they are moved
 * into `checkpoints/superseded-<date>/` (not deleted), so the resumed run writes its own. Returns
 * that folder, or null when there was nothing later.
 */
export async function supersedeLaterCheckpoints(checkpointDir: string, step: number): Promise<string | null> {
  const later = readdirSync(checkpointDir).filter((n) => /^step-\d+$/.test(n) && Number(n.slice(5)) > step);
  if (later.length === 0) return null;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  const target = join(checkpointDir, `superseded-${stamp}`);
  await mkdir(target, { recursive: true });
  for (const n of later) await rename(join(checkpointDir, n), join(target, n));
  return target;
}
