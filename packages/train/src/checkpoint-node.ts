/**
 * Training checkpoints on disk. A checkpoint is a directory `step-000123/` holding the model
 * (`config.json` + `model.safetensors`, loadable by transformers), `optimizer.safetensors` (AdamW
 * moments), and `trainer-state.json` (step, data position, counters, the resolved run config, and a
 * CRC-32 of every other file). It is written into a temporary sibling directory, each file fsynced,
 * then renamed into place, and only then do the pointer files `latest.json` / `best.json` (written
 * atomically) name it: a crash at any moment leaves the previous checkpoint intact and readable.
 */
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { nn } from '@kdgpu/tensor';
import { type CausalLM, encodeSafetensors, loadModelFrom, readHeader, readTensor, saveModelTo } from '@kdgpu/models';
import { dirFiles, dirSink, fileSource } from '@kdgpu/models/node';
import { crc32 } from './checksum.ts';
import { writeJsonAtomic } from './atomic-node.ts';
import { type OptimizerSnapshot, snapshotOptimizer, type TrainerState } from './trainer.ts';
import { RUNNING_SUMS, type RunningSums, zeroSums } from './step.ts';

export const STATE_FILE = 'trainer-state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';

/** What `trainer-state.json` holds. */
export interface CheckpointMeta {
  format: 'kdgpu-checkpoint';
  version: 1;
  state: TrainerState;
  /** The resolved training config of the run. */
  config: unknown;
  /** CRC-32 (hex) and size of every other file in the directory. */
  files: Record<string, { crc32: string; bytes: number }>;
  /** Names of the parameters, in optimizer order. */
  params: string[];
  /**
   * CRC-32 (hex) of this file's own text as written without this field (`JSON.stringify(meta,
   * null, 1)`), so a damaged trainer-state.json is detected too. Absent in older checkpoints.
   */
  selfCrc32?: string;
}

/** Files every checkpoint lists in `files` (and which loadCheckpoint reads). */
const REQUIRED_FILES = ['config.json', 'model.safetensors', OPTIMIZER_FILE];

const hex = (n: number) => n.toString(16).padStart(8, '0');
const stateText = (meta: Omit<CheckpointMeta, 'selfCrc32'>) => JSON.stringify(meta, null, 1);

/** A checkpoint read back: the model (weights loaded), the trainer state and the optimizer moments. */
export interface LoadedCheckpoint {
  dir: string;
  model: CausalLM;
  meta: CheckpointMeta;
  optimizer: OptimizerSnapshot;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } catch {
    // Directories cannot be fsynced on every platform; the rename is still atomic.
  } finally {
    await fh.close();
  }
}

/** Names a step's checkpoint directory. */
export function stepDirName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

/**
 * Writes a checkpoint of `model` + `opt` + `state` under `root/step-NNNNNN/` atomically, then points
 * `root/<pointer>.json` at it. Returns the directory. A failure (disk full, permission) leaves the
 * earlier checkpoints and pointers as they were and throws an error naming the path.
 */
export async function saveCheckpoint(root: string, model: CausalLM, opt: nn.AdamW, state: TrainerState, config: unknown, pointers: string[] = ['latest']): Promise<string> {
  const name = stepDirName(state.step);
  const final = join(root, name);
  let tmp: string | null = null;
  try {
    await mkdir(root, { recursive: true });
    await removeStaleTemps(root);
    // A checkpoint of this step is already in place when it was written earlier in this run (the
    // best checkpoint of a step that is also a periodic one), or when an earlier run was killed
    // after the rename but before the pointer update; then only the pointer is written. A folder
    // that is not a complete checkpoint (no state file) is set aside and written again.
    if (!(await isCompleteCheckpoint(final))) {
      // (Only a folder: something else in the way is not ours to move, and makes the write fail.)
      if (await stat(final).then((st) => st.isDirectory(), () => false)) await rename(final, join(root, `.${name}.incomplete-${Date.now()}`));
      tmp = join(root, `.${name}.tmp-${Date.now()}-${Math.floor(Math.random() * 1e9)}`);
      await mkdir(tmp, { recursive: true });
      await saveModelTo(model, dirSink(tmp));
      const params = [...model.parameters().keys()];
      const snap = await snapshotOptimizer(opt);
      const tensors = params.flatMap((p, i) => [
        { name: `m.${p}`, shape: [...model.parameters().get(p)!.shape], data: snap.m[i] },
        { name: `v.${p}`, shape: [...model.parameters().get(p)!.shape], data: snap.v[i] },
      ]);
      await writeFileSynced(join(tmp, OPTIMIZER_FILE), encodeSafetensors(tensors, 'F32', { format: 'pt', step: String(snap.step) }));
      const files: CheckpointMeta['files'] = {};
      for (const f of await readdir(tmp)) {
        const bytes = await readFile(join(tmp, f));
        files[f] = { crc32: crc32(bytes).toString(16).padStart(8, '0'), bytes: bytes.byteLength };
        await fsyncPath(join(tmp, f));
      }
      const meta: CheckpointMeta = { format: 'kdgpu-checkpoint', version: 1, state, config, files, params };
      meta.selfCrc32 = hex(crc32(new TextEncoder().encode(stateText(meta))));
      await writeFileSynced(join(tmp, STATE_FILE), new TextEncoder().encode(JSON.stringify(meta, null, 1)));
      await fsyncPath(tmp);
      await rename(tmp, final);
      tmp = null;
      await fsyncPath(root);
    }
    for (const p of pointers) await writeJsonAtomic(join(root, `${p}.json`), { dir: name, step: state.step, bestEval: state.bestEval });
    return final;
  } catch (e) {
    if (tmp) await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw new CheckpointError(`could not write checkpoint ${final}: ${(e as Error).message}; the previous checkpoint is unchanged`);
  }
}

