/**
 * `node --import tsx packages/train/bench/on-policy.ts [--reps N]`: the cost of on-policy
 * distillation on this adapter, with the example's `cpu` sizes (examples/on-policy.ts: the demo's
 * LLaMA teacher and student, vocabulary 512, blocks of 48 with 16-token prompts, batch 8):
 *  - student generation throughput: batched on the GPU (`generateBatch`, one readback per batch)
 *    for B = 8 and B = 1, beside `generate` (logits read back and sampled on the CPU every token);
 *  - one optimizer step off-policy, with GKD on student samples (generation + step), and with
 *    MiniLLM (teacher-mixed generation + policy-gradient step + the data step), and the share of
 *    each step spent generating.
 * Every figure is the median over `reps` repetitions after one warm-up, all in this run.
 */
import { adapterName, init, nn, sync } from '@kdgpu/tensor';
import { createModel, generate, generateBatch, llamaConfig } from '@kdgpu/models';
import { type Batch, buildObjective, disposeAccumulators, gkd, minillm, newAccumulators, trainingConfig, trainStep, type WindowFn } from '../src/index.ts';

await init();
const i = process.argv.indexOf('--reps');
const reps = i >= 0 ? Number(process.argv[i + 1]) : 5;
console.log(`adapter: ${adapterName()}; median of ${reps} after a warm-up`);
const V = 512;
const B = 8;
const T = 48;
const P = 16;
const maxPos = { max_position_embeddings: 2 * T, vocab_size: V };
const teacher = createModel(llamaConfig({ hidden_size: 64, intermediate_size: 192, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 4, ...maxPos }), { seed: 1 });
const student = createModel(llamaConfig({ hidden_size: 32, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, ...maxPos }), { seed: 2 });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function time(fn: () => Promise<void>): Promise<number> {
  await fn(); // warm-up: pipelines compiled, pools filled
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

// ---- generation throughput --------------------------------------------------------------------
const prompts = (rows: number) => Int32Array.from({ length: rows * P }, (_, k) => (k * 37 + 11) % V);
const N = T - P;
const rowsOut: Array<Record<string, string | number>> = [];
for (const rows of [8, 1]) {
  const ms = await time(async () => void (await generateBatch(student, prompts(rows), [rows, P], { maxNewTokens: N, temperature: 1, seed: 3 })));
  rowsOut.push({ path: `generateBatch (GPU sampling, one readback), B = ${rows}`, 'ms per batch': ms.toFixed(0), 'tokens/s': ((rows * N * 1000) / ms).toFixed(0) });
}
{
  const rows = 8;
  const p = Array.from({ length: rows }, (_, b) => Array.from(prompts(rows).subarray(b * P, (b + 1) * P)));
  const ms = await time(async () => void (await generate(student, p, { maxNewTokens: N, temperature: 1, seed: 3, eosTokenId: null })));
  rowsOut.push({ path: `generate (CPU sampling, a readback per token), B = ${rows}`, 'ms per batch': ms.toFixed(0), 'tokens/s': ((rows * N * 1000) / ms).toFixed(0) });
}
console.log(`\nstudent generation, ${N} new tokens after ${P}-token prompts:`);
console.log('| path | ms per batch | tokens/s |\n|---|---:|---:|');
for (const r of rowsOut) console.log(`| ${r.path} | ${r['ms per batch']} | ${r['tokens/s']} |`);

// ---- step time and the generation share ------------------------------------------------------
const c = trainingConfig({ data: { blockSize: T, batchSize: B }, distill: { loss: 'forwardKL', kdRatio: 1 } });
const distill = buildObjective({ distill: c.distill!, student: { vocabSize: V }, teachers: [{ kind: 'model', model: teacher, name: 'teacher' }] });
const opt = new nn.AdamW([...student.parameters().values()], { lr: 1e-4 });
const acc = newAccumulators();
const data: Batch = { ids: Int32Array.from({ length: B * T }, (_, k) => (k * 7919 + 5) % V), shape: [B, T], blocks: new Uint32Array(B), starts: new Float64Array(B), next: { epoch: 0, position: 0 } };
const sampling = { promptLength: P, temperature: 1, topP: 1, seed: 5 };
const methods = { off: null, gkd: gkd(student, { ...sampling, lmbda: 1 }), minillm: minillm(student, teacher, { ...sampling, mixAlpha: 0.2, gamma: 0.95, lengthNorm: true, ptLoss: true }) };
const stepRows: string[] = [];
let offMs = 0;
for (const [name, m] of Object.entries(methods)) {
  let step = 0;
  let genBefore = 0;
  const gen: number[] = [];
  const ms = await time(async () => {
    genBefore = m?.stats.generation.ms ?? 0;
    const window: WindowFn | null = m ? await m.prepare([data], step++, 1000) : null;
    trainStep({ model: student, optimizer: opt, micro: [data], kdRatio: 1, distill, clipGradNorm: 1, acc, ...(window ? { window } : {}) });
    await sync();
    gen.push((m?.stats.generation.ms ?? 0) - genBefore);
  });
  if (name === 'off') offMs = ms;
  const g = median(gen.slice(1));
  stepRows.push(`| ${name === 'off' ? 'off-policy (forward KL)' : name === 'gkd' ? 'GKD step on student samples' : 'MiniLLM (teacher-mixed samples, PG + data step)'} | ${ms.toFixed(0)} | ${g.toFixed(0)} | ${((100 * g) / ms).toFixed(0)}% | ${(ms / offMs).toFixed(2)} |`);
}
console.log(`\none optimizer step, B = ${B}, T = ${T} (${N} sampled tokens per row):`);
console.log('| step | ms | of which generating, ms | generating share | vs off-policy |\n|---|---:|---:|---:|---:|');
for (const r of stepRows) console.log(r);
disposeAccumulators(acc);
opt.dispose();
process.exit(0);
