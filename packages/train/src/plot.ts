/**
 * Loss curves as standalone SVG strings, no dependencies. {@link plotLossCurves}: one run's losses
 * in one panel (the in-browser demo's live plot). {@link plotRuns}: several runs overlaid, one
 * colour per run, with a panel each for the losses, perplexity (log scale) and the learning rate;
 * training lines solid, validation dashed, a distilled run's CE and KD parts dotted and dash-dotted.
 * `kdgpu plot`, the Baby Llama demo and the loss sweep draw with it. Open the file in a browser, or
 * inline it in HTML or Markdown.
 * @module
 */

import type { MetricsRecord } from './metrics.ts';
import { type Box, COLORS, domain, escapeXml, legendEntry, type Panel, type PlotLine, renderPanel } from './plot-svg.ts';

export { niceTicks } from './plot-svg.ts';

/** One curve: `[step, value]` points in step order; a NaN value is a gap. */
export interface LossSeries {
  name: string;
  split: 'train' | 'eval';
  points: [number, number][];
}

/** Options of {@link plotLossCurves} and {@link plotRuns}. */
export interface PlotOptions {
  /** Image size in px. Default 720 × 420 (one panel), 820 × 900 (runs). */
  width?: number;
  height?: number;
  /** Title above the plot. Default "Loss". */
  title?: string;
}

/** One run's metrics, named, for {@link plotRuns}. */
export interface RunMetrics {
  name: string;
  records: readonly MetricsRecord[];
}

/** A split's records by step, in step order; for a repeated step (a resumed run) the later record wins. */
function bySteps(records: readonly MetricsRecord[], split: 'train' | 'eval'): MetricsRecord[] {
  const m = new Map<number, MetricsRecord>();
  for (const r of records) if (r.split === split && Number.isFinite(r.step)) m.set(r.step, r);
  return [...m.values()].sort((a, b) => a.step - b.step);
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : NaN);

/**
 * The loss curves in `records`: for each split ("train", "validation"), the total `loss` and every
 * loss component of `losses` (not `perplexity`, which is not a loss; see {@link plotRuns}); each
 * series has a point for every record of its split (NaN where the value is missing or not finite,
 * so the line breaks there). Records are ordered by step; for a repeated step (a run resumed from a
 * checkpoint) the later record wins. Series without any finite value are left out.
 */
export function lossSeries(records: readonly MetricsRecord[]): LossSeries[] {
  const out: LossSeries[] = [];
  for (const split of ['train', 'eval'] as const) {
    const rows = bySteps(records, split);
    const keys: string[] = [];
    for (const r of rows) for (const k of Object.keys(r.losses ?? {})) if (k !== 'perplexity' && !keys.includes(k)) keys.push(k);
    const prefix = split === 'train' ? 'train' : 'validation';
    const candidates: [string, (r: MetricsRecord) => unknown][] = [
      [`${prefix} loss`, (r) => r.loss],
      ...keys.map((k): [string, (r: MetricsRecord) => unknown] => [`${prefix} ${k}`, (r) => r.losses?.[k]]),
    ];
    for (const [name, get] of candidates) {
      const points = rows.map((r): [number, number] => [r.step, num(get(r))]);
      if (points.some(([, v]) => !Number.isNaN(v))) out.push({ name, split, points });
    }
  }
  return out;
}

function header(W: number, H: number, title: string, x: number): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${x}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
  ];
}

function stepDomain(panels: Panel[]): [number, number] | null {
  const steps = panels.flatMap((p) => p.lines.flatMap((l) => l.points.filter(([, v]) => Number.isFinite(v)).map(([s]) => s)));
  return steps.length ? domain(steps, true) : null;
}

/**
 * Renders the loss curves of one run's `records` (see {@link lossSeries}) as an SVG document
 * string: one `<path class="series">` per series (validation dashed), a dot for every point with
 * no neighbour to join, axes with ticks and labels, and a legend entry per series. Empty input
 * gives a "no data" image.
 */
