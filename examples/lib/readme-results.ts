/**
 * README's Results section, generated from the committed results: `docs/demo/results.json` (the
 * Baby Llama demo, and `docs/demo/untuned-seed-N.json`: its runs on seeds the preset was not designed on),
 * `docs/loss-sweep/sweep.json` and `docs/cross-tokenizer/results.json`. The text
 * between `<!-- results:begin -->` and `<!-- results:end -->` is this module's output, and a test
 * checks that it still is; after a new run (`--publish docs/...`), regenerate it with
 *
 *   node --import tsx examples/lib/readme-results.ts
 * @module
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type DemoRow, signed } from './demo-results.ts';

export const BEGIN = '<!-- results:begin -->';
export const END = '<!-- results:end -->';

const LABEL: Record<string, string> = {
  'gpt2-teacher': 'GPT-2 teacher', 'llama-teacher': 'LLaMA teacher', 'student-distilled': 'student, distilled from both',
  'student-no-kd': 'student, no distillation', 'student-best-teacher': 'student, distilled from the best teacher only',
};

interface DemoResults {
  preset: string; adapter: string; machine: { cpu: string; cores: number; runtime: string; loadAtStart: number; loadAtEnd: number };
  corpus: Array<{ name: string; trainWords: number; devWords: number }>; seeds: number[]; teacherSeed: number;
  settings: { vocab: number; block: number; batch: number; studentSteps: number; offlineTopK: number | null; reduction: string; gpt2Steps: number; llamaSteps: number; teacherEvalEvery: number };
  teachers: Array<{ name: string; bestStep: number; bestValLoss: number; reused: boolean }>; bestTeacher: string;
  table: DemoRow[]; margins: { perSeed: Array<{ seed: number; margin: number }>; spread: { mean: number; sd: number; min: number; max: number }; wins: number; singleTeacher: Array<{ seed: number; margin: number; vsEnsemble: number }> };
  beatsTeachers: Array<{ teacher: string; valLoss: number; seedsBeaten: number; of: number }>; verdict: string; seconds: number;
  trainTokens: number; reusedRuns: string[]; trainSeconds: number;
}

/** The adapter's name without Dawn's prefix and version noise: `llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)`. */
export function shortAdapter(a: string): string {
  const m = /llvmpipe: Mesa ([\d.]+)\S* \(LLVM ([\d.]+)\)/.exec(a);
  return m ? `llvmpipe: Mesa ${m[1]} (LLVM ${m[2]})` : a;
}

/** How long it took, saying which runs came from earlier invocations. */
function timing(r: DemoResults): string {
  const load = `load average ${r.machine.loadAtStart} at the start, ${r.machine.loadAtEnd} at the end`;
  if (r.reusedRuns.length === 0) return `The whole recipe took ${(r.seconds / 60).toFixed(1)} minutes (${load}).`;
  return `The training of all ${r.table.length} runs took ${(r.trainSeconds / 60).toFixed(1)} minutes summed; they ran as several processes (the two teachers and each seed apart) on a machine shared with other jobs, so the invocation that wrote the table reused ${r.reusedRuns.length} finished runs and took ${(r.seconds / 60).toFixed(1)} minutes itself (${load}).`;
}

