/**
 * Shared pieces of the fault tests: the `kdgpu` CLI spawned under the runtime running the test
 * (Node: bin/kdgpu.mjs through tsx; Deno: `deno run` of kdgpu-deno.ts, the same `main`), a tiny
 * training config on the fixture corpus, and a check that every checkpoint on disk loads.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init } from '@kdgpu/tensor';
import { findCheckpoint, loadCheckpoint } from '@kdgpu/train/node';

export const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';
export const root = fileURLToPath(new URL('../..', import.meta.url));
export const corpus = join(root, 'packages/train/test/fixtures/corpus');
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };

/** The command line running `kdgpu ARGS` under this test's runtime (the runtime binary itself, so a signal reaches it). */
export function kdgpuCommand(args: string[]): [string, string[]] {
  return isDeno
    ? [process.execPath, ['run', '-A', '--no-check', '--node-modules-dir=manual', join(root, 'test/faults/kdgpu-deno.ts'), ...args]]
    : [process.execPath, [join(root, 'packages/train/bin/kdgpu.mjs'), ...args]];
}

/** Runs `kdgpu ARGS` to the end. */
export function kdgpu(args: string[]) {
  const [cmd, argv] = kdgpuCommand(args);
  return spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', env, timeout: 300_000 });
}

/** Starts `kdgpu ARGS`; `exited` resolves with its exit code and signal. */
export function startKdgpu(args: string[]): { child: ChildProcess; exited: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> } {
  const [cmd, argv] = kdgpuCommand(args);
  const child = spawn(cmd, argv, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, exited };
}

/** Writes a tiny training config (tiny Llama, fixture corpus, blocks of 32, batches of 8) and returns its path. */
export function tinyConfig(work: string, name: string, train: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const c = {
    run: { name, outDir: work, seed: 11 },
    data: { dir: corpus, blockSize: 32, batchSize: 8, maxEvalBlocks: 16 },
    tokenizer: { train: { vocabSize: 300, minFrequency: 2, specialTokens: ['<pad>', '<s>', '</s>'] } },
    model: { type: 'llama', preset: 'tinyLlama', config: { max_position_embeddings: 64 } },
    optimizer: { lr: 5e-3 },
    schedule: { type: 'cosine', warmupSteps: 2 },
    train: { logEvery: 1, evalEvery: 0, ...train },
    ...extra,
  };
  const path = join(work, `${name}.json`);
  writeFileSync(path, JSON.stringify(c));
  return path;
}

/** The step `checkpoints/latest.json` names, or -1. */
export function latestStep(ckptDir: string): number {
  try {
    return JSON.parse(readFileSync(join(ckptDir, 'latest.json'), 'utf8')).step as number;
  } catch {
    return -1;
  }
}

/**
 * Asserts that every `step-*` directory under `ckptDir` loads (checksums, sizes, weights, moments)
 * and that `latest.json` / `best.json`, where present, name one of them. Returns the steps found.
 */
export async function assertCheckpointsReadable(ckptDir: string, context = ''): Promise<number[]> {
  if (!existsSync(ckptDir)) return [];
  await init();
  const steps: number[] = [];
  for (const name of readdirSync(ckptDir).filter((n) => /^step-\d+$/.test(n)).sort()) {
    let ck;
    try {
      ck = await loadCheckpoint(join(ckptDir, name));
    } catch (e) {
      assert.fail(`${context}: checkpoint ${name} does not load: ${(e as Error).message}`);
    }
    assert.equal(ck.meta.state.step, Number(name.slice(5)), `${context}: ${name} holds its own step`);
    ck.model.dispose();
    steps.push(ck.meta.state.step);
  }
  for (const pointer of ['latest', 'best']) {
    if (!existsSync(join(ckptDir, `${pointer}.json`))) continue;
    const dir = await findCheckpoint(ckptDir, pointer);
    assert.ok(dir && existsSync(dir), `${context}: ${pointer}.json names ${dir}, which exists`);
  }
  return steps;
}

/** A seeded stream of floats in [0, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
