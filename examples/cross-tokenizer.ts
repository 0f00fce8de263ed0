/**
 * Distillation across tokenizers: the Baby Llama demo's best teacher (its own 512-token BPE) distilled
 * into the demo's student architecture with another BPE (another vocabulary size, so other merges
 * and ids) with Universal Logit Distillation (Boizard et al. 2024), against the same student trained
 * without distillation, over several seeds.
 *
 * What is aligned: each training block of the student's tokens is decoded to text and encoded with
 * the teacher's tokenizer; position t of the student is compared with position t of the teacher,
 * up to the shorter of the two (the paper's alignment), by the L1 distance between their sorted
 * next-token distributions. Loss = (1 − r)·CE + r·ULD. The paper writes CE + λ·ULD; under AdamW
 * (invariant to the loss's scale, up to gradient clipping) that is r = λ / (1 + λ).
 *
 * Rows: no KD and ULD at the paper-like weight (r 0.5, λ 1) and at a weight that makes ULD's
 * gradient comparable to CE's (r 0.99, λ 99) on every seed; `--variants` adds, on the first seed,
 * r 0.9 (λ 9) and r 0.99 at temperature 2. It shares the demo's output folder by default, so the
 * demo's teachers are reused.
 *
 * usage: node --import tsx examples/cross-tokenizer.ts [--preset cpu|smoke] [--seed N] [--seeds K]
 *          [--variants] [--rows no-kd,uld-r0.5,...] [--corpus embedded|DIR|ZIP] [--out runs/baby-llama-cpu] [--publish DIR]
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { adapterName, init } from '@kdgpu/tensor';
import { loadModel } from '@kdgpu/models/node';
import { babyLlamaTokenizerOptions } from '@kdgpu/tokenizer';
import { fromFile as loadTokenizer, save as saveTokenizer, trainBpeFromFiles } from '@kdgpu/tokenizer/node';
import { evalBatches, evaluateLM, evaluateMinimalPairs, modelScorer, parseMinimalPairs, validateConfig } from '@kdgpu/train';
import { corpusFiles, readMetricsFile, tokenizeFiles } from '@kdgpu/train/node';
import { PRESETS, setupBabyLlama, trainOrReuse } from './lib/baby-llama-setup.ts';
import { seedList, signed, spread } from './lib/demo-results.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const presetName = arg('preset', 'cpu');
const P = PRESETS[presetName];
if (!P || presetName === 'paper') throw new Error(`--preset: unknown preset ${presetName}; use cpu or smoke`);
/** The student's vocabulary: another size than the teacher's, so other merges and ids. */
const STUDENT_VOCAB: Record<string, number> = { cpu: 384, smoke: 450 };
const seeds = seedList(arg('seed', '1'), arg('seeds', String(P.seeds)));
const out = resolve(arg('out', `runs/baby-llama-${presetName}`));
const publish = arg('publish', '');
const variants = args.includes('--variants');
// --rows a,b: train only these rows (to split the work over processes; a last run without it reuses them).
const onlyRows = arg('rows', '') ? arg('rows', '').split(',') : null;

await init();
console.log(`cross-tokenizer distillation, preset "${presetName}", seeds ${seeds.join(', ')}, on ${adapterName()}; outputs in ${out}`);
await mkdir(out, { recursive: true });
const started = performance.now();
const loadAtStart = loadavg()[0];
const S = await setupBabyLlama({ P, out, corpusSource: arg('corpus', 'embedded'), teacherSeed: Number(arg('teacher-seed', '2023')) });
const teacher = S.bestTeacher;

// The student's own tokenizer, trained on the same text with another vocabulary size.
const studentTok = join(out, 'student-tokenizer.json');
const trainFiles = S.corpus.files.map((f) => join(S.corpus.dir, `${f.name}.train`));
const fresh = await trainBpeFromFiles(trainFiles, babyLlamaTokenizerOptions({ vocabSize: STUDENT_VOCAB[presetName]!, minFrequency: 2, showProgress: false }));
// Rewritten only when it changed, so that the runs trained with it are reused.
if (!existsSync(studentTok) || loadTokenizer(studentTok).serialize(false) !== fresh.serialize(false)) saveTokenizer(fresh, studentTok);
const tok = loadTokenizer(studentTok);
console.log(`teacher: ${teacher.name} (best checkpoint, step ${teacher.step}), vocabulary ${S.tok.vocabSize}; student vocabulary ${tok.vocabSize}`);

interface Variant { key: string; label: string; kdRatio: number; temperature: number; allSeeds: boolean }
const VARIANTS: Variant[] = [
  { key: 'no-kd', label: 'no KD', kdRatio: 0, temperature: 1, allSeeds: true },
  { key: 'uld-r0.5', label: 'ULD, r 0.5 (λ 1), T 1', kdRatio: 0.5, temperature: 1, allSeeds: true },
  { key: 'uld-r0.99', label: 'ULD, r 0.99 (λ 99), T 1', kdRatio: 0.99, temperature: 1, allSeeds: true },
  { key: 'uld-r0.9', label: 'ULD, r 0.9 (λ 9), T 1', kdRatio: 0.9, temperature: 1, allSeeds: false },
  { key: 'uld-r0.99-t2', label: 'ULD, r 0.99 (λ 99), T 2', kdRatio: 0.99, temperature: 2, allSeeds: false },
];
const config = (v: Variant, seed: number) => {
  const base = { ...S.student(`xtok-${v.key}-s${seed}`, seed), tokenizer: { path: studentTok } };
  return validateConfig(v.kdRatio === 0 ? base : { ...base, teachers: [{ path: teacher.dir, tokenizer: S.tokPath }], distill: { loss: 'uld', kdRatio: v.kdRatio, temperature: v.temperature } });
};