export function plotLossCurves(records: readonly MetricsRecord[], opts: PlotOptions = {}): string {
  const W = opts.width ?? 720;
  const H = opts.height ?? 420;
  const m = { left: 64, right: 170, top: 36, bottom: 48 };
  const box: Box = { x: m.left, y: m.top, w: W - m.left - m.right, h: H - m.top - m.bottom };
  const series = lossSeries(records);
  const lines: PlotLine[] = series.map((s, i) => ({ key: s.name, color: COLORS[i % COLORS.length]!, dash: s.split === 'eval' ? '6 3' : null, points: s.points }));
  const panel: Panel = { title: '', yLabel: 'loss', lines };
  const parts = header(W, H, opts.title ?? 'Loss', m.left + box.w / 2);
  const xd = stepDomain([panel]);
  if (!xd) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#666666">no data</text>`, '</svg>');
    return `${parts.join('\n')}\n`;
  }
  parts.push(...renderPanel(panel, box, xd).filter((p) => !p.startsWith('<text class="panel-title"')));
  parts.push('<g class="legend">');
  lines.forEach((l, i) => parts.push(legendEntry(l.key, l.key, l.color, l.dash, box.x + box.w + 16, box.y + 8 + i * 18)));
  parts.push('</g>', '</svg>');
  return `${parts.join('\n')}\n`;
}

/** Line styles of {@link plotRuns}, by what a line shows. */
const STYLE = { train: null, validation: '6 3', ce: '2 3', kd: '8 3 2 3' } as const;

/**
 * Several runs' metrics overlaid (one colour per run, named in the legend), in three panels
 * sharing the step axis: losses (training total solid, validation dashed, and for distilled runs
 * the training CE dotted and KD dash-dotted), perplexity on a log scale (exp of the training CE
 * solid, validation dashed), and the learning rate. A panel without data says "no data".
 */
export function plotRuns(runs: readonly RunMetrics[], opts: PlotOptions = {}): string {
  const W = opts.width ?? 820;
  const H = opts.height ?? 900;
  const m = { left: 76, right: 230, top: 60, bottom: 50, gap: 70 };
  const ph = (H - m.top - m.bottom - 2 * m.gap) / 3;
  const pw = W - m.left - m.right;
  const loss: Panel = { title: 'Losses', yLabel: 'loss (nats)', lines: [] };
  const ppl: Panel = { title: 'Perplexity', yLabel: 'perplexity (log scale)', log: true, lines: [] };
  const lr: Panel = { title: 'Learning rate', yLabel: 'learning rate', lines: [] };
  runs.forEach((run, i) => {
    const color = COLORS[i % COLORS.length]!;
    const train = bySteps(run.records, 'train');
    const val = bySteps(run.records, 'eval');
    const line = (panel: Panel, what: keyof typeof STYLE, rows: MetricsRecord[], get: (r: MetricsRecord) => unknown) => {
      const points = rows.map((r): [number, number] => [r.step, num(get(r))]);
      if (points.some(([, v]) => Number.isFinite(v))) panel.lines.push({ key: `${run.name}: ${panel.title.toLowerCase()} ${what}`, color, dash: STYLE[what], points });
    };
    line(loss, 'train', train, (r) => r.loss);
    line(loss, 'validation', val, (r) => r.loss);
    if (train.some((r) => r.losses?.kd !== undefined)) {
      line(loss, 'ce', train, (r) => r.losses?.ce);
      line(loss, 'kd', train, (r) => r.losses?.kd);
    }
    line(ppl, 'train', train, (r) => Math.exp(num(r.losses?.ce ?? r.loss)));
    line(ppl, 'validation', val, (r) => num(r.losses?.perplexity ?? Math.exp(num(r.loss))));
    line(lr, 'train', train, (r) => r.lr);
  });
  const parts = header(W, H, opts.title ?? 'Training runs', m.left + pw / 2);
  const xd = stepDomain([loss, ppl, lr]) ?? [0, 1];
  [loss, ppl, lr].forEach((p, i) => parts.push(...renderPanel(p, { x: m.left, y: m.top + i * (ph + m.gap), w: pw, h: ph }, xd)));
  const lx = m.left + pw + 20;
  parts.push('<g class="legend">');
  let y = m.top + 8;
  runs.forEach((run, i) => {
    parts.push(legendEntry(`run: ${run.name}`, run.name, COLORS[i % COLORS.length]!, null, lx, y));
    y += 18;
  });
  y += 14;
  for (const [label, dash] of [['training', STYLE.train], ['validation', STYLE.validation], ['training CE (distilled)', STYLE.ce], ['training KD (distilled)', STYLE.kd]] as const) {
    parts.push(legendEntry(`style: ${label}`, label, '#555555', dash, lx, y));
    y += 18;
  }
  parts.push('</g>', '</svg>');
  return `${parts.join('\n')}\n`;
}
