/**
 * `npm run bench -w @kdgpu/train`: training-step throughput of the trainer's `trainStep` (forward,
 * backward, AdamW, global-norm clipping; with distillation the frozen teachers and CE + forward KL)
 * beside the same step in PyTorch CPU in the same run (Debian python3-torch, the better of 1 and 2
 * threads). Cases: the demo student and the demo LLaMA teacher of `examples/baby-llama.ts` (its `cpu`
 * preset: vocab 512, B 8, T 64), the distillation of that student from both demo teachers, and the
 * Baby Llama 58M student distilled from two small teachers (vocab 16000, B 8, T 128).
 *
 * Per case: ms/step (wall, GPU work finished), tokens/s, dispatches per step, bind groups, buffers
 * and pipelines created per steady step (engineStats), JS ms/step (the time `trainStep` takes to
 * record the step), JS µs per dispatch, tensor handles created per step (op outputs, views, autograd's
 * saved references: the recording path's unit) and JS µs per handle, and the ratio to PyTorch (> 1: kdgpu is faster).
 * Flags: `--quick` (fewer steps, no 58M case), `--only=<substring>` (cases whose name contains it),
 * `--profile` (after each case, one more step's GPU time by kernel: `profileDispatches`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { adapterName, engineStats, init, nn, profileDispatches, sync } from '@kdgpu/tensor';
import { createLoss } from '@kdgpu/losses';
import { babyLlama58M, type CausalLM, configToJson, createModel, demoLlama, gpt2Config, llamaConfig, type ModelConfig } from '@kdgpu/models';
import { type Batch, disposeAccumulators, newAccumulators, readSums, trainStep } from '../src/index.ts';

await init();
console.log(`adapter: ${adapterName()}`);
const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const profile = process.argv.includes('--profile');

interface Case {
  name: string;
  student: ModelConfig;
  teachers: ModelConfig[];
  B: number;
  T: number;
  warmup: number;
  steps: number;
}

// The demo models: examples/baby-llama.ts, preset `cpu` (max positions 2 x block).
const DV = 512;
const demoStudent = llamaConfig({ vocab_size: DV, hidden_size: 32, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, max_position_embeddings: 128, bos_token_id: 1, eos_token_id: 2 });
const demoLlamaTeacher = llamaConfig({ vocab_size: DV, hidden_size: 64, intermediate_size: 192, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 4, max_position_embeddings: 128, bos_token_id: 1, eos_token_id: 2 });
const demoGpt2Teacher = gpt2Config({ vocab_size: DV, n_embd: 64, n_layer: 3, n_head: 4, n_positions: 128, bos_token_id: 1, eos_token_id: 2 });
const V58 = 16000;
const small = quick ? 5 : 20;
const cases: Case[] = [
  { name: 'demo student step (LLaMA h32 ff96 L2)', student: demoStudent, teachers: [], B: 8, T: 64, warmup: 3, steps: small },
  { name: 'demo LLaMA teacher step (h64 ff192 L3)', student: demoLlamaTeacher, teachers: [], B: 8, T: 64, warmup: 3, steps: small },
  { name: 'demo GPT-2 teacher step (n_embd 64 L3)', student: demoGpt2Teacher, teachers: [], B: 8, T: 64, warmup: 3, steps: small },
  { name: 'distill: demo student from both demo teachers', student: demoStudent, teachers: [demoLlamaTeacher, demoGpt2Teacher], B: 8, T: 64, warmup: 3, steps: small },
];
if (!quick) {
  cases.push({
    name: 'distill: Baby Llama 58M from two small teachers (V16000, T128)',
    student: babyLlama58M(),
    teachers: [demoLlama({ vocab_size: V58 }), gpt2Config({ vocab_size: V58, n_positions: 256, n_embd: 256, n_layer: 4, n_head: 4, bos_token_id: 1, eos_token_id: 2 })],
    B: 8,
    T: 128,
    warmup: 1,
    steps: 2,
  });
}

function batch(c: Case): Batch {
  const V = c.student.vocab_size;
  const ids = Int32Array.from({ length: c.B * c.T }, (_, i) => (i * 7919) % V);
  return { ids, shape: [c.B, c.T], blocks: new Uint32Array(c.B), starts: new Float64Array(c.B), next: { epoch: 0, position: 0 } };
}

interface KdgpuResult {
  msPerStep: number;
  jsMsPerStep: number;
  dispatches: number;
  bindGroups: number;
  buffers: number;
  pipelines: number;
  tensors: number;
}

async function kdgpuStep(c: Case): Promise<KdgpuResult> {
  const student = createModel(c.student, { seed: 1 });
  const teachers: CausalLM[] = c.teachers.map((t, i) => createModel(t, { seed: 2 + i }));
  const opt = new nn.AdamW([...student.parameters().values()], { lr: 3e-4, weightDecay: 0.1 });
  const acc = newAccumulators();
  const loss = createLoss('forwardKL', { temperature: 2, reduction: 'none' });
  const b = batch(c);
  const distill = teachers.length ? { loss, teachers: { kind: 'models' as const, models: teachers }, reduction: 'batchmean' as const } : null;
  const run = () => trainStep({ model: student, optimizer: opt, micro: [b], kdRatio: distill ? 0.5 : 0, distill, clipGradNorm: 1, acc });
  for (let i = 0; i < c.warmup; i++) run();
  await readSums(acc);
  await sync();
  const s0 = engineStats();
  let js = 0;
  const t0 = performance.now();
  for (let i = 0; i < c.steps; i++) {
    const r0 = performance.now();
    run();
    js += performance.now() - r0;
  }
  // The trainer reads the sums at log points (every 10 steps by default); one readback here.
  await readSums(acc);
  const wall = performance.now() - t0;
  const s1 = engineStats();
  if (profile) {
    // Where one steady step's GPU time goes: each dispatch replayed alone (engine.profileDispatches).
    const prof = await profileDispatches(() => run(), { byGrid: process.argv.includes('--by-grid') });
    const total = prof.reduce((a, k) => a + k.ms, 0);
    console.log(`\n${c.name}: GPU time by kernel, one steady step (dispatches replayed alone; sum ${total.toFixed(1)} ms vs ${(wall / c.steps).toFixed(1)} ms/step wall)`);
    for (const k of prof.slice(0, process.argv.includes('--by-grid') ? 40 : 15)) console.log(`  ${k.ms.toFixed(2).padStart(7)} ms ${String(k.count).padStart(4)}x  ${k.kernel.slice(0, 110)}`);
  }
  for (const m of [student, ...teachers]) m.dispose();
  opt.dispose();
  disposeAccumulators(acc);
  const per = (k: 'dispatches' | 'bindGroupsCreated' | 'buffersCreated' | 'pipelinesCreated' | 'tensorsCreated') => (s1[k] - s0[k]) / c.steps;
  return { msPerStep: wall / c.steps, jsMsPerStep: js / c.steps, dispatches: per('dispatches'), bindGroups: per('bindGroupsCreated'), buffers: per('buffersCreated'), pipelines: per('pipelinesCreated'), tensors: per('tensorsCreated') };
}

/** PyTorch CPU ms/step at the better of 1 and 2 threads, or null without PyTorch. */
function torchStep(c: Case): { ms: number; threads: number } | null {
  if (!existsSync('/usr/bin/python3')) return null;
  const script = fileURLToPath(new URL('./torch_distill.py', import.meta.url));
  let best: { ms: number; threads: number } | null = null;
  for (const threads of [1, 2]) {
    const arg = JSON.stringify({ student: configToJson(c.student), teachers: c.teachers.map(configToJson), B: c.B, T: c.T, steps: c.steps, warmup: c.warmup, threads });
    const r = spawnSync('/usr/bin/python3', [script, arg], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) }, maxBuffer: 1 << 24 });
    if (r.status !== 0) {
      console.error(`PyTorch baseline failed: ${r.stderr.slice(-2000)}`);
      return null;
    }
    const s = (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { step_s: number[] }).step_s;
    const ms = (s.reduce((a, x) => a + x, 0) / s.length) * 1000;
    if (!best || ms < best.ms) best = { ms, threads };
  }
  return best;
}

