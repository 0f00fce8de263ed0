/**
 * The Baby Llama demo's numbers: seed lists, the per-seed margins of distillation (distilled −
 * no-KD), their mean and spread, whether the distilled students beat each teacher, and the verdict
 * sentence. Pure functions (no file system), so the README generator and the tests use them too.
 * @module
 */

/** One row of the demo's table (`results.json`'s `table`). */
export interface DemoRow {
  /** `gpt2-teacher`, `llama-teacher`, `student-distilled`, `student-no-kd` or `student-best-teacher`. */
  model: string;
  seed: number;
  steps: number;
  params: number;
  'val loss': number;
  'best val (step)': string;
  perplexity: number;
  'minimal pairs': number;
  'train s': number;
  [column: string]: string | number;
}

/** Per seed: the distilled and no-KD students' validation losses and their difference. */
export interface SeedMargin { seed: number; distilled: number; noKd: number; margin: number }

/** Mean, sample standard deviation (n − 1; 0 for one value), min and max. */
export interface Spread { n: number; mean: number; sd: number; min: number; max: number }

export interface DemoSummary {
  margins: { perSeed: SeedMargin[]; spread: Spread; wins: number; singleTeacher: Array<SeedMargin & { vsEnsemble: number }> };
  beatsTeachers: Array<{ teacher: string; valLoss: number; seedsBeaten: number; of: number }>;
  /** Human-readable lines (margins, teachers, minimal pairs). */
  lines: string[];
  /** One sentence with the numbers. */
  verdict: string;
}

/**
 * The student seeds from `--seed N` (first seed) and `--seeds K` (how many): N, N+1, ..., N+K-1.
 * Throws, naming the flag, for anything but whole numbers (N >= 0, 1 <= K <= 100).
 */
export function seedList(seed: string, count: string): number[] {
  const n = Number(seed);
  const k = Number(count);
  if (!/^\d+$/.test(seed.trim()) || !Number.isSafeInteger(n)) throw new Error(`--seed: expected a whole number >= 0, got "${seed}"`);
  if (!/^\d+$/.test(count.trim()) || k < 1 || k > 100) throw new Error(`--seeds: expected a whole number from 1 to 100, got "${count}"`);
  return Array.from({ length: k }, (_, i) => n + i);
}

/** Mean, sample standard deviation, min and max of `xs` (at least one value). */
export function spread(xs: readonly number[]): Spread {
  if (xs.length === 0) throw new Error('spread: no values');
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { n: xs.length, mean, sd, min: Math.min(...xs), max: Math.max(...xs) };
}

const TEACHER_LABEL: Record<string, string> = { 'gpt2-teacher': 'GPT-2 teacher', 'llama-teacher': 'LLaMA teacher' };

/** Signed, fixed digits: −0.1234 / +0.0123. */
export function signed(x: number, digits = 3): string {
  return `${x < 0 ? '−' : '+'}${Math.abs(x).toFixed(digits)}`;
}

/**
 * Margins per seed, their spread, the single-best-teacher students against the ensemble's, and
 * how many seeds' distilled students beat each teacher; `rows` is the demo's table.
 */
export function summarizeDemo(rows: readonly DemoRow[], o: { bestTeacher: string }): DemoSummary {
  const loss = (model: string, seed: number) => rows.find((r) => r.model === model && r.seed === seed)?.['val loss'];
  const seeds = [...new Set(rows.filter((r) => r.model === 'student-distilled').map((r) => r.seed))];
  const perSeed: SeedMargin[] = [];
  for (const seed of seeds) {
    const distilled = loss('student-distilled', seed);
    const noKd = loss('student-no-kd', seed);
    if (distilled === undefined || noKd === undefined) throw new Error(`summarizeDemo: seed ${seed} lacks a student-distilled or student-no-kd row`);
    perSeed.push({ seed, distilled, noKd, margin: distilled - noKd });
  }
  if (perSeed.length === 0) throw new Error('summarizeDemo: no student-distilled rows');
  const s = spread(perSeed.map((m) => m.margin));
  const wins = perSeed.filter((m) => m.margin < 0).length;
  const singleTeacher = perSeed.flatMap((m) => {
    const single = loss('student-best-teacher', m.seed);
    return single === undefined ? [] : [{ seed: m.seed, distilled: single, noKd: m.noKd, margin: single - m.noKd, vsEnsemble: single - m.distilled }];
  });
  const teachers = rows.filter((r) => r.model.endsWith('-teacher') && r.model !== 'student-best-teacher');
  const beatsTeachers = teachers.map((t) => ({ teacher: t.model, valLoss: t['val loss'], seedsBeaten: perSeed.filter((m) => m.distilled < t['val loss']).length, of: perSeed.length }));
  const n = perSeed.length;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const lines = [
    `\ndistilled − no-KD validation loss per seed: ${perSeed.map((m) => `seed ${m.seed} ${signed(m.margin)}`).join(', ')}`,
    `mean ${signed(s.mean)} nats${n > 1 ? `, sd ${s.sd.toFixed(3)}, range ${signed(s.min)} to ${signed(s.max)}` : ''}; the distilled student is lower on ${wins} of ${n} seeds`,
    ...singleTeacher.map((m) => `student distilled from the best single teacher (${TEACHER_LABEL[o.bestTeacher] ?? o.bestTeacher}), seed ${m.seed}: ${m.distilled.toFixed(4)}, ${signed(m.margin)} against no-KD, ${signed(m.vsEnsemble)} against the ensemble's student`),
    ...beatsTeachers.map((b) => `the distilled student is below the ${TEACHER_LABEL[b.teacher] ?? b.teacher} (${b.valLoss.toFixed(4)}) on ${b.seedsBeaten} of ${b.of} seeds`),
  ];
  const how = wins === n ? (n > 1 ? ` on every seed (${n} of ${n})` : '') : wins === 0 ? '' : ` on only ${wins} of ${n} seeds`;
  const teacherPart = beatsTeachers.map((b) => `the ${TEACHER_LABEL[b.teacher] ?? b.teacher} (${b.valLoss.toFixed(3)}) on ${b.seedsBeaten} of ${b.of}`).join(' and ');
  const verdict = `The distilled student ${wins === 0 ? 'did not beat' : 'beat'} the student trained without distillation${how}: mean validation loss ` +
    `${mean(perSeed.map((m) => m.distilled)).toFixed(3)} against ${mean(perSeed.map((m) => m.noKd)).toFixed(3)}, a margin of ${signed(s.mean)} nats` +
    `${n > 1 ? ` (sd ${s.sd.toFixed(3)})` : ''}${teacherPart ? `; it was below ${teacherPart} seeds` : ''}.`;
  return { margins: { perSeed, spread: s, wins, singleTeacher }, beatsTeachers, lines, verdict };
}