const probe = config(VARIANTS[0]!, seeds[0]!);
const devTokens = await tokenizeFiles(probe, (await corpusFiles(probe)).eval, tok, join(out, 'cache', 'tokens'));
const pairs = parseMinimalPairs(readFileSync(new URL('../packages/train/data/minimal-pairs.jsonl', import.meta.url), 'utf8'));
const scorerTok = { encode: (s: string) => ({ ids: tok.encode(s, { addSpecialTokens: false }).ids }), decode: (ids: number[]) => tok.decode(ids) };
interface Run { key: string; seed: number; valLoss: number; minimalPairs: number; seconds: number; ceShare: number | null }
const runs: Run[] = [];
for (const [i, seed] of seeds.entries()) {
  for (const v of VARIANTS) {
    if (!v.allSeeds && !(variants && i === 0)) continue;
    if (onlyRows && !onlyRows.includes(v.key)) continue;
    const c = config(v, seed);
    const { seconds } = await trainOrReuse(c, studentTok);
    const model = await loadModel(join(out, c.run.name, 'final'));
    const lm = await evaluateLM(model, evalBatches(devTokens, { blockSize: P.block, batchSize: P.batch, maxEvalBlocks: P.evalBlocks, seed: 2023 }));
    const mp = await evaluateMinimalPairs(modelScorer(model, scorerTok), pairs);
    model.dispose();
    // How big the two terms were at the end: the weighted KD part against the weighted CE part.
    const last = readMetricsFile(join(out, c.run.name, 'metrics.jsonl')).filter((r) => r.split === 'train').at(-1);
    const ce = last?.losses?.ce;
    const kd = last?.losses?.kd;
    const ceShare = v.kdRatio > 0 && typeof ce === 'number' && typeof kd === 'number' ? (v.kdRatio * kd) / ((1 - v.kdRatio) * ce) : null;
    runs.push({ key: v.key, seed, valLoss: lm.loss, minimalPairs: mp.mean, seconds, ceShare });
    console.log(`${v.label}, seed ${seed}: validation loss ${lm.loss.toFixed(4)}, minimal pairs ${mp.mean.toFixed(3)}${ceShare !== null ? `, r·ULD / (1−r)·CE at the end ${ceShare.toFixed(3)}` : ''}`);
  }
}

if (onlyRows) {
  console.log(`trained the rows ${onlyRows.join(', ')}; run without --rows for the table`);
  process.exit(0);
}
const noKd = (seed: number) => runs.find((r) => r.key === 'no-kd' && r.seed === seed)!.valLoss;
const rows = VARIANTS.filter((v) => runs.some((r) => r.key === v.key)).map((v) => {
  const mine = runs.filter((r) => r.key === v.key);
  const val = spread(mine.map((r) => r.valLoss));
  const m = spread(mine.map((r) => r.valLoss - noKd(r.seed)));
  const shares = mine.flatMap((r) => (r.ceShare === null ? [] : [r.ceShare]));
  return {
    key: v.key, label: v.label, kdRatio: v.kdRatio, temperature: v.temperature, seeds: mine.map((r) => r.seed), valLoss: val.mean, valLossSd: val.sd,
    margin: m.mean, marginSd: m.sd, wins: mine.filter((r) => r.valLoss < noKd(r.seed)).length, minimalPairs: spread(mine.map((r) => r.minimalPairs)).mean,
    kdToCe: shares.length ? spread(shares).mean : null,
  };
});
console.log(`\n| student (vocab ${tok.vocabSize}; teacher ${teacher.name}, vocab ${S.tok.vocabSize}; ${P.studentSteps} steps) | seeds | val loss (mean ± sd) | − no-KD (mean ± sd) | lower than no-KD | r·ULD / (1−r)·CE at the end | minimal pairs |\n|---|---:|---:|---:|---:|---:|---:|`);
for (const r of rows) {
  const base = r.key === 'no-kd';
  console.log(`| ${r.label} | ${r.seeds.join(', ')} | ${r.valLoss.toFixed(4)} ± ${r.valLossSd.toFixed(4)} | ${base ? '—' : `${signed(r.margin)} ± ${r.marginSd.toFixed(3)}`} | ${base ? '—' : `${r.wins} of ${r.seeds.length}`} | ${r.kdToCe === null ? '—' : r.kdToCe.toFixed(3)} | ${r.minimalPairs.toFixed(3)} |`);
}
const seconds = (performance.now() - started) / 1000;
await writeFile(join(out, 'cross-tokenizer.json'), `${JSON.stringify({
  preset: presetName, adapter: adapterName(), machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadAtStart: Number(loadAtStart.toFixed(2)), loadAtEnd: Number(loadavg()[0].toFixed(2)) },
  seeds, teacher: { name: teacher.name, bestStep: teacher.step, vocab: S.tok.vocabSize }, studentVocab: tok.vocabSize, studentSteps: P.studentSteps,
  rows, runs, seconds: Number(seconds.toFixed(1)),
}, null, 2)}\n`);
if (publish) {
  await mkdir(resolve(publish), { recursive: true });
  await copyFile(join(out, 'cross-tokenizer.json'), join(resolve(publish), 'results.json'));
  console.log(`published results.json to ${resolve(publish)}`);
}
console.log(`wrote ${join(out, 'cross-tokenizer.json')} in ${(seconds / 60).toFixed(1)} min`);
process.exit(0);
