/** `kdgpu tune`: time the matmul kernels on this adapter now, or show what the cache file holds. */

import { adapterName, init, KdgpuError, type TuneRecord, tuneMatmul } from '@kdgpu/tensor';
import { fileTuneStore, readTuneFile, tuneFilePath } from '../../tune-node.ts';
import { defineCommand } from '../args.ts';

/** One stored record as lines for `--show`. */
function describe(key: string, r: TuneRecord | string): string {
  if (typeof r === 'string') return `${key}\n  choice ${r} (saved by an older kdgpu without timings: re-tuned at the next run)`;
  const times = Object.entries(r.ms).sort((a, b) => a[1] - b[1]).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ');
  const load = r.load !== undefined ? `, load ${r.load.toFixed(2)} per core` : '';
  return `${key}\n  choice ${r.choice}, timed ${r.date} at ${r.size}^3, best of ${r.reps}${load}\n  ${times}`;
}

export const tuneCommand = defineCommand({
  name: 'tune',
  summary: 'time the matmul kernels on this GPU now and save the fastest (or --show the saved choices)',
  description: `Training picks the fastest matmul kernel for the adapter by timing every candidate once, and keeps
the choice with its timings, date and the machine's load in a cache file; each later run re-checks it
(the choice against the runner-up) and tunes again when it has gone stale. This command tunes now,
whatever the file holds: run it after a driver update, or when a run's log says its kernel was timed
on a busy machine. The file is $KDGPU_CACHE_DIR/tune.json, else $XDG_CACHE_HOME/kdgpu/tune.json, else
~/.cache/kdgpu/tune.json (here: ${tuneFilePath()}). KDGPU_MATMUL=<kernel> pins a kernel instead.`,
  flags: {
    show: { type: 'boolean', help: 'print the saved choices and how they were measured, without timing anything' },
    size: { type: 'integer', value: 'N', default: 512, help: 'side of the square product timed' },
    reps: { type: 'integer', value: 'N', default: 3, help: 'timed runs per kernel, best kept' },
  },
  async run(args) {
    const path = tuneFilePath();
    if (args.flags.show) {
      const records = Object.entries(await readTuneFile(path)).filter(([k]) => k.startsWith('matmul '));
      console.log(`${path}: ${records.length ? `${records.length} adapter${records.length > 1 ? 's' : ''}` : 'no choices saved yet (a run or `kdgpu tune` writes one)'}`);
      for (const [k, r] of records) console.log(describe(k, r));
      return 0;
    }
    const { size, reps } = args.flags;
    if (size < 16) throw new KdgpuError(`--size must be at least 16, got ${size}`);
    if (reps < 1) throw new KdgpuError(`--reps must be at least 1, got ${reps}`);
    await init();
    const r = await tuneMatmul({ store: fileTuneStore(path), force: true, size, reps });
    if (r.source === 'pinned') {
      console.log(`KDGPU_MATMUL=${r.choice} pins the kernel; nothing was timed (unset it to tune)`);
      return 0;
    }
    const ranked = Object.entries(r.ms).sort((a, b) => a[1] - b[1]);
    console.log(`matmul kernels on ${adapterName()} at ${size}^3 (best of ${reps}):`);
    for (const [k, v] of ranked) console.log(`  ${k === r.choice ? '*' : ' '} ${k.padEnd(18)} ${v.toFixed(1).padStart(8)} ms`);
    console.log(`chosen: ${r.choice}; saved to ${path}`);
    return 0;
  },
});
