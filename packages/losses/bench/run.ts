/**
 * `npm run bench` (in packages/losses): every loss, forward + backward, on [N = B·T, V] logits
 * (default [1024, 16000], Baby Llama's vocabulary), whole and in 8 sequence chunks, with tokens/s
 * and peak GPU memory, beside the same losses in PyTorch CPU (2 threads) in the same run.
 *
 * Peak memory is `memoryStats().peakBytes` during one forward + backward minus the bytes live
 * before it (the student and teacher logits and the labels): the loss's intermediates plus the
 * [N, V] gradient it leaves in `student.grad`.
 *
 * nllSoft runs on teacher logits truncated beforehand, as the pre-training distillation paper stores
 * them: with --truncation, truncated to top-0.95-100 here (and timed on its own row); by default a
 * stand-in keeping ~100 random tokens per row, which costs the loss the same.
 *
 * Flags: --quick ([256, 4000]), --n=, --v=, --iters= (timed runs per cell, default 1),
 * --chunks= (default 8), --losses=a,b,..., --truncation
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { adapterName, init, memoryStats, rand, randn, resetPeakBytes, sync, type Tensor, tensor, tidy, where } from '@kdgpu/tensor';
import { LOSSES, lossInfo, type LossName, lossNames, teacherLogits } from '../src/index.ts';

const arg = (k: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1];
const quick = process.argv.includes('--quick');
const N = Number(arg('n') ?? (quick ? 256 : 1024));
const V = Number(arg('v') ?? (quick ? 4000 : 16000));
const ITERS = Number(arg('iters') ?? 1);
const CHUNKS = Number(arg('chunks') ?? 8);
// The same-vocabulary losses (ULD compares different vocabularies; its cost is measured in its own test).
const names = (arg('losses')?.split(',') ?? lossNames().filter((n) => !lossInfo(n).crossVocabulary)) as Exclude<LossName, 'uld'>[];
const WITH_TRUNCATION = process.argv.includes('--truncation');

await init();
console.log(`adapter: ${adapterName()}`);
console.log(`workload: [${N}, ${V}] f32 logits, forward + backward, ${ITERS} timed run(s) per cell, chunked = ${CHUNKS} chunks`);

const labelData = Int32Array.from({ length: N }, (_, i) => (i % 20 === 0 ? -100 : (i * 7919) % V));

// nllSoft is timed against teacher logits truncated beforehand (top-0.95-100, as the pre-training
// distillation paper stores them offline); the truncation itself is timed as its own row.
const TRUNCATION = { topP: 0.95, topK: 100 };
const PRETRUNCATED = { topP: 1, topK: 0 };

/** One forward + backward of `name`; returns [ms, peak bytes over what was live before]. */
async function step(name: LossName, s: Tensor, t: Tensor, labels: Tensor, chunks: number): Promise<[number, number]> {
  s.zeroGrad();
  await sync();
  resetPeakBytes();
  const before = memoryStats().liveBytes;
  const t0 = performance.now();
  const loss = LOSSES[name](s, t, labels, { chunks, ...(name === 'nllSoft' ? PRETRUNCATED : {}) } as never);
  loss.backward();
  await sync();
  const ms = performance.now() - t0;
  const peak = memoryStats().peakBytes - before;
  loss.dispose();
  return [ms, peak];
}

// Compile every pipeline on a small problem first, so the timed runs measure steady-state work.
{
  const s = randn([16, 64], { seed: 3 });
  s.requiresGrad = true;
  const t = randn([16, 64], { seed: 4 });
  const l = tensor(labelData.slice(0, 16).map((x) => (x < 0 ? x : x % 64)));
  for (const name of names) for (const c of [1, CHUNKS]) await step(name, s, t, l, c);
  if (WITH_TRUNCATION) tidy(() => void teacherLogits([t], TRUNCATION));
  for (const x of [s, t, l]) x.dispose();
}

