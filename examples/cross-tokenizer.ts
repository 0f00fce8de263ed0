/**
 * Distillation across tokenizers: a GPT-2 teacher with its own BPE (one vocabulary size) distilled
 * into a LLaMA student with a different BPE (another size) with Universal Logit Distillation
 * (Boizard et al. 2024), compared with the same student trained without distillation.
 *
 * What is aligned: each training block of the student's tokens is decoded to text and encoded with
 * the teacher's tokenizer; position t of the student is compared with position t of the teacher,
 * up to the shorter of the two (the paper's alignment), by the distance between their sorted
 * next-token distributions. Loss = (1 − r)·CE + r·ULD.
 *
 * usage: node --import tsx examples/cross-tokenizer.ts [--preset cpu|smoke] [--corpus embedded|DIR|ZIP] [--out DIR]
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { adapterName, init } from '@kdgpu/tensor';
import { babyLlamaTokenizerOptions } from '@kdgpu/tokenizer';
import { save as saveTokenizer, trainBpeFromFiles } from '@kdgpu/tokenizer/node';
import { evalBatches, evaluateLM, evaluateMinimalPairs, modelScorer, parseMinimalPairs, validateConfig } from '@kdgpu/train';
import { runTraining, tokenizeFiles } from '@kdgpu/train/node';
import { prepareCorpus } from './lib/corpus-node.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const presetName = arg('preset', 'cpu');
const out = resolve(arg('out', `runs/cross-tokenizer-${presetName}`));
const PRESETS = {
  smoke: { maxWords: 30_000, teacherVocab: 700, studentVocab: 500, block: 32, batch: 8, teacherSteps: 8, studentSteps: 6, teacher: { n_embd: 32, n_layer: 2, n_head: 2 }, student: { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2 } },
  cpu: { maxWords: 200_000, teacherVocab: 1500, studentVocab: 1000, block: 64, batch: 8, teacherSteps: 200, studentSteps: 150, teacher: { n_embd: 96, n_layer: 3, n_head: 4 }, student: { hidden_size: 48, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4 } },
} as const;
const P = PRESETS[presetName as keyof typeof PRESETS];
if (!P) throw new Error(`unknown preset ${presetName}; use one of ${Object.keys(PRESETS).join(', ')}`);

await init();
console.log(`cross-tokenizer distillation, preset "${presetName}", on ${adapterName()}; outputs in ${out}`);
const corpus = await prepareCorpus({ source: arg('corpus', 'embedded'), outDir: join(out, 'corpus'), maxWords: P.maxWords });
const trainFiles = corpus.files.map((f) => join(corpus.dir, `${f.name}.train`));

// Two tokenizers trained on the same text with different vocabulary sizes (and so different merges and ids).
const teacherTok = join(out, 'teacher-tokenizer.json');
const studentTok = join(out, 'student-tokenizer.json');
await import('node:fs/promises').then((fs) => fs.mkdir(out, { recursive: true }));
saveTokenizer(await trainBpeFromFiles(trainFiles, babyLlamaTokenizerOptions({ vocabSize: P.teacherVocab, showProgress: false })), teacherTok);
saveTokenizer(await trainBpeFromFiles(trainFiles, babyLlamaTokenizerOptions({ vocabSize: P.studentVocab, showProgress: false })), studentTok);

const config = (name: string, tok: string, steps: number, model: Record<string, unknown>) => ({
  run: { name, outDir: out, seed: 5 },
  data: { dir: corpus.dir, blockSize: P.block, batchSize: P.batch, maxEvalBlocks: 64, clean: corpus.clean },
  tokenizer: { path: tok },
  model,
  optimizer: { lr: 3e-3, clipGradNorm: 1 },
  schedule: { type: 'cosine', warmupSteps: Math.max(1, Math.round(steps / 10)) },
  train: { maxSteps: steps, logEvery: 10, evalEvery: steps },
});

console.log('\n== GPT-2 teacher, its own tokenizer');
(await runTraining(validateConfig(config('teacher', teacherTok, P.teacherSteps, { type: 'gpt2', config: { ...P.teacher, n_positions: 2 * P.block } })), { quiet: true, overwrite: true })).model.dispose();

const student = { type: 'llama', config: { ...P.student, max_position_embeddings: 2 * P.block } };
const rows: Array<[string, number, number, number]> = [];
const pairs = parseMinimalPairs(readFileSync(new URL('../packages/train/data/minimal-pairs.jsonl', import.meta.url), 'utf8'));
for (const [name, distill] of [
  ['student-uld', { loss: 'uld', kdRatio: 0.5 }],
  ['student-no-kd', null],
] as const) {
  console.log(`\n== ${name}`);
  const c = validateConfig({
    ...config(name, studentTok, P.studentSteps, student),
    ...(distill ? { teachers: [{ path: join(out, 'teacher', 'final'), tokenizer: teacherTok }], distill } : {}),
  });
  const r = await runTraining(c, { quiet: true, overwrite: true });
  const dev = await tokenizeFiles(c, corpus.files.map((f) => join(corpus.dir, `${f.name}.dev`)), r.tokenizer, join(out, 'cache', 'tokens'));
  const lm = await evaluateLM(r.model, evalBatches(dev, { blockSize: P.block, batchSize: P.batch, maxEvalBlocks: 64, seed: 1 }));
  const mp = await evaluateMinimalPairs(modelScorer(r.model, r.tokenizer), pairs);
  rows.push([name, lm.loss, lm.perplexity, mp.mean]);
  r.model.dispose();
}
console.log(`\n| student (vocab ${P.studentVocab}; teacher vocab ${P.teacherVocab}) | val loss | perplexity | minimal pairs |\n|---|---:|---:|---:|`);
for (const [n, l, p, m] of rows) console.log(`| ${n} | ${l.toFixed(4)} | ${p.toFixed(2)} | ${m.toFixed(3)} |`);
process.exit(0);