function demoSection(r: DemoResults): string[] {
  const words = r.corpus.reduce((a, f) => a + f.trainWords, 0);
  const mp = r.table.map((x) => x['minimal pairs']);
  const nearChance = mp.every((x) => x >= 0.35 && x <= 0.65);
  const s = r.settings;
  const t = (name: string) => r.teachers.find((x) => x.name === name);
  const offlineText = s.offlineTopK ? `, and the teachers' logits computed once over the fixed training blocks (top ${s.offlineTopK} of ${s.vocab} kept) instead of running both teachers at every step` : '';
  const out = [
    `\`npm run demo\` (the \`${r.preset}\` preset) on this project's machine: ${r.machine.cores} CPU cores (${r.machine.cpu}), no GPU, WebGPU through`,
    `Mesa lavapipe (\`${shortAdapter(r.adapter)}\`), ${r.machine.runtime}. BabyLM's setting in miniature: the embedded`,
    `corpus (Austen, the World English Bible, fortunes) cut to ${words.toLocaleString('en-US')} training words, a ${s.vocab}-token BPE, blocks of ${s.block}, batches of ${s.batch};`,
    `a GPT-2 teacher (${s.gpt2Steps} steps) and a LLaMA teacher (${s.llamaSteps} steps), evaluated every ${s.teacherEvalEvery} steps and each used at its best`,
    `checkpoint (GPT-2 step ${t('gpt2-teacher')?.bestStep}, LLaMA step ${t('llama-teacher')?.bestStep}); students ${s.studentSteps} steps (${((s.studentSteps * s.batch * s.block) / r.trainTokens).toFixed(1)} epochs of ${r.trainTokens.toLocaleString('en-US')} tokens) with and without`,
    `distillation on the same blocks; distillation as Baby Llama (mean of the two teachers' logits, T = 2, α = 0.5, forward KL)`,
    `but with the KD term averaged per token like the cross-entropy (\`reduction: '${s.reduction}'\`)${offlineText}. The teachers were trained once (seed`,
    `${r.teacherSeed}); the students over seeds ${r.seeds.join(', ')}. ${timing(r)}`,
    `Validation on the same held-out blocks of the dev split; "best val (step)" is the lowest validation loss during training;`,
    `minimal pairs are the 80 hand-written pairs in \`packages/train/data/\` (chance is 0.5). From`,
    `[\`docs/demo/results.json\`](docs/demo/results.json):`,
    '',
    '| model | seed | steps | params | val loss | best val (step) | perplexity | minimal pairs | train s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.table.map((x) => `| ${LABEL[x.model] ?? x.model} | ${x.seed} | ${x.steps} | ${x.params.toLocaleString('en-US')} | ${x['val loss'].toFixed(4)} | ${x['best val (step)']} | ${x.perplexity.toFixed(2)} | ${x['minimal pairs'].toFixed(3)} | ${x['train s'].toFixed(1)} |`),
    '',
    `Distilled − no-KD per seed: ${r.margins.perSeed.map((m) => `${signed(m.margin)} (seed ${m.seed})`).join(', ')}; mean ${signed(r.margins.spread.mean)} nats, sd ${r.margins.spread.sd.toFixed(3)}.`,
    ...r.margins.singleTeacher.map((m) => `The student distilled from the best single teacher (${LABEL[r.bestTeacher] ?? r.bestTeacher}) alone, seed ${m.seed}: ${signed(m.margin)} against no-KD, ${signed(m.vsEnsemble)} against the ensemble's student.`),
    '',
    `![losses, perplexity and learning rate of the teachers and the first seed's students](docs/demo/loss.svg)`,
    '',
    `**${r.verdict}**`,
    '',
    nearChance
      ? `The minimal-pair accuracies (${Math.min(...mp).toFixed(3)} to ${Math.max(...mp).toFixed(3)}) are near chance at this scale: models this small, trained on ${words.toLocaleString('en-US')} words, do not tell the grammatical sentence of a pair from the other; validation loss is the measure here.`
      : `Minimal-pair accuracies range from ${Math.min(...mp).toFixed(3)} to ${Math.max(...mp).toFixed(3)} (chance 0.5).`,
  ];
  return out;
}

interface SweepRow { loss: string; seeds: number; valLoss: number; valLossSd: number; margin: number; marginSd: number; marginMin: number; marginMax: number; wins: number; minimalPairs: number }
function sweepSection(w: { adapter: string; machine: { cores: number; cpu: string; loadAtStart: number; loadAtEnd: number }; seeds: number[]; rows: SweepRow[]; settings: { studentSteps: number; sweep: Record<string, { beta?: number }> }; seconds: number }): string[] {
  const best = w.rows.filter((r) => !r.loss.startsWith('none')).reduce((a, b) => (b.margin < a.margin ? b : a));
  const gjsdIsJsd = w.settings.sweep.generalizedJSD?.beta === 0.5 && w.rows.some((r) => r.loss === 'jsDivergence');
  return [
    '### Loss sweep',
    `[\`examples/loss-sweep.ts\`](examples/loss-sweep.ts) on the demo's setting (its teachers, their ensemble logits over the whole vocabulary, ${w.settings.studentSteps} student steps, kdRatio 0.5, T = 2,`,
    `per-token reduction), each divergence of the zoo against no distillation, seeds ${w.seeds.join(', ')} (margins are taken seed by seed), on the same machine`,
    `(${w.machine.cores} cores, \`${shortAdapter(w.adapter)}\`): ${(w.seconds / 60).toFixed(0)} minutes, load average ${w.machine.loadAtStart} at the start, ${w.machine.loadAtEnd} at the end.`,
    `From [\`docs/loss-sweep/sweep.json\`](docs/loss-sweep/sweep.json):`,
    '',
    '| KD loss | val loss (mean ± sd) | − no-KD (mean ± sd) | range | lower than no-KD | minimal pairs |',
    '|---|---:|---:|---:|---:|---:|',
    ...w.rows.map((r) => {
      const base = r.loss.startsWith('none');
      return `| ${r.loss} | ${r.valLoss.toFixed(4)} ± ${r.valLossSd.toFixed(4)} | ${base ? '—' : `${signed(r.margin)} ± ${r.marginSd.toFixed(3)}`} | ${base ? '—' : `${signed(r.marginMin)} to ${signed(r.marginMax)}`} | ${base ? '—' : `${r.wins} of ${r.seeds}`} | ${r.minimalPairs.toFixed(3)} |`;
    }),
    '',
    `Largest mean gain: ${best.loss} (${signed(best.margin)} nats).${gjsdIsJsd ? ' generalizedJSD at β = 0.5 is the JSD itself, hence the equal rows.' : ''} The runs of seed ${w.seeds[0]}, overlaid:`,
    '',
    '![loss sweep: every divergence\'s student, overlaid](docs/loss-sweep/sweep.svg)',
  ];
}

