import { adapterName, device } from '../device.ts';
import { sync } from '../engine.ts';
import { envVar } from '../env.ts';
import { randn } from './random.ts';
import { CANDIDATES, type MatmulVariant } from './matmul-kernels.ts';
import { matmul, setMatmulVariant } from './matmul.ts';
import { tidy } from '../scope.ts';
import type { Tensor } from '../tensor.ts';

/**
 * How a matmul choice was measured, as a store keeps it: enough to tell later whether the choice
 * has gone stale (timings taken while the machine was busy, a driver update) and to show a user
 * why a kernel was picked.
 */
export interface TuneRecord {
  /** The chosen kernel. */
  choice: string;
  /** Best time per candidate in ms, at `size`^3. */
  ms: Record<string, number>;
  /** Side of the square product timed. */
  size: number;
  /** Timed runs per candidate (best kept). */
  reps: number;
  /** The adapter, as `adapterName()` reports it. */
  adapter: string;
  /** When it was measured (ISO 8601). */
  date: string;
  /** The host's load when it was measured (see `TuneStore.load`), if the store could tell. */
  load?: number;
}

/**
 * Where a tuning result outlives the process: the training CLI keeps a JSON file in the user's
 * cache folder (`fileTuneStore` in `@kdgpu/train/node`), a browser page could use localStorage.
 */
export interface TuneStore {
  /** The record saved under `key`; a plain string is a choice saved without its timings (older kdgpu). */
  read(key: string): TuneRecord | string | null | undefined | Promise<TuneRecord | string | null | undefined>;
  write(key: string, record: TuneRecord): void | Promise<void>;
  /** Where the records are kept (a file path), for the log lines. */
  readonly where?: string;
  /**
   * How busy the host is now, e.g. the 1-minute load average per CPU core (the tensor package
   * cannot ask the OS). Recorded with the timings; a choice timed under a much higher load than
   * now is tuned again.
   */
  load?(): number | null | undefined;
}

export interface TuneOptions {
  /** Side of the square product timed (default 512). */
  size?: number;
  /** Timed runs per candidate, best kept (default 2). */
  reps?: number;
  /** Progress and result lines. */
  log?: (s: string) => void;
  /** Reuse (and save) the choice for this adapter. */
  store?: TuneStore;
  /** Time the candidates even if this process or the store already has a choice. */
  force?: boolean;
  /**
   * Re-check a stored choice before using it (default true): the chosen kernel and the runner-up
   * are timed once, and everything is tuned again when the choice has gone stale (see
   * {@link tuneMatmul}). False trusts the store as it is.
   */
  recheck?: boolean;
  /**
   * Measures one candidate (by name) and returns its best time in ms, instead of timing it on the
   * GPU. For tests, which inject timings to make a decision deterministic; with it, the
   * per-process cache is neither read nor set.
   */
  time?: (candidate: string) => number | Promise<number>;
}

export interface TuneResult {
  choice: string;
  /** Best time per candidate measured by this call (all of them when timed; the choice and the runner-up when re-checked; empty otherwise). */
  ms: Record<string, number>;
  /**
   * Where the choice came from: timed now; this process's earlier choice; the store, re-checked
   * (or not, with `recheck: false`); `KDGPU_MATMUL`.
   */
  source: 'timed' | 'process' | 'store' | 'pinned';
  /** Why the candidates were timed although the store had a choice (it had gone stale). */
  retuned?: string;
  /** The record now in effect (timed or stored). */
  record?: TuneRecord;
}

/** A re-checked choice is stale when it is this much slower than the runner-up, timed side by side. */
export const STALE_VS_RUNNER_UP = 1.15;
/** ... or this much slower than its recorded time (a driver or kernel change), unless the machine is busier now. */
export const STALE_VS_RECORDED = 1.6;
/** ... or when it was timed under a load this many times today's (and above one busy core). */
export const STALE_LOAD_RATIO = 2;

// The device the current choice was tuned on: a new device (another adapter, or after a loss)
// is tuned again.
let tunedOn: GPUDevice | null = null;
let tunedChoice = '';

/** The store key: the adapter, and the candidate list (a new kernel set invalidates old choices). */
function storeKey(): string {
  return `matmul ${adapterName()} [${CANDIDATES.map((c) => c.name).join(',')}]`;
}

