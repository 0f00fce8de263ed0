/**
 * The matmul tuning cache: the first process on a machine times the kernels and saves its choice,
 * later ones read it; a corrupt cache file is ignored and rewritten; KDGPU_MATMUL pins a kernel.
 * Each case is its own process, since a process tunes at most once per device.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./helpers/tune-once.ts', import.meta.url));
// Under Deno's test runner, spawn Node (the script imports through tsx like the CLI does).
const nodeBin = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined' ? 'node' : process.execPath;

function tuneOnce(cacheDir: string, extraEnv: Record<string, string> = {}): { choice: string; source: string; ms: Record<string, number> } {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), KDGPU_CACHE_DIR: cacheDir, ...extraEnv };
  if (!extraEnv.KDGPU_MATMUL) delete env.KDGPU_MATMUL;
  const r = spawnSync(nodeBin, ['--import', 'tsx', script], { encoding: 'utf8', env, timeout: 300_000 });
  assert.equal(r.status, 0, `tune-once failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

test('matmul tuning is timed once per machine, then read from the cache file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdgpu-tune-'));
  try {
    const first = tuneOnce(dir);
    assert.equal(first.source, 'timed');
    assert.ok(Object.keys(first.ms).length >= 2, 'every candidate was timed');
    const saved = JSON.parse(readFileSync(join(dir, 'tune.json'), 'utf8')) as Record<string, string>;
    assert.deepEqual(Object.values(saved), [first.choice]);

    const second = tuneOnce(dir);
    assert.deepEqual([second.source, second.choice], ['store', first.choice]);

    // A corrupt file is ignored (tuned again) and replaced by a valid one.
    writeFileSync(join(dir, 'tune.json'), '{ not json');
    const third = tuneOnce(dir);
    assert.equal(third.source, 'timed');
    assert.ok(JSON.parse(readFileSync(join(dir, 'tune.json'), 'utf8')));

    // A choice naming no current kernel (an older kernel set) is ignored too.
    writeFileSync(join(dir, 'tune.json'), JSON.stringify(Object.fromEntries(Object.keys(saved).map((k) => [k, 'no-such-kernel']))));
    assert.equal(tuneOnce(dir).source, 'timed');

    assert.deepEqual(tuneOnce(dir, { KDGPU_MATMUL: 'coalesced-16x8x4' }).source, 'pinned');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
