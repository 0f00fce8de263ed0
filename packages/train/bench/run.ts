/**
 * `npm run bench -w @kdgpu/train`: distillation training throughput (tokens/s) of the trainer's
 * step (student forward+backward, two frozen teachers, CE + forward KL, AdamW, clipping) for the
 * tiny and the Baby Llama 58M student configs, beside the same loop in PyTorch CPU (2 threads) in
 * the same run. The teachers are a small GPT-2 and a small LLaMA (the paper's 705M and 360M
 * teachers do not fit a CPU benchmark).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { adapterName, init, nn, sync } from '@kdgpu/tensor';
import { createLoss } from '@kdgpu/losses';
import { babyLlama58M, type CausalLM, configToJson, createModel, type ModelConfig, tinyGPT2, tinyLlama, demoLlama, gpt2Config } from '@kdgpu/models';
import { type Batch, disposeAccumulators, newAccumulators, readSums, trainStep } from '../src/index.ts';

await init();
console.log(`adapter: ${adapterName()}`);
const B = 8;
const T = 128;
const quick = process.argv.includes('--quick');

interface Case { name: string; student: ModelConfig; teachers: ModelConfig[]; steps: number }
const V = 16000;
const cases: Case[] = [
  { name: 'tiny student (tinyLlama), tiny teachers', student: tinyLlama({ vocab_size: V, max_position_embeddings: 256 }), teachers: [tinyLlama({ vocab_size: V, max_position_embeddings: 256 }), tinyGPT2({ vocab_size: V, n_positions: 256 })], steps: 3 },
];
if (!quick) {
  cases.push({
    name: 'Baby Llama 58M student, small teachers',
    student: babyLlama58M(),
    teachers: [demoLlama({ vocab_size: V }), gpt2Config({ vocab_size: V, n_positions: 256, n_embd: 256, n_layer: 4, n_head: 4, bos_token_id: 1, eos_token_id: 2 })],
    steps: 1,
  });
}

function batch(): Batch {
  const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % V);
  return { ids, shape: [B, T], blocks: new Uint32Array(B), starts: new Float64Array(B), next: { epoch: 0, position: 0 } };
}

async function kdgpuStep(c: Case): Promise<number[]> {
  const student = createModel(c.student, { seed: 1 });
  const teachers: CausalLM[] = c.teachers.map((t, i) => createModel(t, { seed: 2 + i }));
  const opt = new nn.AdamW([...student.parameters().values()], { lr: 3e-4, weightDecay: 0.1 });
  const acc = newAccumulators();
  const loss = createLoss('forwardKL', { temperature: 2, reduction: 'none' });
  const run = () => trainStep({ model: student, optimizer: opt, micro: [batch()], kdRatio: 0.5, distill: { loss, teachers: { kind: 'models', models: teachers }, reduction: 'batchmean' }, clipGradNorm: 1, acc });
  run();
  await sync();
  const times: number[] = [];
  for (let i = 0; i < c.steps; i++) {
    const t0 = performance.now();
    run();
    await readSums(acc); // the trainer reads the loss at log points; include one readback per step
    times.push((performance.now() - t0) / 1000);
  }
  for (const m of [student, ...teachers]) m.dispose();
  opt.dispose();
  disposeAccumulators(acc);
  return times;
}

function torchStep(c: Case): number[] | null {
  if (!existsSync('/usr/bin/python3')) return null;
  const script = fileURLToPath(new URL('./torch_distill.py', import.meta.url));
  const arg = JSON.stringify({ student: configToJson(c.student), teachers: c.teachers.map(configToJson), B, T, steps: c.steps });
  const r = spawnSync('/usr/bin/python3', [script, arg], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' }, maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    console.error(`PyTorch baseline failed: ${r.stderr.slice(-2000)}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!).step_s;
}

const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
console.log(`\n### Distillation step (B=${B}, T=${T}, vocab ${V}, two teachers) on ${adapterName()}\n`);
console.log('| student | steps timed | kdgpu s/step | kdgpu tokens/s | PyTorch CPU s/step | PyTorch tokens/s | ratio (kdgpu/PyTorch) |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const c of cases) {
  const k = await kdgpuStep(c);
  const t = torchStep(c);
  const kt = (B * T) / mean(k);
  const tt = t ? (B * T) / mean(t) : null;
  console.log(`| ${c.name} | ${c.steps} | ${mean(k).toFixed(3)} | ${kt.toFixed(1)} | ${t ? mean(t).toFixed(3) : 'n/a'} | ${tt ? tt.toFixed(1) : 'n/a'} | ${tt ? (kt / tt).toFixed(3) : 'n/a'} |`);
}
process.exit(0);
