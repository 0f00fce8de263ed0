/**
 * `npm run bench:fused` (in packages/losses): the student's LM head + KD/CE loss, fused in row blocks
 * (`fusedHeadLoss`) against the unfused path (logits = hidden @ Wᵀ, then the losses on the full
 * [N, V] logits), forward + backward, at N = 4096 positions, d = 256, V = 16,000 and 32,000.
 *
 * Loss: 0.5·CE + 0.5·forwardKL at τ = 2 (Baby Llama's recipe), with a dense teacher [N, V], and the
 * same with a sparse top-64 teacher (tail-bucket) on the fused path.
 *
 * Peak memory: `memoryStats().peakBytes` (the buffer pool's high-water mark of bytes held by live
 * tensors, in the pool's size classes) during one forward + backward, minus the bytes live before it
 * (hidden, W, the teacher, the labels). What the step leaves behind (d hidden [N, d], d W [V, d]) is
 * counted. Time: wall clock of the same step, ending with `sync()` (the GPU queue drained).
 *
 * Flags: --n= (4096), --d= (256), --v=16000,32000, --rows=256,1024 (fused block rows), --iters= (1),
 * --no-sparse. The sparse row runs at the first V only (building its top-64 is a full GPU sort).
 */
import { adapterName, init, memoryStats, randn, resetPeakBytes, sync, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import { crossEntropy, forwardKL, fusedHeadLoss, sparseTopK, type SparseTeacher } from '../src/index.ts';

const arg = (k: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1];
const N = Number(arg('n') ?? 4096);
const D = Number(arg('d') ?? 256);
const VS = (arg('v') ?? '16000,32000').split(',').map(Number);
const ROWS = (arg('rows') ?? '256,1024').split(',').map(Number);
const ITERS = Number(arg('iters') ?? 1);
const SPARSE = !process.argv.includes('--no-sparse');
const KD = { temperature: 2 };
const RATIO = 0.5;

await init();
console.log(`adapter: ${adapterName()}`);
console.log(`workload: N = ${N}, d = ${D}, 0.5·CE + 0.5·forwardKL(τ = 2), forward + backward, ${ITERS} timed run(s) per cell (best kept)`);

type Teacher = Tensor | SparseTeacher;

/** One forward + backward; returns [ms, peak bytes over what was live before]. */
async function step(fused: number | null, h: Tensor, W: Tensor, teacher: Teacher, labels: Tensor): Promise<[number, number]> {
  h.zeroGrad();
  W.zeroGrad();
  await sync();
  resetPeakBytes();
  const before = memoryStats().liveBytes;
  const t0 = performance.now();
  const loss =
    fused !== null
      ? fusedHeadLoss(h, W, teacher, labels, { kd: forwardKL as never, kdOptions: KD, kdRatio: RATIO, rows: fused })
      : tidy(() => {
          const logits = h.matmul(W.transpose()); // [N, V]
          const ce = crossEntropy(logits, null, labels);
          const kd = forwardKL(logits, teacher, labels, KD);
          return kd.mul(RATIO).add(ce.mul(1 - RATIO));
        });
  loss.backward();
  await sync();
  const ms = performance.now() - t0;
  const peak = memoryStats().peakBytes - before;
  loss.dispose();
  return [ms, peak];
}

async function best(fused: number | null, h: Tensor, W: Tensor, teacher: Teacher, labels: Tensor): Promise<[number, number]> {
  let ms = Infinity;
  let peak = 0;
  for (let i = 0; i < ITERS; i++) {
    const [m, p] = await step(fused, h, W, teacher, labels);
    ms = Math.min(ms, m);
    peak = Math.max(peak, p);
  }
  return [ms, peak];
}

// Compile every pipeline on a small problem first.
{
  const h = randn([64, D], { seed: 1 });
  h.requiresGrad = true;
  const W = randn([500, D], { seed: 2 });
  W.requiresGrad = true;
  const t = randn([64, 500], { seed: 3 });
  const l = tensor(Int32Array.from({ length: 64 }, (_, i) => i % 500));
  const sp = sparseTopK(t, 64);
  for (const f of [null, 16]) await step(f, h, W, t, l);
  await step(16, h, W, sp, l);
  sp.dispose();
  for (const x of [h, W, t, l]) x.dispose();
}

const MiB = (b: number) => (b / 2 ** 20).toFixed(1);
const rowsOut: string[] = [];
for (const V of VS) {
  const h = tidy(() => randn([N, D], { seed: 11 }).mul(0.5));
  h.requiresGrad = true;
  const W = tidy(() => randn([V, D], { seed: 12 }).mul(1 / Math.sqrt(D)));
  W.requiresGrad = true;
  const teacher = tidy(() => randn([N, V], { seed: 13 }).mul(2));
  const labels = tensor(Int32Array.from({ length: N }, (_, i) => (i % 20 === 0 ? -100 : (i * 7919) % V)));
  const [ums, upeak] = await best(null, h, W, teacher, labels);
  console.log(`V = ${V}: unfused ${ums.toFixed(0)} ms, peak ${MiB(upeak)} MiB`);
  for (const rows of ROWS) {
    const [fms, fpeak] = await best(rows, h, W, teacher, labels);
    const row = `| ${N} | ${V} | ${D} | dense | ${rows} | ${MiB(upeak)} | ${MiB(fpeak)} | ${(upeak / fpeak).toFixed(2)}x | ${ums.toFixed(0)} | ${fms.toFixed(0)} | ${(fms / ums).toFixed(2)}x |`;
    console.log(row);
    rowsOut.push(row);
  }
  if (SPARSE && V === VS[0]) {
    const sp = sparseTopK(teacher, 64);
    const rows = ROWS[0];
    const [fms, fpeak] = await best(rows, h, W, sp, labels);
    const row = `| ${N} | ${V} | ${D} | sparse k=64 (fused only) | ${rows} | ${MiB(upeak)} (dense) | ${MiB(fpeak)} | ${(upeak / fpeak).toFixed(2)}x | ${ums.toFixed(0)} (dense) | ${fms.toFixed(0)} | ${(fms / ums).toFixed(2)}x |`;
    console.log(row);
    rowsOut.push(row);
    sp.dispose();
  }
  for (const x of [h, W, teacher, labels]) x.dispose();
}
console.log('\n| N | V | d | teacher | fused rows | unfused peak MiB | fused peak MiB | peak cut | unfused ms | fused ms | time ratio |');
console.log('|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rowsOut) console.log(r);