/** Whether `dir` holds a checkpoint's state file listing every required file (cheap: no checksums). */
async function isCompleteCheckpoint(dir: string): Promise<boolean> {
  try {
    const meta = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as CheckpointMeta;
    for (const f of Object.keys(meta.files ?? {})) if (!(await stat(join(dir, f))).isFile()) return false;
    return REQUIRED_FILES.every((f) => Object.hasOwn(meta.files ?? {}, f));
  } catch {
    return false;
  }
}

/**
 * Keeps the newest `keep` checkpoints of `root` and removes the older ones, except those that
 * `latest.json` and `best.json` name (always kept). `keep` 0 keeps everything. Returns the
 * removed folders.
 */
export async function pruneCheckpoints(root: string, keep: number): Promise<string[]> {
  if (keep <= 0) return [];
  const steps = (await readdir(root).catch(() => [] as string[])).filter((n) => /^step-\d+$/.test(n)).sort();
  const pinned = new Set<string>();
  for (const p of ['latest', 'best']) {
    const dir = await findCheckpoint(root, p).catch(() => null);
    if (dir) pinned.add(dir.slice(root.length + 1));
  }
  const removed: string[] = [];
  for (const n of steps.slice(0, Math.max(0, steps.length - keep))) {
    if (pinned.has(n)) continue;
    await rm(join(root, n), { recursive: true, force: true });
    removed.push(join(root, n));
  }
  return removed;
}

/**
 * Removes temporary directories left by a run killed while checkpointing. Only one run writes a
 * checkpoint root at a time, so any `.step-*.tmp-*` present before a save is garbage.
 */
async function removeStaleTemps(root: string): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  for (const n of names) if (/^\.step-\d+\.(tmp|incomplete)-/.test(n)) await rm(join(root, n), { recursive: true, force: true });
}

