/** `kdgpu plot`: one SVG of the curves of one or more runs' metrics.jsonl. */

import { basename, dirname, resolve } from 'node:path';
import { KdgpuError } from '@kdgpu/tensor';
import { writeFileAtomic } from '../../atomic-node.ts';
import { readMetricsFile } from '../../metrics-node.ts';
import { plotRuns } from '../../plot.ts';
import { defineCommand } from '../args.ts';

/** A run's name for the legend: its folder (`runs/a/metrics.jsonl` is "a"), or the path when folders repeat. */
function runNames(paths: readonly string[]): string[] {
  const names = paths.map((p) => (basename(p) === 'metrics.jsonl' ? basename(dirname(resolve(p))) : basename(p).replace(/\.jsonl$/, '')));
  return names.map((n, i) => (names.indexOf(n) !== names.lastIndexOf(n) ? paths[i]! : n));
}

export const plotCommand = defineCommand({
  name: 'plot',
  summary: 'draw runs\' metrics.jsonl as SVG (losses, perplexity, learning rate)',
  description: `Overlays the runs whose metrics.jsonl files are given, one colour per run, in three panels over
the steps: losses (training solid, validation dashed; for distilled runs the CE part dotted and the
KD part dash-dotted), perplexity on a log scale, and the learning rate.`,
  positional: { name: 'METRICS.jsonl', help: 'runs\' metrics.jsonl files (<run>/metrics.jsonl)', min: 1, max: Infinity },
  flags: {
    out: { type: 'string', value: 'FILE', help: 'the SVG to write (default: <file>.svg beside a single file, plot.svg for several)' },
    title: { type: 'string', value: 'TEXT', help: 'the title above the plot' },
  },
  async run(args) {
    const paths = args.positional;
    const out = args.flags.out ?? (paths.length === 1 ? paths[0]!.replace(/\.jsonl$/, '') + '.svg' : 'plot.svg');
    if (paths.some((p) => resolve(p) === resolve(out))) throw new KdgpuError(`plot: --out ${out} would overwrite a metrics file`);
    const names = runNames(paths);
    const runs = paths.map((p, i) => {
      try {
        return { name: names[i]!, records: readMetricsFile(p) };
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new KdgpuError(code === 'ENOENT' ? `${p}: no such file (a run writes <run.outDir>/<run.name>/metrics.jsonl)` : (e as Error).message);
      }
    });
    await writeFileAtomic(out, plotRuns(runs, { title: args.flags.title ?? (runs.length === 1 ? names[0] : names.join(' vs ')) }));
    console.log(`wrote ${out}: ${runs.map((r) => `${r.name} (${r.records.length} records)`).join(', ')}`);
    return 0;
  },
});
