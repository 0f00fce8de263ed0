/**
 * DistilLlama-style distillation (HenryHuang2/DistilLlama): one teacher, a LLaMA student,
 * L = α·KD + (1 − α)·CE with α = 0.3 on the KD term, KD = T²·KL(batchmean) at T = 2, AdamW at
 * lr 3e-4 with warmup and a cosine schedule, gradient accumulation.
 *
 * usage: node --import tsx examples/distil-llama.ts --teacher DIR --tokenizer tokenizer.json
 *                                                   [--corpus embedded|DIR|ZIP] [--preset cpu|smoke|paper] [--out DIR]
 * DIR is any saved model (config.json + model.safetensors: from `kdgpu train`, this repo's
 * examples, or Hugging Face) whose vocabulary matches the tokenizer. Without --teacher, a small
 * teacher is trained first on the same corpus so the script runs on its own.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { adapterName, init } from '@kdgpu/tensor';
import { loadModel } from '@kdgpu/models/node';
import { babyLlamaTokenizerOptions } from '@kdgpu/tokenizer';
import { save as saveTokenizer, trainBpeFromFiles } from '@kdgpu/tokenizer/node';
import { evalBatches, evaluateLM, evaluateMinimalPairs, modelScorer, parseMinimalPairs, validateConfig } from '@kdgpu/train';
import { runTraining, tokenizeFiles } from '@kdgpu/train/node';
import { prepareCorpus } from './lib/corpus-node.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt?: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const presetName = arg('preset', 'cpu')!;
const out = resolve(arg('out', `runs/distil-llama-${presetName}`)!);
const PRESETS = {
  smoke: { maxWords: 30_000, vocab: 600, block: 32, batch: 4, accumulation: 2, steps: 6, teacherSteps: 8, student: { hidden_size: 32, intermediate_size: 96, num_hidden_layers: 1, num_attention_heads: 2 }, teacher: { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 2 } },
  cpu: { maxWords: 300_000, vocab: 2000, block: 64, batch: 8, accumulation: 2, steps: 200, teacherSteps: 300, student: { hidden_size: 64, intermediate_size: 192, num_hidden_layers: 2, num_attention_heads: 4 }, teacher: { hidden_size: 128, intermediate_size: 384, num_hidden_layers: 4, num_attention_heads: 4 } },
  // The DistilLlama student: dim 512, 16 layers, 8 heads, FFN 1536, 128 positions (distilLlama80M).
  paper: { maxWords: undefined, vocab: 32000, block: 128, batch: 64, accumulation: 8, steps: 0, teacherSteps: 0, student: { hidden_size: 512, intermediate_size: 1536, num_hidden_layers: 16, num_attention_heads: 8 }, teacher: { hidden_size: 1024, intermediate_size: 2816, num_hidden_layers: 16, num_attention_heads: 16 } },
} as const;
const P = PRESETS[presetName as keyof typeof PRESETS];
if (!P) throw new Error(`unknown preset ${presetName}; use one of ${Object.keys(PRESETS).join(', ')}`);

await init();
console.log(`DistilLlama-style distillation, preset "${presetName}", on ${adapterName()}; outputs in ${out}`);

// 1. data and tokenizer (given, or trained on the train split)
const corpus = await prepareCorpus({ source: arg('corpus', 'embedded'), outDir: join(out, 'corpus'), maxWords: P.maxWords });
const trainFiles = corpus.files.map((f) => join(corpus.dir, `${f.name}.train`));
let tokPath = arg('tokenizer');
if (!tokPath) {
  tokPath = join(out, 'tokenizer.json');
  saveTokenizer(await trainBpeFromFiles(trainFiles, babyLlamaTokenizerOptions({ vocabSize: P.vocab, showProgress: false })), tokPath);
}
const common = (name: string, steps: number, model: Record<string, unknown>) => ({
  run: { name, outDir: out, seed: 42 },
  data: { dir: corpus.dir, blockSize: P.block, batchSize: P.batch, maxEvalBlocks: 64, clean: corpus.clean },
  tokenizer: { path: tokPath },
  model: { type: 'llama', config: { ...model, max_position_embeddings: P.block } },
  optimizer: { lr: 3e-4 * (presetName === 'paper' ? 1 : 5), gradAccumulation: P.accumulation, weightDecay: 0, clipGradNorm: 1 },
  schedule: { type: 'cosine', warmupSteps: steps > 0 ? Math.max(1, Math.round(steps / 10)) : 4000 },
  train: steps > 0 ? { maxSteps: steps, logEvery: 10, evalEvery: Math.max(1, Math.round(steps / 4)) } : { epochs: 2, logEvery: 100, evalEvery: 0 },
});

// 2. the teacher: given, or a small one trained here
let teacher = arg('teacher');
if (!teacher) {
  console.log('\n== no --teacher given: training a small teacher first');
  const r = await runTraining(validateConfig({ ...common('teacher', P.teacherSteps, P.teacher), optimizer: { lr: 2e-3, clipGradNorm: 1 } }), { overwrite: true });
  r.model.dispose();
  teacher = join(out, 'teacher', 'final');
}

// 3. distil: α = 0.3 on KD, T = 2, KL with batchmean as DistilLlama's F.kl_div(..., 'batchmean') * T²
console.log(`\n== distilling ${teacher} into the student`);
const c = validateConfig({
  ...common('student', P.steps, P.student),
  teachers: [{ path: teacher }],
  distill: { loss: 'forwardKL', kdRatio: 0.3, temperature: 2, lossOptions: { reduction: 'batchmean' } },
});
const r = await runTraining(c, { overwrite: true });

// 4. evaluate teacher and student on the same held-out blocks and minimal pairs
const tok = r.tokenizer;
const dev = await tokenizeFiles(c, corpus.files.map((f) => join(corpus.dir, `${f.name}.dev`)), tok, join(out, 'cache', 'tokens'));
const pairs = parseMinimalPairs(readFileSync(new URL('../packages/train/data/minimal-pairs.jsonl', import.meta.url), 'utf8'));
console.log('\n| model | params | val loss | perplexity | minimal pairs |\n|---|---|---|---|---|');
for (const [name, model] of [['teacher', await loadModel(teacher)], ['student', r.model]] as const) {
  const lm = await evaluateLM(model, evalBatches(dev, { blockSize: P.block, batchSize: P.batch, maxEvalBlocks: 64, seed: 1 }));
  const mp = await evaluateMinimalPairs(modelScorer(model, tok), pairs);
  console.log(`| ${name} | ${model.numParameters()} | ${lm.loss.toFixed(4)} | ${lm.perplexity.toFixed(2)} | ${mp.mean.toFixed(3)} |`);
  model.dispose();
}
process.exit(0);
