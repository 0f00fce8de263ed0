/**
 * The research use in one command: the Baby Llama demo's student, distilled from the demo's
 * teachers (the same corpus slice, tokenizer, teachers' ensemble logits, steps, kdRatio 0.5, T = 2,
 * per-token reduction) with each divergence of the zoo (forward, reverse, symmetric KL; JS and
 * generalized JSD (GKD); skew forward and reverse KL (DistiLLM); total variation), against the same
 * student trained without distillation, over several seeds; tabulates the validation loss of each
 * (mean and spread over seeds) and its margin against no-KD seed by seed, and overlays the runs.
 *
 * It shares its output folder with `examples/baby-llama.ts` by default, so the demo's teachers and
 * no-KD students are reused, not trained again. The teachers' logits are kept over the whole
 * vocabulary here (the demo keeps the top 128), so every divergence sees the exact teacher.
 *
 * usage: node --import tsx examples/loss-sweep.ts [--preset cpu|smoke] [--seed N] [--seeds K]
 *          [--losses a,b,c] [--corpus embedded|DIR|ZIP] [--out runs/baby-llama-cpu] [--publish DIR]
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { adapterName, init } from '@kdgpu/tensor';
import { loadModel } from '@kdgpu/models/node';
import { evalBatches, evaluateLM, evaluateMinimalPairs, modelScorer, parseMinimalPairs, plotRuns, validateConfig } from '@kdgpu/train';
import { readMetricsFile } from '@kdgpu/train/node';
import { PRESETS, setupBabyLlama, trainOrReuse } from './lib/baby-llama-setup.ts';
import { seedList, signed, spread } from './lib/demo-results.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const presetName = arg('preset', 'cpu');
const P = PRESETS[presetName];
// (P.vocab is the tokenizer's size: the full-vocabulary logits below keep every token.)
if (!P || presetName === 'paper') throw new Error(`--preset: unknown preset ${presetName}; use cpu or smoke`);
const seeds = seedList(arg('seed', '1'), arg('seeds', String(P.seeds)));
const out = resolve(arg('out', `runs/baby-llama-${presetName}`));
const publish = arg('publish', '');

// Each divergence with the option values its source uses by default.
const SWEEP: Record<string, Record<string, unknown>> = {
  forwardKL: {},
  reverseKL: {},
  symmetricKL: { ratio: 0.5 },
  jsDivergence: {},
  generalizedJSD: { beta: 0.5 },
  skewForwardKL: { alpha: 0.1 },
  skewReverseKL: { alpha: 0.1 },
  totalVariation: {},
};
const chosen = arg('losses', Object.keys(SWEEP).join(',')).split(',');
for (const l of chosen) if (!SWEEP[l]) throw new Error(`--losses: unknown loss ${l}; choose from ${Object.keys(SWEEP).join(', ')}`);

await init();
console.log(`loss sweep, preset "${presetName}", seeds ${seeds.join(', ')}, on ${adapterName()}; outputs in ${out}`);
await mkdir(out, { recursive: true });
const started = performance.now();
const loadAtStart = loadavg()[0];
const S = await setupBabyLlama({ P, out, corpusSource: arg('corpus', 'embedded'), teacherSeed: Number(arg('teacher-seed', '2023')) });
// The teachers' ensemble logits over the whole vocabulary: the demo keeps the top 128 (enough for
// forward KL), but reverse KL and its kin weigh the student's mass on every token, and a truncated
// teacher leaves the mass outside the kept tokens unpenalised (their KD term goes negative).
const source = await S.logitsFor('ensemble-full', S.teacherInfo, P.vocab);
// The no-KD students are the demo's own runs (same config), so they are reused.
const runName = (loss: string | null, seed: number) => (loss === null ? `student-no-kd-s${seed}` : `student-${loss}-s${seed}`);

const devTokens = await S.devTokens();
const pairs = parseMinimalPairs(readFileSync(new URL('../packages/train/data/minimal-pairs.jsonl', import.meta.url), 'utf8'));
const scorerTok = { encode: (s: string) => ({ ids: S.tok.encode(s, { addSpecialTokens: false }).ids }), decode: (ids: number[]) => S.tok.decode(ids) };
interface Run { loss: string; seed: number; valLoss: number; minimalPairs: number; seconds: number; run: string }
const runs: Run[] = [];
for (const seed of seeds) {
  // The demo's own run (no KD) last: a demo process still training it can finish first.
  const order = [...chosen, null];
  for (const loss of order) {
    const base = S.student(runName(loss, seed), seed);
    const c = validateConfig(loss === null ? base : { ...base, ...source, distill: { ...S.distill, loss, lossOptions: { ...SWEEP[loss], reduction: P.reduction } } });
    const { seconds } = await trainOrReuse(c, S.tokPath);
    const model = await loadModel(join(out, c.run.name, 'final'));
    const lm = await evaluateLM(model, evalBatches(devTokens, { blockSize: P.block, batchSize: P.batch, maxEvalBlocks: P.evalBlocks, seed: 2023 }));
    const mp = await evaluateMinimalPairs(modelScorer(model, scorerTok), pairs);
    model.dispose();
    const name = loss ?? 'none (CE only)';
    runs.push({ loss: name, seed, valLoss: lm.loss, minimalPairs: mp.mean, seconds, run: c.run.name });
    console.log(`${name}, seed ${seed}: validation loss ${lm.loss.toFixed(4)}, minimal pairs ${mp.mean.toFixed(3)}`);
  }
}

// Per loss: mean and spread over seeds, and the margin against no-KD of the same seed.
const noKd = (seed: number) => runs.find((r) => r.loss.startsWith('none') && r.seed === seed)!.valLoss;
const rows = ['none (CE only)', ...chosen].map((loss) => {
  const mine = runs.filter((r) => r.loss === loss);
  const v = spread(mine.map((r) => r.valLoss));
  const m = spread(mine.map((r) => r.valLoss - noKd(r.seed)));
  return {
    loss, seeds: mine.length, valLoss: v.mean, valLossSd: v.sd, margin: m.mean, marginSd: m.sd, marginMin: m.min, marginMax: m.max,
    wins: mine.filter((r) => r.valLoss < noKd(r.seed)).length, minimalPairs: spread(mine.map((r) => r.minimalPairs)).mean, seconds: spread(mine.map((r) => r.seconds)).mean,
  };
});
const n = seeds.length;
console.log(`\n| KD loss (kdRatio 0.5, T 2, ${P.studentSteps} steps, ${n} seed${n > 1 ? 's' : ''}) | val loss (mean ± sd) | − no-KD (mean ± sd) | range | lower than no-KD | minimal pairs |\n|---|---:|---:|---:|---:|---:|`);
for (const r of rows) {
  const base = r.loss.startsWith('none');
  console.log(`| ${r.loss} | ${r.valLoss.toFixed(4)} ± ${r.valLossSd.toFixed(4)} | ${base ? '—' : `${signed(r.margin)} ± ${r.marginSd.toFixed(3)}`} | ${base ? '—' : `${signed(r.marginMin)} to ${signed(r.marginMax)}`} | ${base ? '—' : `${r.wins} of ${r.seeds}`} | ${r.minimalPairs.toFixed(3)} |`);
}
const seconds = (performance.now() - started) / 1000;
await writeFile(join(out, 'sweep.json'), `${JSON.stringify({
  preset: presetName, adapter: adapterName(), machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadAtStart: Number(loadAtStart.toFixed(2)), loadAtEnd: Number(loadavg()[0].toFixed(2)) },
  seeds, settings: { studentSteps: P.studentSteps, kdRatio: S.distill.kdRatio, temperature: S.distill.temperature, reduction: P.reduction, teachers: S.teacherInfo.map((t) => ({ name: t.name, bestStep: t.step, bestValLoss: t.valLoss })), sweep: SWEEP },
  rows, runs, seconds: Number(seconds.toFixed(1)),
}, null, 2)}\n`);
// The first seed's students overlaid, with the code `kdgpu plot` uses.
const plotted = runs.filter((r) => r.seed === seeds[0]).map((r) => ({ name: r.loss, records: readMetricsFile(join(out, r.run, 'metrics.jsonl')) }));
await writeFile(join(out, 'sweep.svg'), plotRuns(plotted, { title: `Loss sweep (${presetName}): the demo's student, each divergence, seed ${seeds[0]}` }));
if (publish) {
  await mkdir(resolve(publish), { recursive: true });
  for (const f of ['sweep.json', 'sweep.svg']) await copyFile(join(out, f), join(resolve(publish), f));
  console.log(`published sweep.json and sweep.svg to ${resolve(publish)}`);
}
console.log(`wrote ${join(out, 'sweep.json')} and ${join(out, 'sweep.svg')} in ${(seconds / 60).toFixed(1)} min`);
process.exit(0);
