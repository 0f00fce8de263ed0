import { adapterName, device } from '../device.ts';
import { sync } from '../engine.ts';
import { envVar } from '../env.ts';
import { randn } from './random.ts';
import { CANDIDATES, type MatmulVariant } from './matmul-kernels.ts';
import { matmul, setMatmulVariant } from './matmul.ts';
import { tidy } from '../scope.ts';

/**
 * Where a tuning result outlives the process: the training CLI keeps a JSON file in the user's
 * cache folder (`@kdgpu/train`), a browser page could use localStorage. Values are opaque strings.
 */
export interface TuneStore {
  read(key: string): string | null | undefined | Promise<string | null | undefined>;
  write(key: string, value: string): void | Promise<void>;
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
}

export interface TuneResult {
  choice: string;
  /** Best time per candidate (empty when the choice came from a cache or a pin). */
  ms: Record<string, number>;
  /** Where the choice came from. */
  source: 'timed' | 'process' | 'store' | 'pinned';
}

// The device the current choice was tuned on: a new device (another adapter, or after a loss)
// is tuned again.
let tunedOn: GPUDevice | null = null;
let tunedChoice = '';

/** The store key: the adapter, and the candidate list (a new kernel set invalidates old choices). */
function storeKey(): string {
  return `matmul ${adapterName()} [${CANDIDATES.map((c) => c.name).join(',')}]`;
}

/**
 * Picks the fastest matmul kernel for this adapter, once: times each candidate on a square
 * product of side `size` (best of `reps`) and switches to it. Later calls in the process return
 * the same choice at once, and with a `store` later processes read it instead of timing (a few
 * seconds on lavapipe, mostly compiling the candidates). `KDGPU_MATMUL=<name>` pins a kernel and
 * skips tuning. Every candidate sums in the same order and gives the same bits (tested), so the
 * choice changes speed, never results.
 */
export async function tuneMatmul(opts: TuneOptions = {}): Promise<TuneResult> {
  const pinned = envVar('KDGPU_MATMUL');
  if (pinned) return { choice: pinned, ms: {}, source: 'pinned' };
  const dev = device();
  if (!opts.force && tunedOn === dev) return { choice: tunedChoice, ms: {}, source: 'process' };
  const key = storeKey();
  if (!opts.force && opts.store) {
    const saved = await opts.store.read(key);
    const v = saved ? CANDIDATES.find((c) => c.name === saved) : undefined;
    if (v) {
      setMatmulVariant(v);
      [tunedOn, tunedChoice] = [dev, v.name];
      opts.log?.(`matmul kernel for ${adapterName()}: ${v.name} (tuned earlier)`);
      return { choice: v.name, ms: {}, source: 'store' };
    }
  }
  const n = opts.size ?? 512;
  const reps = opts.reps ?? 2;
  const a = randn([n, n], { seed: 1 });
  const b = randn([n, n], { seed: 2 });
  const ms: Record<string, number> = {};
  let best: MatmulVariant | null = null;
  try {
    for (const v of CANDIDATES) {
      setMatmulVariant(v);
      tidy(() => void matmul(a, b)); // compile and warm up
      await sync();
      let t = Infinity;
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        tidy(() => void matmul(a, b));
        await sync();
        t = Math.min(t, performance.now() - t0);
      }
      ms[v.name] = t;
      if (!best || t < ms[best.name]) best = v;
    }
  } finally {
    a.dispose();
    b.dispose();
  }
  setMatmulVariant(best!);
  [tunedOn, tunedChoice] = [dev, best!.name];
  opts.log?.(`matmul autotune on ${adapterName()} at ${n}^3: ${Object.entries(ms).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ')} -> ${best!.name}`);
  await opts.store?.write(key, best!.name);
  return { choice: best!.name, ms, source: 'timed' };
}
