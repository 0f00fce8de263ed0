/**
 * The page's run settings: two presets (the default for a real GPU, and `?smoke=1`, tiny enough
 * for a software adapter and the end-to-end test), written into the form and read back from it.
 * @module
 */

/** Everything one run uses. Widths are hidden sizes; steps are optimizer steps. */
export interface Settings {
  vocabSize: number;
  blockSize: number;
  batchSize: number;
  teacher: ModelSettings;
  student: ModelSettings;
  loss: string;
  kdRatio: number;
  temperature: number;
  /** Log (and redraw the plot) every this many steps; validate every `evalEvery`. */
  logEvery: number;
  evalEvery: number;
  /** Validation blocks evaluated each time. */
  maxEvalBlocks: number;
  prompt: string;
  genMode: 'greedy' | 'sample';
  genTokens: number;
}

export interface ModelSettings {
  width: number;
  layers: number;
  steps: number;
  lr: number;
}

/** For a real GPU: a few minutes of training, text that starts to look like English. */
export const DEFAULT_SETTINGS: Settings = {
  vocabSize: 1024,
  blockSize: 64,
  batchSize: 16,
  teacher: { width: 128, layers: 4, steps: 400, lr: 3e-3 },
  student: { width: 64, layers: 2, steps: 400, lr: 3e-3 },
  loss: 'forwardKL',
  kdRatio: 0.5,
  temperature: 2,
  logEvery: 10,
  evalEvery: 50,
  maxEvalBlocks: 64,
  prompt: 'Mrs. Dashwood',
  genMode: 'greedy',
  genTokens: 48,
};

/** `?smoke=1`: seconds on a software adapter (the end-to-end test). */
export const SMOKE_SETTINGS: Settings = {
  vocabSize: 320,
  blockSize: 32,
  batchSize: 4,
  teacher: { width: 64, layers: 2, steps: 20, lr: 1e-2 },
  student: { width: 32, layers: 1, steps: 16, lr: 1e-2 },
  loss: 'forwardKL',
  kdRatio: 0.5,
  temperature: 2,
  logEvery: 2,
  evalEvery: 4,
  maxEvalBlocks: 8,
  prompt: 'Mrs. Dashwood',
  // A model this undertrained repeats one token greedily; sampling shows what it has learnt.
  genMode: 'sample',
  genTokens: 32,
};

const FIELDS = {
  'vocab-size': ['vocabSize'],
  'block-size': ['blockSize'],
  'batch-size': ['batchSize'],
  'teacher-width': ['teacher', 'width'],
  'teacher-layers': ['teacher', 'layers'],
  'teacher-steps': ['teacher', 'steps'],
  'teacher-lr': ['teacher', 'lr'],
  'student-width': ['student', 'width'],
  'student-layers': ['student', 'layers'],
  'student-steps': ['student', 'steps'],
  'student-lr': ['student', 'lr'],
  'kd-ratio': ['kdRatio'],
  temperature: ['temperature'],
  'gen-tokens': ['genTokens'],
} as const;

/** Fields that may hold fractions; every other number is a count. */
const FRACTIONAL = new Set(['teacher-lr', 'student-lr', 'kd-ratio', 'temperature']);

function input(id: string): HTMLInputElement | HTMLSelectElement {
  const el = document.getElementById(id);
  if (!(el instanceof HTMLInputElement || el instanceof HTMLSelectElement)) throw new Error(`page: no form field #${id}`);
  return el;
}

type Path = readonly [keyof Settings] | readonly ['teacher' | 'student', keyof ModelSettings];

function getAt(s: Settings, path: Path): number {
  return path.length === 1 ? (s[path[0]] as number) : s[path[0]][path[1]];
}

function setAt(s: Settings, path: Path, v: number): void {
  if (path.length === 1) (s as unknown as Record<string, number>)[path[0]] = v;
  else s[path[0]][path[1]] = v;
}

/** Fills the form with `s`. */
export function writeForm(s: Settings): void {
  for (const [id, path] of Object.entries(FIELDS)) input(id).value = String(getAt(s, path));
  input('loss').value = s.loss;
  input('prompt').value = s.prompt;
  input('gen-mode').value = s.genMode;
}

/**
 * Reads the form back, starting from `base` for what the form does not show. Throws an Error
 * naming the field when a number is missing or out of its range.
 */
export function readForm(base: Settings): Settings {
  const s: Settings = structuredClone(base);
  for (const [id, path] of Object.entries(FIELDS)) {
    const el = input(id) as HTMLInputElement;
    const v = Number(el.value);
    const min = el.min === '' ? -Infinity : Number(el.min);
    const max = el.max === '' ? Infinity : Number(el.max);
    const label = el.closest('label')?.textContent?.trim() ?? id;
    if (el.value.trim() === '' || !Number.isFinite(v)) throw new Error(`${label} (#${id}): enter a number`);
    if (v < min || v > max) throw new Error(`${label} (#${id}): ${v} is outside ${min}…${max}`);
    if (!FRACTIONAL.has(id) && !Number.isInteger(v)) throw new Error(`${label} (#${id}): ${v} is not a whole number`);
    setAt(s, path, v);
  }
  s.loss = input('loss').value;
  s.prompt = input('prompt').value;
  s.genMode = input('gen-mode').value === 'sample' ? 'sample' : 'greedy';
  return s;
}
