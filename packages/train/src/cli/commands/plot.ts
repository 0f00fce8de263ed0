/** `kdgpu plot`: SVG of the curves in metrics.jsonl files. */

import { KdgpuError } from '@kdgpu/tensor';
import { writeFileAtomic } from '../../atomic-node.ts';
import { readMetricsFile } from '../../metrics-node.ts';
import { plotLossCurves } from '../../plot.ts';
import { defineCommand } from '../args.ts';

export const plotCommand = defineCommand({
  name: 'plot',
  summary: 'draw the curves of a run\'s metrics.jsonl as SVG',
  description: 'Draws the training and validation losses of a metrics.jsonl as an SVG image.',
  positional: { name: 'METRICS.jsonl', help: 'a run\'s metrics.jsonl', min: 1, max: 1 },
  flags: {
    out: { type: 'string', value: 'FILE', help: 'the SVG to write (default: beside the first file, .svg)' },
    title: { type: 'string', value: 'TEXT', help: 'the title above the plot' },
  },
  async run(args) {
    const [path] = args.positional;
    const out = args.flags.out ?? path!.replace(/\.jsonl$/, '') + '.svg';
    if (out === path) throw new KdgpuError('plot: --out would overwrite the metrics file');
    await writeFileAtomic(out, plotLossCurves(readMetricsFile(path!), { title: args.flags.title ?? path }));
    console.log(`wrote ${out}`);
    return 0;
  },
});
