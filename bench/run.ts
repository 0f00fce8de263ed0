/**
 * `npm run bench`: the tensor runtime's workloads beside PyTorch CPU (2 threads, OpenBLAS) in the
 * same run. Ratios > 1 mean kdgpu is faster. Numbers depend on the adapter, printed first.
 */
import { adapterName, init, matmulVariant, randn, setMatmulVariant, textbookMatmul, tidy, tuneMatmul } from '@kdgpu/tensor';
import { printTable, type Row, runTorch, timeGpu } from './harness.ts';
import { blockParams, blockStep, mlpParams, mlpStep } from './workloads.ts';
import { kernelWorkloads } from './kernels.ts';
import { jaxjsBlock } from './jax-peer.ts';

await init();
console.log(`adapter: ${adapterName()}`);
const quick = process.argv.includes('--quick');
// `--block`: only the transformer block beside PyTorch and the jax-js peer (a short run).
const blockOnly = process.argv.includes('--block');
await tuneMatmul({ size: quick ? 256 : 512, log: (m) => console.log(m) });

interface W {
  kind: string;
  name: string;
  reps?: number;
  [k: string]: unknown;
}
const spec: W[] = [];
const gpu: Array<{ name: string; run: () => void; work: [number, string] }> = [];

for (const n of blockOnly ? [] : quick ? [256] : [256, 512, 1024]) {
  const a = randn([n, n], { seed: 1 });
  const b = randn([n, n], { seed: 2 });
  spec.push({ kind: 'matmul', name: `matmul ${n}^3`, a: [n, n], b: [n, n], reps: 5 });
  gpu.push({ name: `matmul ${n}^3`, run: () => tidy(() => void a.matmul(b)), work: [(2 * n ** 3) / 1e9, 'GFLOP/s'] });
}
if (!blockOnly) {
  const n = 512;
  const a = randn([n, n], { seed: 3 });
  const b = randn([n, n], { seed: 4 });
  spec.push({ kind: 'matmul', name: `matmul A^T@B ${n}^3`, a: [n, n], b: [n, n], ta: true, reps: 5 });
  gpu.push({ name: `matmul A^T@B ${n}^3`, run: () => tidy(() => void a.transpose().matmul(b)), work: [(2 * n ** 3) / 1e9, 'GFLOP/s'] });
  spec.push({ kind: 'matmul', name: `matmul A@B^T ${n}^3`, a: [n, n], b: [n, n], tb: true, reps: 5 });
  gpu.push({ name: `matmul A@B^T ${n}^3`, run: () => tidy(() => void a.matmul(b.transpose())), work: [(2 * n ** 3) / 1e9, 'GFLOP/s'] });
}
if (!blockOnly) {
  const [bt, m, k, n] = [32, 128, 64, 128];
  const a = randn([bt, m, k], { seed: 5 });
  const b = randn([bt, k, n], { seed: 6 });
  spec.push({ kind: 'matmul', name: `batched matmul ${bt}x${m}x${k}x${n}`, a: [bt, m, k], b: [bt, k, n], reps: 5 });
  gpu.push({ name: `batched matmul ${bt}x${m}x${k}x${n}`, run: () => tidy(() => void a.matmul(b)), work: [(2 * bt * m * k * n) / 1e9, 'GFLOP/s'] });
}
if (!blockOnly) {
  const n = 1 << 22;
  const a = randn([n], { seed: 7 });
  const b = randn([n], { seed: 8 });
  spec.push({ kind: 'add', name: `add ${n} f32`, n, reps: 20 });
  gpu.push({ name: `add ${n} f32`, run: () => tidy(() => void a.add(b)), work: [(3 * 4 * n) / 1e9, 'GB/s'] });
}
if (!blockOnly) {
  const [rows, cols] = [1024, 1024];
  const x = randn([rows, cols], { seed: 9 });
  spec.push({ kind: 'softmax', name: `softmax ${rows}x${cols}`, rows, cols, reps: 10 });
  gpu.push({ name: `softmax ${rows}x${cols}`, run: () => tidy(() => void x.softmax(-1)), work: [rows / 1e6, 'M rows/s'] });
}
if (!blockOnly) {
  const [n, i, h, o] = [64, 512, 1024, 512];
  const ps = mlpParams(i, h, o);
  const x = randn([n, i], { seed: 11 });
  const y = randn([n, o], { seed: 12 });
  spec.push({ kind: 'mlp', name: `MLP SGD step ${n}x${i}->${h}->${o}`, dims: [n, i, h, o], reps: 5 });
  gpu.push({ name: `MLP SGD step ${n}x${i}->${h}->${o}`, run: () => mlpStep(ps, x, y), work: [(3 * 2 * 2 * n * i * h) / 1e9, 'GFLOP/s'] });
}
if (!quick) {
  const [B, T, d, heads, ff] = [4, 128, 256, 4, 1024];
  const P = blockParams(d, ff);
  const x = randn([B, T, d], { seed: 13 });
  spec.push({ kind: 'block', name: `transformer block fwd+bwd B${B} T${T} d${d} h${heads} ff${ff}`, B, T, d, heads, ff, reps: 3 });
  gpu.push({ name: `transformer block fwd+bwd B${B} T${T} d${d} h${heads} ff${ff}`, run: () => blockStep(x, P, heads), work: [2.6, 'GFLOP/s'] });
}

