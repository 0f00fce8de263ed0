/**
 * The matmul autotuner's records per adapter, kept in a JSON file in the user's cache folder so
 * that only the first run on a machine pays for timing every kernel (a few seconds on lavapipe);
 * later runs re-check the stored choice against the runner-up (see `tuneMatmul`).
 * @module
 */

import { mkdir, readFile } from 'node:fs/promises';
import { cpus, homedir, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import type { TuneRecord, TuneStore } from '@kdgpu/tensor';
import { writeJsonAtomic } from './atomic-node.ts';

/** `$KDGPU_CACHE_DIR`, else `$XDG_CACHE_HOME/kdgpu`, else `~/.cache/kdgpu`. */
export function kdgpuCacheDir(): string {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
  if (env.KDGPU_CACHE_DIR) return env.KDGPU_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kdgpu');
}

/** The tuning file: `<kdgpuCacheDir()>/tune.json`. */
export function tuneFilePath(): string {
  return join(kdgpuCacheDir(), 'tune.json');
}

/** The 1-minute load average per CPU core (0 where the OS does not report one, as on Windows). */
export function loadPerCore(): number {
  return loadavg()[0]! / Math.max(1, cpus().length);
}

/**
 * The records of a tuning file, `{ key: record }` (a record of an older kdgpu is a plain kernel
 * name). A missing or unreadable file reads as empty.
 */
export async function readTuneFile(path: string = tuneFilePath()): Promise<Record<string, TuneRecord | string>> {
  try {
    const v: unknown = JSON.parse(await readFile(path, 'utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, TuneRecord | string>) : {};
  } catch {
    return {};
  }
}

/**
 * A `TuneStore` backed by one JSON object `{ key: record }` at `path` (default
 * {@link tuneFilePath}), reporting the host's load per core. A missing or unreadable file reads
 * as empty; a failed write is reported through `warn` and otherwise ignored, since the choice only
 * affects speed.
 */
export function fileTuneStore(path: string = tuneFilePath(), warn: (s: string) => void = console.warn): TuneStore {
  return {
    where: path,
    load: loadPerCore,
    async read(key) {
      return (await readTuneFile(path))[key] ?? null;
    },
    async write(key, record) {
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeJsonAtomic(path, { ...(await readTuneFile(path)), [key]: record });
      } catch (e) {
        warn(`kdgpu: could not save the matmul tuning to ${path} (${(e as Error).message}); the next run will tune again`);
      }
    },
  };
}