async function writeFileSynced(path: string, bytes: Uint8Array): Promise<void> {
  const fh = await open(path, 'w');
  try {
    let done = 0;
    while (done < bytes.byteLength) done += (await fh.write(bytes, done, bytes.byteLength - done)).bytesWritten;
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Resolves `root/<pointer>.json` to a checkpoint directory, or null when there is none. */
export async function findCheckpoint(root: string, pointer = 'latest'): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(join(root, `${pointer}.json`), 'utf8');
  } catch {
    return null;
  }
  let p: { dir?: unknown } | null;
  try {
    p = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${join(root, pointer + '.json')}: unreadable (${(e as Error).message}); delete it to start over, or point it at a step-NNNNNN directory`);
  }
  if (p === null || typeof p !== 'object' || typeof p.dir !== 'string' || !/^step-\d+$/.test(p.dir)) throw new CheckpointError(`${join(root, pointer + '.json')}: no valid "dir" field`);
  return join(root, p.dir);
}

function isInt(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** Checks trainer-state.json's structure (its checksum is checked separately). */
function checkMeta(dir: string, meta: CheckpointMeta): void {
  const bad = (what: string): never => {
    throw new CheckpointError(`${join(dir, STATE_FILE)}: ${what}; pick an earlier checkpoint`);
  };
  if (meta === null || typeof meta !== 'object' || meta.format !== 'kdgpu-checkpoint' || meta.version !== 1) {
    throw new CheckpointError(`${dir}: not a kdgpu checkpoint (format ${String((meta as { format?: unknown } | null)?.format).slice(0, 40)})`);
  }
  const files = meta.files;
  if (files === null || typeof files !== 'object' || Array.isArray(files)) bad('no "files" table');
  for (const [f, want] of Object.entries(files)) {
    // Names of files in this directory only: never a path that leaves it.
    if (!/^[\w.-]{1,255}$/.test(f) || f === '.' || f === '..') bad(`"files" names ${JSON.stringify(f).slice(0, 80)}, not a file of the checkpoint`);
    if (want === null || typeof want !== 'object' || typeof want.crc32 !== 'string' || !isInt(want.bytes)) bad(`"files" entry for ${f} is not { crc32, bytes }`);
  }
  for (const f of REQUIRED_FILES) if (!Object.hasOwn(files, f)) bad(`"files" does not list ${f}`);
  if (!Array.isArray(meta.params) || !meta.params.every((p) => typeof p === 'string')) bad('"params" is not a list of names');
  const st = meta.state as Partial<TrainerState> | null;
  const ok =
    st !== null && typeof st === 'object' && isInt(st.step) && isInt(st.tokens) && isInt(st.lastLogStep) &&
    st.loader !== null && typeof st.loader === 'object' && isInt(st.loader.epoch) && isInt(st.loader.position) &&
    sumsOk(st.sums) && (st.bestEval === null || typeof st.bestEval === 'number');
  if (!ok) bad('"state" is malformed');
  st!.sums = sumsFrom(st!.sums as unknown);
}

/** Checkpoints before the running sums had names stored them as this 7-number list. */
const LEGACY_SUMS = ['loss', 'ce', 'kd', 'gradNorm', 'steps', 'consecutiveNonFinite', 'totalNonFinite'] as const;

function sumsOk(v: unknown): boolean {
  if (Array.isArray(v)) return v.length === LEGACY_SUMS.length && v.every((x) => typeof x === 'number');
  return v !== null && typeof v === 'object' && RUNNING_SUMS.every((k) => typeof (v as Record<string, unknown>)[k] === 'number');
}

/** The running sums of a checkpoint, by name (older checkpoints stored a list; their interval's skipped count was not kept). */
function sumsFrom(v: unknown): RunningSums {
  if (!Array.isArray(v)) return v as RunningSums;
  const out = zeroSums();
  LEGACY_SUMS.forEach((k, i) => (out[k] = v[i] as number));
  return out;
}

/** Reads and verifies a checkpoint directory (checksums, sizes, parameter list). */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${join(dir, STATE_FILE)}: unreadable (${(e as Error).message}); pick an earlier checkpoint`);
  }
  checkMeta(dir, meta);
  if (meta.selfCrc32 !== undefined) {
    const { selfCrc32, ...rest } = meta;
    const got = hex(crc32(new TextEncoder().encode(stateText(rest))));
    if (got !== selfCrc32) throw new CheckpointError(`${join(dir, STATE_FILE)}: checksum ${got} does not match ${String(selfCrc32).slice(0, 20)} (corrupted); pick an earlier checkpoint`);
  }
  for (const [f, want] of Object.entries(meta.files)) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(join(dir, f));
    } catch {
      throw new CheckpointError(`${join(dir, f)}: missing from the checkpoint`);
    }
    if (bytes.byteLength !== want.bytes) throw new CheckpointError(`${join(dir, f)}: ${bytes.byteLength} bytes, expected ${want.bytes} (truncated?)`);
    const got = crc32(bytes).toString(16).padStart(8, '0');
    if (got !== want.crc32) throw new CheckpointError(`${join(dir, f)}: checksum ${got} does not match ${want.crc32} (corrupted)`);
  }
  const model = await loadModelFrom(dirFiles(dir));
  let src: Awaited<ReturnType<typeof fileSource>> | null = null;
  try {
    src = await fileSource(join(dir, OPTIMIZER_FILE));
    const header = await readHeader(src);
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    const byName = header.tensors;
    const params = model.parameters();
    for (const p of meta.params) {
      const mi = byName.get(`m.${p}`);
      const vi = byName.get(`v.${p}`);
      if (!mi || !vi) throw new CheckpointError(`${join(dir, OPTIMIZER_FILE)}: no moments for parameter ${p}`);
      const want = params.get(p)?.shape;
      const same = (s: readonly number[]) => want !== undefined && s.length === want.length && s.every((d, i) => d === want[i]);
      if (!same(mi.shape) || !same(vi.shape)) throw new CheckpointError(`${join(dir, OPTIMIZER_FILE)}: moments of ${p} have shape [${mi.shape}], the parameter [${want ?? 'missing'}]`);
      m.push(await readTensor(src, mi));
      v.push(await readTensor(src, vi));
    }
    const step = Number(header.metadata.step ?? meta.state.step);
    if (!isInt(step)) throw new CheckpointError(`${join(dir, OPTIMIZER_FILE)}: optimizer step ${String(header.metadata.step).slice(0, 20)} is not a step count`);
    return { dir, model, meta, optimizer: { step, m, v } };
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    await src?.close?.();
  }
}