const s = randn([N, V], { seed: 1 });
s.requiresGrad = true;
const t = tidy(() => randn([N, V], { seed: 2 }).mul(2));
const labels = tensor(labelData);
// The teacher nllSoft reads: truncated to top-0.95-100 (timed) with --truncation; by default a
// stand-in with the same shape of work, each row keeping ~100 random tokens (the bisection costs
// ~160 passes over [N, V], over a minute on a CPU adapter).
let truncMs: number | null = null;
await sync();
const tt0 = performance.now();
const truncated = WITH_TRUNCATION
  ? teacherLogits([t], TRUNCATION)
  : tidy(() => where(rand([N, V], { seed: 5 }).lt(100 / V), t, -Infinity));
await sync();
if (WITH_TRUNCATION) {
  truncMs = performance.now() - tt0;
  console.log(`teacher top-0.95-100 truncation: ${truncMs.toFixed(0)} ms`);
}

interface Cell { ms: number; peak: number }
const results: Array<{ name: LossName; whole: Cell; chunked: Cell }> = [];
for (const name of names) {
  const cell = async (chunks: number): Promise<Cell> => {
    let ms = 0;
    let peak = 0;
    for (let i = 0; i < ITERS; i++) {
      const [m, p] = await step(name, s, name === 'nllSoft' ? truncated : t, labels, chunks);
      ms += m / ITERS;
      peak = Math.max(peak, p);
    }
    return { ms, peak };
  };
  const whole = await cell(1);
  const chunked = await cell(CHUNKS);
  results.push({ name, whole, chunked });
  console.log(`${name}: whole ${whole.ms.toFixed(0)} ms, ${mib(whole.peak)} MiB; ${CHUNKS} chunks ${chunked.ms.toFixed(0)} ms, ${mib(chunked.peak)} MiB`);
}

function mib(b: number): string {
  return (b / 2 ** 20).toFixed(1);
}

// PyTorch CPU, same workload sizes and formulas (test/fixtures/make_losses_fixture.py in float32).
let torchMs: Record<string, number> | null = null;
const python = '/usr/bin/python3';
if (existsSync(python) && spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0) {
  const script = fileURLToPath(new URL('./torch_losses.py', import.meta.url));
  const r = spawnSync(python, [script, JSON.stringify({ n: N, v: V, iters: Math.max(2, ITERS), losses: names, truncation: WITH_TRUNCATION })], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '2' },
  });
  if (r.status === 0) torchMs = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  else console.error(`PyTorch baseline failed:\n${r.stderr}`);
} else {
  console.log('PyTorch (/usr/bin/python3 with torch) not found: no baseline column');
}

const tps = (ms: number) => Math.round(N / (ms / 1000)).toLocaleString('en-US');
console.log(`\n### [${N}, ${V}] forward + backward on ${adapterName()}\n`);
console.log(`| loss | whole ms | whole tok/s | whole peak MiB | ${CHUNKS} chunks ms | chunked tok/s | chunked peak MiB | memory cut | cut without the gradient | PyTorch CPU ms | PyTorch tok/s | kdgpu/PyTorch speed |`);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
const gradBytes = N * V * 4;
for (const { name, whole, chunked } of results) {
  const tm = torchMs?.[name];
  const torchCols = tm === undefined ? '| | |' : `| ${tm.toFixed(0)} | ${tps(tm)} | ${(tm / whole.ms).toFixed(3)}x |`;
  console.log(
    `| ${name} | ${whole.ms.toFixed(0)} | ${tps(whole.ms)} | ${mib(whole.peak)} | ${chunked.ms.toFixed(0)} | ${tps(chunked.ms)} | ${mib(chunked.peak)} | ${(whole.peak / chunked.peak).toFixed(2)}x | ${((whole.peak - gradBytes) / (chunked.peak - gradBytes)).toFixed(2)}x ${torchCols}`,
  );
}
const tt = torchMs?.['truncate'];
if (truncMs !== null) {
  const torchCols = tt === undefined ? '| | |' : `| ${tt.toFixed(0)} | ${tps(tt)} | ${(tt / truncMs).toFixed(3)}x |`;
  console.log(`| teacher top-0.95-100 truncation (no grad) | ${truncMs.toFixed(0)} | ${tps(truncMs)} | | | | | | ${torchCols}`);
}
console.log(
  `\n(peak = GPU bytes live at the peak of one forward + backward minus those live before it (the logits and labels); it includes the ` +
    `[${N}, ${V}] student gradient the step produces, ${mib(gradBytes)} MiB, which "cut without the gradient" leaves out of both sides)`,
);