/** A stored value as a record, or null when it is missing, malformed, names no current kernel, or has no timings. */
function asRecord(v: unknown): TuneRecord | null {
  if (!v || typeof v !== 'object') return null;
  const r = v as Partial<TuneRecord>;
  if (typeof r.choice !== 'string' || !CANDIDATES.some((c) => c.name === r.choice)) return null;
  if (!r.ms || typeof r.ms !== 'object' || typeof r.ms[r.choice] !== 'number' || !(r.ms[r.choice]! > 0)) return null;
  if (typeof r.size !== 'number' || typeof r.reps !== 'number') return null;
  return r as TuneRecord;
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
const loadNow = (store: TuneStore | undefined): number | undefined => {
  const l = store?.load?.();
  return typeof l === 'number' && Number.isFinite(l) ? l : undefined;
};

/** Times candidates on the GPU: a warm-up (compiling) run each, then `reps` rounds over all of them in turn, best kept. */
async function gpuTimer(names: readonly string[], size: number, reps: number): Promise<Record<string, number>> {
  const variants = names.map((n) => CANDIDATES.find((c) => c.name === n)!);
  const a: Tensor = randn([size, size], { seed: 1 });
  const b: Tensor = randn([size, size], { seed: 2 });
  const ms: Record<string, number> = Object.fromEntries(names.map((n) => [n, Infinity]));
  try {
    for (const v of variants) {
      setMatmulVariant(v);
      tidy(() => void matmul(a, b)); // compile and warm up
      await sync();
    }
    // Round-robin rather than one candidate after another: a burst of load elsewhere on the
    // machine then slows every candidate alike instead of whichever was being timed.
    for (let r = 0; r < reps; r++) {
      for (const v of variants) {
        setMatmulVariant(v);
        const t0 = performance.now();
        tidy(() => void matmul(a, b));
        await sync();
        ms[v.name] = Math.min(ms[v.name]!, performance.now() - t0);
      }
    }
  } finally {
    a.dispose();
    b.dispose();
  }
  return ms;
}

async function measure(names: readonly string[], size: number, reps: number, time: TuneOptions['time']): Promise<Record<string, number>> {
  if (!time) return gpuTimer(names, size, reps);
  const ms: Record<string, number> = {};
  for (const n of names) ms[n] = await time(n);
  return ms;
}

/**
 * Whether a stored choice has gone stale, from the chosen kernel and the runner-up timed now side
 * by side (`now`) and the loads then and now. Returns the reason and whether it rests on the
 * timings (worth a second look) or on the loads, or null to keep the choice.
 */
function staleReason(rec: TuneRecord, runnerUp: string, now: Record<string, number>, loadThen?: number, loadToday?: number): { by: 'timings' | 'load'; why: string } | null {
  const c = now[rec.choice]!;
  const r = now[runnerUp]!;
  if (c > STALE_VS_RUNNER_UP * r) return { by: 'timings', why: `${rec.choice} now takes ${fmt(c)}, the runner-up ${runnerUp} ${fmt(r)}` };
  const then = rec.ms[rec.choice]!;
  // Slower than recorded counts only when the machine is not busier than it was then: a busy
  // moment slows every kernel alike, which the side-by-side comparison above already allows for.
  const busierNow = loadThen !== undefined && loadToday !== undefined && loadToday > 1.5 * loadThen + 0.25;
  if (c > STALE_VS_RECORDED * then && !busierNow) return { by: 'timings', why: `${rec.choice} now takes ${fmt(c)}, ${(c / then).toFixed(1)}x the ${fmt(then)} recorded on ${rec.date.slice(0, 10)}` };
  if (loadThen !== undefined && loadToday !== undefined && loadThen > 1 && loadThen > STALE_LOAD_RATIO * Math.max(loadToday, 0.25)) {
    return { by: 'load', why: `it was timed under a load of ${loadThen.toFixed(2)} per core, ${loadToday.toFixed(2)} now` };
  }
  return null;
}

/**
 * Picks the fastest matmul kernel for this adapter: times each candidate on a square product of
 * side `size` (best of `reps`) and switches to it. Later calls in the process return the same
 * choice at once. With a `store`, the choice is saved with how it was measured (the timings of
 * every candidate, the date, the adapter, the host's load) and later processes start from it
 * instead of timing everything (a few seconds on lavapipe, mostly compiling the candidates); but
 * since a choice timed while the machine was busy can be wrong, the first use in a process
 * re-checks it: the chosen kernel and the runner-up are timed side by side (twice, to confirm a
 * verdict of stale), and all the candidates are timed again and the record rewritten when the
 * choice is {@link STALE_VS_RUNNER_UP} times slower than the runner-up, {@link STALE_VS_RECORDED}
 * times slower than recorded (unless the machine is busier now), or was timed under
 * {@link STALE_LOAD_RATIO} times today's load. `KDGPU_MATMUL=<name>`
 * pins a kernel and skips tuning. Every candidate sums in the same order and gives the same bits
 * (tested), so the choice changes speed, never results.
 */
export async function tuneMatmul(opts: TuneOptions = {}): Promise<TuneResult> {
  const pinned = envVar('KDGPU_MATMUL');
  if (pinned) return { choice: pinned, ms: {}, source: 'pinned' };
  const dev = device();
  const useProcess = !opts.time;
  if (!opts.force && useProcess && tunedOn === dev) return { choice: tunedChoice, ms: {}, source: 'process' };
  const key = storeKey();
  const store = opts.store;
  const where = store?.where ? ` (${store.where})` : '';
  const savedTo = store ? `; saved to ${store.where ?? 'the store'}` : '';
  const adapter = adapterName();
  const size = opts.size ?? 512;
  const reps = opts.reps ?? 2;
  const choose = (name: string) => {
    setMatmulVariant(CANDIDATES.find((c) => c.name === name)!);
    if (useProcess) [tunedOn, tunedChoice] = [dev, name];
  };
  let retuned: string | undefined;
  if (!opts.force && store) {
    const saved = await store.read(key);
    const rec = asRecord(saved);
    if (rec) {
      const runnerUp = Object.entries(rec.ms)
        .filter(([n, t]) => n !== rec.choice && typeof t === 'number' && CANDIDATES.some((c) => c.name === n))
        .sort((x, y) => x[1] - y[1])[0]?.[0];
      if (opts.recheck === false || runnerUp === undefined) {
        choose(rec.choice);
        opts.log?.(`matmul kernel for ${adapter}: ${rec.choice} (tuned ${rec.date.slice(0, 10)}${where}; not re-checked)`);
        return { choice: rec.choice, ms: {}, source: 'store', record: rec };
      }
      const pair = [rec.choice, runnerUp];
      const now = await measure(pair, rec.size, rec.reps, opts.time);
      let stale = staleReason(rec, runnerUp, now, rec.load, loadNow(store));
      if (stale?.by === 'timings') {
        // A second look before paying for a full re-tune: on a shared machine single timings jump
        // by 2-3x (seen on lavapipe under load), and the best of both looks is what counts.
        const again = await measure(pair, rec.size, rec.reps, opts.time);
        for (const n of pair) now[n] = Math.min(now[n]!, again[n]!);
        stale = staleReason(rec, runnerUp, now, rec.load, loadNow(store));
      }
      if (stale === null) {
        choose(rec.choice);
        opts.log?.(`matmul kernel for ${adapter}: ${rec.choice} (tuned ${rec.date.slice(0, 10)}${where}; re-checked: ${rec.choice} ${fmt(now[rec.choice]!)}, runner-up ${runnerUp} ${fmt(now[runnerUp]!)}; \`kdgpu tune\` re-tunes)`);
        return { choice: rec.choice, ms: now, source: 'store', record: rec };
      }
      retuned = `the stored choice has gone stale: ${stale.why}`;
    } else if (typeof saved === 'string' || (saved && typeof saved === 'object')) {
      retuned = typeof saved === 'string' ? `the stored choice "${saved}" was saved without timings (by an older kdgpu)` : 'the stored record is malformed or names no current kernel';
    }
    if (retuned) opts.log?.(`matmul kernel for ${adapter}: ${retuned}; tuning again`);
  }
  const ms = await measure(CANDIDATES.map((c) => c.name), size, reps, opts.time);
  const best = Object.entries(ms).sort((x, y) => x[1] - y[1])[0]![0];
  choose(best);
  const load = loadNow(store);
  const record: TuneRecord = { choice: best, ms, size, reps, adapter, date: new Date().toISOString(), ...(load !== undefined ? { load } : {}) };
  opts.log?.(`matmul autotune on ${adapter} at ${size}^3: ${Object.entries(ms).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')} -> ${best}${savedTo}`);
  await store?.write(key, record);
  return { choice: best, ms, source: 'timed', record, ...(retuned ? { retuned } : {}) };
}
