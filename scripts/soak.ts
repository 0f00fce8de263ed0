/**
 * Soak test (opt-in: `npm run soak`, or `node --import tsx scripts/soak.ts --minutes 30`): trains a
 * tiny Llama on the fixture corpus for the given time, with evaluation and checkpoints (to a temp
 * directory, pruned to the last two), and samples GPU live bytes, process RSS and step time.
 * After a warm-up, it fits a least-squares line to each and fails (exit 1) when GPU memory or RSS
 * grow, or step time drifts, by more than the limits over the run. Prints a table and writes the
 * samples and fits as JSON (`--out FILE`).
 *
 * Flags: --minutes 30  --sample-seconds 10  --warmup-fraction 0.1  --max-gpu-growth-mb 1
 *        --max-rss-growth-mb 64  --max-step-drift 0.25 (fraction of the mean step time)  --out soak.json
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adapterName, init, memoryStats } from '@kdgpu/tensor';
import { createModel, tinyLlama } from '@kdgpu/models';
import { babyLlamaTokenizerOptions, trainBpe } from '@kdgpu/tokenizer';
import { train, trainingConfig } from '@kdgpu/train';
import { pruneCheckpoints, saveCheckpoint } from '@kdgpu/train/node';

function flag(name: string, fallback: number): number;
function flag(name: string, fallback: string | null): string | null;
function flag(name: string, fallback: number | string | null): number | string | null {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = argv[i + 1];
  if (v === undefined) throw new Error(`--${name} needs a value`);
  if (typeof fallback !== 'number') return v;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${v}`);
  return n;
}

const minutes = flag('minutes', 30);
const sampleSeconds = flag('sample-seconds', Math.min(10, Math.max(1, (minutes * 60) / 60)));
const warmupFraction = flag('warmup-fraction', 0.1);
const maxGpuGrowth = flag('max-gpu-growth-mb', 1) * 2 ** 20;
const maxRssGrowth = flag('max-rss-growth-mb', 64) * 2 ** 20;
const maxStepDrift = flag('max-step-drift', 0.25);
const out = flag('out', null);

interface Sample {
  /** Seconds since training started. */
  t: number;
  step: number;
  gpuBytes: number;
  rssBytes: number;
  /** Mean milliseconds per step since the previous sample. */
  stepMs: number;
}

/** Least-squares line y = a + b·t; b per second. */
function fit(ts: number[], ys: number[]): { intercept: number; slope: number; mean: number } {
  const n = ts.length;
  const mt = ts.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (ts[i]! - mt) * (ys[i]! - my);
    sxx += (ts[i]! - mt) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  return { intercept: my - slope * mt, slope, mean: my };
}

const root = fileURLToPath(new URL('..', import.meta.url));
const corpus = join(root, 'packages/train/test/fixtures/corpus');
const work = mkdtempSync(join(tmpdir(), 'kdgpu-soak-'));

await init();
const text = readFileSync(join(corpus, 'fortunes.train'), 'utf8');
const evalText = readFileSync(join(corpus, 'fortunes.dev'), 'utf8');
const tok = await trainBpe([text], babyLlamaTokenizerOptions({ vocabSize: 300, showProgress: false }));
const tokens = Uint16Array.from(tok.encode(text, { addSpecialTokens: false }).ids);
const evalTokens = Uint16Array.from(tok.encode(evalText, { addSpecialTokens: false }).ids);
const config = trainingConfig({
  run: { seed: 5 },
  data: { blockSize: 32, batchSize: 8, maxEvalBlocks: 16 },
  optimizer: { lr: 1e-3 },
  schedule: { type: 'constant' },
  train: { maxSteps: 1e9, logEvery: 10, evalEvery: 500, checkpointEvery: 250 },
});
const model = createModel(tinyLlama({ vocab_size: tok.vocabSize, max_position_embeddings: 64 }), { seed: 5 });
const ckptRoot = join(work, 'checkpoints');