console.log(`\n### Training steps on ${adapterName()} beside PyTorch CPU (better of 1 and 2 threads), same run\n`);
console.log('| case | steps timed | kdgpu ms/step | kdgpu tokens/s | dispatches/step | bind groups/step | buffers/step | pipelines/step | JS ms/step | JS µs/dispatch | tensor handles/step | JS µs/handle | PyTorch ms/step (threads) | PyTorch tokens/s | ratio (kdgpu/PyTorch) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const c of cases) {
  if (only && !c.name.includes(only)) continue;
  const k = await kdgpuStep(c);
  const t = torchStep(c);
  const tok = c.B * c.T;
  const f = (x: number, d = 1) => x.toFixed(d);
  console.log(
    `| ${c.name} | ${c.steps} | ${f(k.msPerStep)} | ${f((tok / k.msPerStep) * 1000, 0)} | ${f(k.dispatches)} | ${f(k.bindGroups)} | ${f(k.buffers)} | ${f(k.pipelines)} | ${f(k.jsMsPerStep)} | ${f((k.jsMsPerStep * 1000) / k.dispatches, 0)} | ${f(k.tensors, 0)} | ${f((k.jsMsPerStep * 1000) / k.tensors, 1)} | ` +
      `${t ? `${f(t.ms)} (${t.threads})` : 'n/a'} | ${t ? f((tok / t.ms) * 1000, 0) : 'n/a'} | ${t ? (t.ms / k.msPerStep).toFixed(3) : 'n/a'} |`,
  );
}
process.exit(0);