interface XtokRow { key: string; label: string; seeds: number[]; valLoss: number; valLossSd: number; margin: number; marginSd: number; wins: number; kdToCe: number | null; minimalPairs: number }
/** What the cross-tokenizer rows say, in one or two sentences with their numbers. */
function crossVerdict(rows: XtokRow[]): string {
  const uld = rows.filter((r) => r.key !== 'no-kd');
  if (uld.length === 0) return 'Only the no-KD student ran.';
  const best = uld.reduce((a, b) => (b.margin < a.margin ? b : a));
  const paper = uld.find((r) => r.key === 'uld-r0.5');
  const parts: string[] = [];
  if (paper) {
    parts.push(`At r 0.5 (λ 1) the ULD term is ${paper.kdToCe === null ? 'n/a' : paper.kdToCe.toFixed(3)} of the CE term at the end of training and the student ends ${signed(paper.margin)} nats from no-KD (lower on ${paper.wins} of ${paper.seeds.length} seeds): ` +
      (Math.abs(paper.margin) < 0.01 ? 'ULD at that weight is too small a term to change training (a sum of absolute differences of probabilities, mostly tiny ones).' : paper.margin < 0 ? 'it helps.' : 'it hurts.'));
  }
  if (best !== paper) parts.push(`The best ULD row is ${best.label}: ${signed(best.margin)} nats against no-KD, lower on ${best.wins} of ${best.seeds.length} seeds.`);
  return parts.join(' ');
}

function crossSection(x: { adapter: string; machine: { cores: number; loadAtStart: number; loadAtEnd: number }; seconds: number; teacher: { name: string; vocab: number }; studentVocab: number; studentSteps: number; rows: XtokRow[] }): string[] {
  return [
    '### Cross-tokenizer distillation',
    `[\`examples/cross-tokenizer.ts\`](examples/cross-tokenizer.ts): the demo's best teacher (${LABEL[x.teacher.name] ?? x.teacher.name}, its ${x.teacher.vocab}-token BPE) into the demo's`,
    `student with a ${x.studentVocab}-token BPE, with Universal Logit Distillation, ${x.studentSteps} steps; loss (1 − r)·CE + r·ULD, which under AdamW is the paper's`,
    `CE + λ·ULD with λ = r / (1 − r). The last column compares the two weighted terms at the end of training. Same machine (${x.machine.cores} cores,`,
    `\`${shortAdapter(x.adapter)}\`), ${(x.seconds / 60).toFixed(0)} minutes, load average ${x.machine.loadAtStart} at the start, ${x.machine.loadAtEnd} at the end. Why ULD does not help here, and what`,
    `would: [\`docs/cross-tokenizer/README.md\`](docs/cross-tokenizer/README.md). From`,
    `[\`docs/cross-tokenizer/results.json\`](docs/cross-tokenizer/results.json):`,
    '',
    '| student | seeds | val loss (mean ± sd) | − no-KD (mean ± sd) | lower than no-KD | r·ULD / (1−r)·CE at the end | minimal pairs |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...x.rows.map((r) => {
      const base = r.key === 'no-kd';
      return `| ${r.label} | ${r.seeds.join(', ')} | ${r.valLoss.toFixed(4)} ± ${r.valLossSd.toFixed(4)} | ${base ? '—' : `${signed(r.margin)} ± ${r.marginSd.toFixed(3)}`} | ${base ? '—' : `${r.wins} of ${r.seeds.length}`} | ${r.kdToCe === null ? '—' : r.kdToCe.toFixed(3)} | ${r.minimalPairs.toFixed(3)} |`;
    }),
    '',
    crossVerdict(x.rows),
  ];
}

