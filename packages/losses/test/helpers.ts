import { readFile } from 'node:fs/promises';

/** The PyTorch fixture written by fixtures/make_losses_fixture.py. */
export interface Fixture {
  datasets: Record<string, { shape: number[]; student: Nested; teachers: Nested[]; labels: Nested }>;
  cases: Array<{
    loss: string;
    data: string;
    opts: Record<string, unknown> & { teachers?: number };
    value: number | Nested;
    grad: Nested;
    weights?: Nested;
  }>;
}
export type Nested = number | Nested[];

/** Reads losses.json, decoding the "inf" / "-inf" / "nan" strings JSON cannot hold as numbers. */
export async function loadFixture(): Promise<Fixture> {
  const text = await readFile(new URL('./fixtures/losses.json', import.meta.url), 'utf8');
  return JSON.parse(text, (_k, v) => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === 'nan' ? NaN : v)) as Fixture;
}

/** Flattens nested arrays row-major. */
export function flat(x: Nested): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x];
}

/** Largest |a - b| / (atol + rtol·|b|) over the elements; <= 1 means close. Infinities must match exactly. */
export function closeness(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number): { worst: number; at: number } {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const b = expected[i];
    const r = a === b ? 0 : Number.isNaN(a) || Number.isNaN(b) ? Infinity : Math.abs(a - b) / (atol + rtol * Math.abs(b));
    if (r > worst) {
      worst = r;
      at = i;
    }
  }
  return { worst, at };
}
