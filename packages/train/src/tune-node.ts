/**
 * The matmul autotuner's choice per adapter, kept in a JSON file in the user's cache folder so
 * that only the first run on a machine pays for timing the kernels (a few seconds on lavapipe).
 * @module
 */

import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TuneStore } from '@kdgpu/tensor';
import { writeJsonAtomic } from './atomic-node.ts';

/** `$KDGPU_CACHE_DIR`, else `$XDG_CACHE_HOME/kdgpu`, else `~/.cache/kdgpu`. */
export function kdgpuCacheDir(): string {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
  if (env.KDGPU_CACHE_DIR) return env.KDGPU_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kdgpu');
}

/**
 * A `TuneStore` backed by one JSON object `{ key: choice }` at `path` (default
 * `<kdgpuCacheDir()>/tune.json`). A missing or unreadable file reads as empty; a failed write is
 * reported through `warn` and otherwise ignored, since the choice only affects speed.
 */
export function fileTuneStore(path: string = join(kdgpuCacheDir(), 'tune.json'), warn: (s: string) => void = console.warn): TuneStore {
  const load = async (): Promise<Record<string, string>> => {
    try {
      const v: unknown = JSON.parse(await readFile(path, 'utf8'));
      return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : {};
    } catch {
      return {};
    }
  };
  return {
    async read(key) {
      const v = (await load())[key];
      return typeof v === 'string' ? v : null;
    },
    async write(key, value) {
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeJsonAtomic(path, { ...(await load()), [key]: value });
      } catch (e) {
        warn(`kdgpu: could not save the matmul tuning to ${path} (${(e as Error).message}); the next run will tune again`);
      }
    },
  };
}