console.log(`soak: ${minutes} min on ${adapterName()}, sampling every ${sampleSeconds} s; checkpoints in ${ckptRoot}`);
const samples: Sample[] = [];
const t0 = performance.now();
const deadline = t0 + minutes * 60_000;
let lastSampleT = t0;
let lastSampleStep = 0;
const summary = await train({
  model,
  data: { train: tokens, eval: evalTokens },
  tokenizer: tok,
  config,
  checkpoint: async (_reason, state, opt) => {
    await saveCheckpoint(ckptRoot, model, opt, state, config);
    // Keep the last two: the soak is about memory, not disk.
    await pruneCheckpoints(ckptRoot, 2);
  },
  onStep: (step) => {
    const now = performance.now();
    if (now - lastSampleT < sampleSeconds * 1000) return;
    const s: Sample = {
      t: (now - t0) / 1000,
      step,
      gpuBytes: memoryStats().liveBytes,
      rssBytes: process.memoryUsage().rss,
      stepMs: (now - lastSampleT) / Math.max(1, step - lastSampleStep),
    };
    samples.push(s);
    lastSampleT = now;
    lastSampleStep = step;
    if (samples.length % 6 === 1) console.log(`  t ${s.t.toFixed(0)} s  step ${step}  gpu ${(s.gpuBytes / 2 ** 20).toFixed(2)} MiB  rss ${(s.rssBytes / 2 ** 20).toFixed(1)} MiB  ${s.stepMs.toFixed(1)} ms/step`);
  },
  shouldStop: () => performance.now() >= deadline,
});
model.dispose();

const kept = samples.filter((s) => s.t >= warmupFraction * minutes * 60);
let failed = false;
const rows: string[] = [];
const report: Record<string, unknown> = { minutes, adapter: adapterName(), steps: summary.steps, samples };
if (kept.length < 3) {
  console.error(`soak: only ${kept.length} samples after the warm-up; run longer or sample more often (--sample-seconds)`);
  failed = true;
} else {
  const span = kept.at(-1)!.t - kept[0]!.t;
  const ts = kept.map((s) => s.t);
  const checks: Array<[string, (s: Sample) => number, (f: { slope: number; mean: number }) => number, number, string]> = [
    ['GPU live bytes', (s) => s.gpuBytes, (f) => f.slope * span, maxGpuGrowth, 'bytes'],
    ['process RSS', (s) => s.rssBytes, (f) => f.slope * span, maxRssGrowth, 'bytes'],
    ['step time', (s) => s.stepMs, (f) => (f.slope * span) / f.mean, maxStepDrift, 'fraction'],
  ];
  rows.push('| quantity | mean | slope per minute | change over the run | limit | ok |', '|---|---|---|---|---|---|');
  const fits: Record<string, unknown> = {};
  for (const [name, get, change, limit, unit] of checks) {
    const f = fit(ts, kept.map(get));
    const c = change(f);
    const ok = c <= limit;
    failed ||= !ok;
    fits[name] = { ...f, slopePerMinute: f.slope * 60, change: c, limit, ok };
    const fmt = (v: number) => (unit === 'bytes' ? `${(v / 2 ** 20).toFixed(3)} MiB` : `${(v * 100).toFixed(1)}%`);
    const mean = unit === 'bytes' ? fmt(f.mean) : `${f.mean.toFixed(2)} ms`;
    const slope = unit === 'bytes' ? `${((f.slope * 60) / 2 ** 20).toFixed(4)} MiB/min` : `${(f.slope * 60).toFixed(4)} ms/min`;
    rows.push(`| ${name} | ${mean} | ${slope} | ${fmt(c)} | ${fmt(limit)} | ${ok ? 'yes' : 'NO'} |`);
  }
  report.fits = fits;
  console.log(`\nsoak: ${summary.steps} steps in ${(summary.seconds / 60).toFixed(1)} min; ${kept.length} samples after the warm-up\n`);
  console.log(rows.join('\n'));
}
if (out) writeFileSync(out, JSON.stringify(report, null, 1));
rmSync(work, { recursive: true, force: true });
console.log(failed ? '\nsoak: FAILED (growth or drift above the limits)' : '\nsoak: ok, flat');
// Dawn keeps the event loop alive.
process.exit(failed ? 1 : 0);
