/**
 * Benchmark helpers: time GPU work with tinybench (each sample ends with `await sync()`, so it
 * measures finished GPU work, not just command recording), and run the same workloads in PyTorch
 * CPU in the same invocation for a side-by-side ratio.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { sync } from '@kdgpu/tensor';

/** Mean milliseconds per call of `fn` (GPU work synced). */
export async function timeGpu(name: string, fn: () => void, opts: { time?: number; iterations?: number } = {}): Promise<number> {
  const bench = new Bench({ time: opts.time ?? 400, iterations: opts.iterations ?? 3, warmupIterations: 1, warmupTime: 0 });
  bench.add(name, async () => {
    fn();
    await sync();
  });
  await bench.run();
  const r = bench.tasks[0].result as { latency?: { mean: number }; error?: unknown };
  if (r.error) throw r.error;
  return r.latency!.mean;
}

export const PYTHON = '/usr/bin/python3';

/** Whether PyTorch with OpenBLAS can serve as the baseline here. */
export function torchAvailable(): boolean {
  if (!existsSync(PYTHON)) return false;
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0;
}

/** Runs `script` (beside this file) with the JSON spec; returns name -> mean ms. */
export function runTorch(script: string, spec: unknown): Record<string, number> | null {
  if (!torchAvailable()) return null;
  const path = fileURLToPath(new URL(script, import.meta.url));
  const r = spawnSync(PYTHON, [path, JSON.stringify(spec)], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' }, maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    console.error(`PyTorch baseline failed:\n${r.stderr}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

export interface Row {
  name: string;
  ms: number;
  torchMs: number | null;
  /** e.g. [2 * n**3 / 1e9, 'GFLOP/s']: work per call and its unit per second. */
  work?: [number, string];
}

/** Prints a markdown table; ratio > 1 means kdgpu is faster than PyTorch CPU. */
export function printTable(title: string, rows: Row[]): void {
  console.log(`\n### ${title}\n`);
  console.log('| workload | kdgpu ms | kdgpu rate | PyTorch CPU ms | PyTorch rate | speed ratio (kdgpu/PyTorch) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const rate = (ms: number | null) => (ms === null || !r.work ? '' : `${(r.work[0] / (ms / 1000)).toFixed(2)} ${r.work[1]}`);
    const ratio = r.torchMs === null ? 'n/a' : (r.torchMs / r.ms).toFixed(3);
    console.log(`| ${r.name} | ${r.ms.toFixed(2)} | ${rate(r.ms)} | ${r.torchMs === null ? 'n/a' : r.torchMs.toFixed(2)} | ${rate(r.torchMs)} | ${ratio} |`);
  }
}
