import { adapterName } from '../device.ts';
import { sync } from '../engine.ts';
import { randn } from './random.ts';
import { CANDIDATES, type MatmulVariant } from './matmul-kernels.ts';
import { matmul, setMatmulVariant } from './matmul.ts';
import { tidy } from '../scope.ts';

/**
 * Times each matmul candidate on this adapter (a square product of side `size`, best of
 * `reps`) and switches to the fastest. Different kernels sum in the same order, but a run that
 * must reproduce bit for bit across processes should pin one with `KDGPU_MATMUL=<name>`.
 */
export async function tuneMatmul(opts: { size?: number; reps?: number; log?: (s: string) => void } = {}): Promise<{ choice: string; ms: Record<string, number> }> {
  const n = opts.size ?? 512;
  const reps = opts.reps ?? 2;
  const a = randn([n, n], { seed: 1 });
  const b = randn([n, n], { seed: 2 });
  const ms: Record<string, number> = {};
  let best: MatmulVariant | null = null;
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
  setMatmulVariant(best!);
  a.dispose();
  b.dispose();
  opts.log?.(`matmul autotune on ${adapterName()} at ${n}^3: ${Object.entries(ms).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ')} -> ${best!.name}`);
  return { choice: best!.name, ms };
}