const kernels = kernelWorkloads(quick).filter((k) => !blockOnly || k.name.startsWith('transformer block'));
for (const k of kernels) spec.push({ ...k.torch, name: k.name, reps: 3 } as W);
const torch = runTorch('./torch_baseline.py', spec);
if (!torch) console.log('(PyTorch not available: install python3-torch and libopenblas0-pthread for the baseline column)');
const rows: Row[] = [];
for (const g of gpu) {
  const ms = await timeGpu(g.name, g.run);
  rows.push({ name: g.name, ms, torchMs: torch?.[g.name] ?? null, work: g.work });
  console.error(`  ${g.name}: ${ms.toFixed(2)} ms`);
}
printTable(`@kdgpu/tensor on ${adapterName()}`, rows);

// The yardstick of the transformer-kernels issue: the 16x16 shared-memory textbook kernel on the
// same adapter, same shape, same run.
if (!blockOnly) {
  const n = quick ? 256 : 1024;
  const a = randn([n, n], { seed: 1 });
  const b = randn([n, n], { seed: 2 });
  const tuned = matmulVariant();
  setMatmulVariant(textbookMatmul());
  const ms = await timeGpu('textbook', () => tidy(() => void a.matmul(b)), { time: 0, iterations: 2 });
  setMatmulVariant(tuned);
  const mine = rows.find((r) => r.name === `matmul ${n}^3`)!.ms;
  const gf = (t: number) => ((2 * n ** 3) / 1e6 / t).toFixed(2);
  console.log(`\nmatmul ${n}^3: textbook 16x16 shared-memory kernel ${ms.toFixed(1)} ms (${gf(ms)} GFLOP/s); ${tuned.name} ${mine.toFixed(1)} ms (${gf(mine)} GFLOP/s) = ${(ms / mine).toFixed(1)}x the textbook kernel`);
  a.dispose();
  b.dispose();
}

console.log(`\n### Fused kernels vs composed ops vs PyTorch CPU on ${adapterName()}\n`);
console.log('| workload (forward+backward) | fused ms | composed ms | fused speedup | PyTorch CPU ms | fused vs PyTorch | fused rate |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const k of kernels) {
  const f = await timeGpu(k.name + ' fused', k.fused);
  const c = await timeGpu(k.name + ' composed', k.composed);
  const t = torch?.[k.name] ?? null;
  const rate = k.work ? `${(k.work[0] / (f / 1000)).toFixed(2)} ${k.work[1]}` : '';
  console.log(`| ${k.name} | ${f.toFixed(2)} | ${c.toFixed(2)} | ${(c / f).toFixed(2)}x | ${t === null ? 'n/a' : t.toFixed(2)} | ${t === null ? 'n/a' : (t / f).toFixed(3)} | ${rate} |`);
}
// The peer, side by side: the fused block against jax-js's WebGPU backend in the same run.
{
  const blk = kernels.find((k) => k.name.startsWith('transformer block'));
  if (blk) {
    const [B, T, d, heads, ff] = [4, 128, 256, 4, 1024];
    const peer = await jaxjsBlock(B, T, d, heads, ff).catch((e: Error) => `jax-js failed to load: ${e.message}`);
    if (typeof peer === 'string') console.log(`\n(jax-js column skipped: ${peer})`);
    else {
      const t0 = performance.now();
      await peer.run(); // jit compile
      const compileMs = performance.now() - t0;
      const reps = 3;
      const jt: number[] = [];
      for (let i = 0; i < reps; i++) {
        const s0 = performance.now();
        await peer.run();
        jt.push(performance.now() - s0);
      }
      const kt: number[] = [];
      for (let i = 0; i < reps; i++) kt.push(await timeGpu('block fused (peer table)', blk.fused, { time: 0, iterations: 1 }));
      const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
      console.log(`\n### ${blk.name}: kdgpu vs jax-js ${peer.version} WebGPU on ${adapterName()}, same run\n`);
      console.log('| workload | kdgpu fused ms | jax-js ms | kdgpu speedup (jax-js / kdgpu) |');
      console.log('|---|---:|---:|---:|');
      console.log(`| ${blk.name} | ${mean(kt).toFixed(1)} (${Math.min(...kt).toFixed(0)}-${Math.max(...kt).toFixed(0)}) | ${mean(jt).toFixed(1)} (${Math.min(...jt).toFixed(0)}-${Math.max(...jt).toFixed(0)}) | ${(mean(jt) / mean(kt)).toFixed(2)}x |`);
      console.log(`(jax-js: jit(grad) of the same block, compiled once in ${(compileMs / 1000).toFixed(1)} s before timing; ${reps} timed reps each, alternating sets)`);
    }
  }
}
process.exit(0);