/** One sentence per run of the demo on a seed the preset was not designed on (`docs/demo/untuned-seed-N.json`). */
function untunedSection(runs: DemoResults[]): string[] {
  return runs.map((u) => {
    const m = u.margins.perSeed[0]!;
    const dist = u.table.find((x) => x.model === 'student-distilled')!['val loss'];
    const none = u.table.find((x) => x.model === 'student-no-kd')!['val loss'];
    return `On a seed not used while designing the preset (\`npm run demo -- --seed ${m.seed} --seeds 1\`, [\`docs/demo/untuned-seed-${m.seed}.json\`](docs/demo/untuned-seed-${m.seed}.json)): distilled ${dist.toFixed(4)}, no-KD ${none.toFixed(4)}, a margin of ${signed(m.margin)} nats.`;
  });
}

/** The Results section's body from the results files' contents (null when a file is missing). */
export function renderResults(demo: unknown, sweep: unknown, cross: unknown, untuned: unknown[] = []): string {
  const lines = [BEGIN, ...demoSection(demo as DemoResults)];
  if (untuned.length) lines.push('', ...untunedSection(untuned as DemoResults[]));
  lines.push('', ...(sweep ? sweepSection(sweep as Parameters<typeof sweepSection>[0]) : [
    '### Loss sweep',
    'No committed results yet: [`examples/loss-sweep.ts`](examples/loss-sweep.ts) runs every divergence of the zoo on the demo\'s setting',
    '(`node --import tsx examples/loss-sweep.ts --publish docs/loss-sweep` after `npm run demo`, which it reuses); its results go to `docs/loss-sweep/`.',
  ]));
  lines.push('', ...(cross ? crossSection(cross as Parameters<typeof crossSection>[0]) : [
    '### Cross-tokenizer distillation',
    'No committed results yet: [`examples/cross-tokenizer.ts`](examples/cross-tokenizer.ts) distils the demo\'s best teacher into a student with another BPE',
    '(`node --import tsx examples/cross-tokenizer.ts --variants --publish docs/cross-tokenizer` after `npm run demo`); its results go to `docs/cross-tokenizer/`.',
  ]));
  lines.push(END);
  return lines.join('\n');
}

/** The committed results files, read from `root`: demo, loss sweep, cross-tokenizer, untuned seeds. */
export function readCommittedResults(root: string): [unknown, unknown, unknown, unknown[]] {
  const read = (p: string) => (existsSync(`${root}/${p}`) ? JSON.parse(readFileSync(`${root}/${p}`, 'utf8')) : null);
  const seedOf = (f: string) => Number(/^untuned-seed-(\d+)\.json$/.exec(f)?.[1] ?? NaN);
  const untuned = (existsSync(`${root}/docs/demo`) ? readdirSync(`${root}/docs/demo`) : []).filter((f) => Number.isFinite(seedOf(f))).sort((a, b) => seedOf(a) - seedOf(b));
  return [read('docs/demo/results.json'), read('docs/loss-sweep/sweep.json'), read('docs/cross-tokenizer/results.json'), untuned.map((f) => read(`docs/demo/${f}`))];
}

/** Replaces the text between the markers of `readme` with `section` (which carries them). */
export function replaceSection(readme: string, section: string): string {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md: no ${BEGIN} ... ${END} markers around the Results section; put them back`);
  return readme.slice(0, a) + section + readme.slice(b + END.length);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const [demo, sweep, cross, untuned] = readCommittedResults(root);
  if (!demo) throw new Error('docs/demo/results.json is missing: run `npm run demo -- --publish docs/demo` first');
  const path = `${root}/README.md`;
  writeFileSync(path, replaceSection(readFileSync(path, 'utf8'), renderResults(demo, sweep, cross, untuned)));
  console.log('README.md: Results section regenerated');
}
