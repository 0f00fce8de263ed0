/**
 * `npm run bench` (in packages/models): forward+backward tokens/s at B = 8, T = 128 for tiny
 * configs and Baby Llama 58M, against the same model in PyTorch (bench/torch_bench.py, CPU,
 * 2 threads) in the same run, and generation tokens/s with and without the KV cache.
 *
 * On a software adapter (lavapipe) one 58M step takes minutes, so it is measured once (set
 * KDGPU_BENCH_58M_STEPS to change; KDGPU_BENCH_QUICK=1 skips the 58M runs). Pipelines are
 * compiled by the tiny runs first, which share every kernel with the 58M model.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { adapterName, init, sync, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import { babyLlama58M, type CausalLM, configToJson, countParameters, createModel, generate, type ModelConfig, tinyGPT2, tinyLlama } from '@kdgpu/models';

const B = 8;
const T = 128;
const quick = process.env.KDGPU_BENCH_QUICK === '1';
const steps58 = Number(process.env.KDGPU_BENCH_58M_STEPS ?? 1);
const TORCH = fileURLToPath(new URL('./torch_bench.py', import.meta.url));

/** transformers' causal-LM loss: logits[:, :-1] vs ids[:, 1:], mean over positions. */
function loss(logits: Tensor, ids: Tensor): Tensor {
  const [b, t] = ids.shape;
  const labels = ids.slice(1, 1, t).contiguous().reshape([b, t - 1, 1]);
  return logits.slice(1, 0, t - 1).logSoftmax(-1).gather(2, labels).mean().neg();
}

function randomIds(n: number, vocab: number, seed: number): Int32Array {
  let s = seed >>> 0;
  return Int32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % vocab;
  });
}

async function trainStep(model: CausalLM, x: Tensor): Promise<number> {
  const t0 = performance.now();
  const l = tidy(() => loss(model.forward(x), x));
  l.backward();
  l.dispose();
  for (const p of model.parameters().values()) p.zeroGrad();
  await sync();
  return (performance.now() - t0) / 1000;
}

function torchSteps(config: ModelConfig, warmup: number, steps: number): { step_s: number[]; tokens_per_s: number } {
  const out = execFileSync('/usr/bin/python3', [TORCH, JSON.stringify({ config: configToJson(config), B, T, warmup, steps })], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!);
}

const fmt = (x: number, d = 1) => x.toFixed(d);
const started = performance.now();
await init();
console.log(`adapter: ${adapterName()}`);
console.log(`forward+backward, B=${B}, T=${T}, causal-LM loss, f32\n`);
const trainRows: string[] = [];
const cases: Array<{ name: string; config: ModelConfig; warmup: number; steps: number; torchSteps: number }> = [
  { name: 'tiny-llama (GQA)', config: tinyLlama({ max_position_embeddings: T }), warmup: 1, steps: 3, torchSteps: 5 },
  { name: 'tiny-gpt2', config: tinyGPT2({ n_positions: T }), warmup: 1, steps: 3, torchSteps: 5 },
];
if (!quick) cases.push({ name: 'baby-llama-58M', config: babyLlama58M(), warmup: 0, steps: steps58, torchSteps: 2 });
for (const c of cases) {
  const model = createModel(c.config, { seed: 0 });
  const x = tensor(randomIds(B * T, c.config.vocab_size, 1), { shape: [B, T] });
  for (let i = 0; i < c.warmup; i++) await trainStep(model, x);
  const times: number[] = [];
  for (let i = 0; i < c.steps; i++) times.push(await trainStep(model, x));
  x.dispose();
  model.dispose();
  const ours = (B * T) / (times.reduce((a, b) => a + b, 0) / times.length);
  const ref = torchSteps(c.config, 1, c.torchSteps);
  const row = `| ${c.name} | ${fmt(countParameters(c.config) / 1e6, 2)}M | ${times.length} | ${fmt(ours)} | ${fmt(ref.tokens_per_s)} | ${fmt(ours / ref.tokens_per_s, 3)} |`;
  console.log(`${c.name}: kdgpu ${times.map((t) => fmt(t, 2) + ' s').join(', ')} per step; torch ${ref.step_s.map((t) => fmt(t, 3) + ' s').join(', ')}`);
  trainRows.push(row);
}
console.log('\n| model | params | steps timed | kdgpu tokens/s | PyTorch CPU (2 threads) tokens/s | kdgpu / PyTorch |');
console.log('|---|---|---|---|---|---|');
for (const r of trainRows) console.log(r);

console.log('\ngeneration, B=1, greedy, tokens/s over the whole call (prefill included) and per decode step\n');
const genRows: string[] = [];
const genCases: Array<{ name: string; config: ModelConfig; prompt: number; newTokens: number }> = [
  { name: 'tiny-llama (GQA)', config: tinyLlama(), prompt: 16, newTokens: 32 },
];
if (!quick) genCases.push({ name: 'baby-llama-58M', config: babyLlama58M(), prompt: 16, newTokens: 16 });
for (const g of genCases) {
  const model = createModel(g.config, { seed: 0 });
  const prompt = [...randomIds(g.prompt, g.config.vocab_size, 2)];
  const opts = { maxNewTokens: g.newTokens, eosTokenId: null };
  await generate(model, prompt, { ...opts, maxNewTokens: 2 }); // warm up pipelines
  const res: Record<string, { total: number; decode: number; tokens: number[] }> = {};
  for (const useCache of [true, false]) {
    const t0 = performance.now();
    const r = await generate(model, prompt, { ...opts, useCache });
    const total = (performance.now() - t0) / 1000;
    res[String(useCache)] = { total: g.newTokens / total, decode: r.timing.decodeTokensPerSecond, tokens: r.tokens[0] };
  }
  model.dispose();
  const same = JSON.stringify(res.true.tokens) === JSON.stringify(res.false.tokens);
  genRows.push(
    `| ${g.name} | ${g.prompt} + ${g.newTokens} | ${fmt(res.true.total)} (${fmt(res.true.decode)}) | ${fmt(res.false.total)} (${fmt(res.false.decode)}) | ${fmt(res.true.total / res.false.total, 2)} | ${same ? 'yes' : 'NO'} |`,
  );
}
console.log('| model | prompt + new tokens | with KV cache: tokens/s (decode steps/s) | without cache | speedup | same tokens |');
console.log('|---|---|---|---|---|---|');
for (const r of genRows) console.log(r);
console.log(`\nbench time ${fmt((performance.now() - started) / 1000)} s`);
