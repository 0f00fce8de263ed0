/**
 * Loss curves as a standalone SVG string, no dependencies: loss vs step for training and validation
 * and each loss component present (CE, KD, ...), linear axes with ticks, a legend. Open the file in
 * a browser, or inline it in HTML or Markdown.
 * @module
 */

import type { MetricsRecord } from './metrics.ts';

/** One curve: `[step, value]` points in step order; a NaN value is a gap. */
export interface LossSeries {
  name: string;
  split: 'train' | 'eval';
  points: [number, number][];
}

/** Options of {@link plotLossCurves}. */
export interface PlotOptions {
  /** Image size in px. Default 720 × 420. */
  width?: number;
  height?: number;
  /** Title above the plot. Default "Loss". */
  title?: string;
}

/**
 * The curves in `records`: for each split ("train", "validation"), the total `loss` and every key
 * of `losses`; each series lists a point for every record of its split (NaN where the value is
 * missing or not finite, so the line breaks there). Records are ordered by step; for a repeated
 * step (a run resumed from a checkpoint) the later record wins. Series without any finite value
 * are left out.
 */
export function lossSeries(records: readonly MetricsRecord[]): LossSeries[] {
  const out: LossSeries[] = [];
  for (const split of ['train', 'eval'] as const) {
    const byStep = new Map<number, MetricsRecord>();
    for (const r of records) if (r.split === split && Number.isFinite(r.step)) byStep.set(r.step, r);
    const rows = [...byStep.values()].sort((a, b) => a.step - b.step);
    const keys: string[] = [];
    for (const r of rows) for (const k of Object.keys(r.losses ?? {})) if (!keys.includes(k)) keys.push(k);
    const prefix = split === 'train' ? 'train' : 'validation';
    const candidates: [string, (r: MetricsRecord) => unknown][] = [
      [`${prefix} loss`, (r) => r.loss],
      ...keys.map((k): [string, (r: MetricsRecord) => unknown] => [`${prefix} ${k}`, (r) => r.losses?.[k]]),
    ];
    for (const [name, get] of candidates) {
      const points = rows.map((r): [number, number] => {
        const v = get(r);
        return [r.step, typeof v === 'number' && Number.isFinite(v) ? v : NaN];
      });
      if (points.some(([, v]) => !Number.isNaN(v))) out.push({ name, split, points });
    }
  }
  return out;
}

/** Round tick positions covering [lo, hi] (1-2-5 steps; whole numbers when `integer`), and the step. */
export function niceTicks(lo: number, hi: number, count = 5, integer = false): { ticks: number[]; step: number } {
  const span = hi - lo;
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const nice = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  const step = integer ? Math.max(1, nice) : nice;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return { ticks, step };
}

function formatTick(v: number, step: number): string {
  if (Math.abs(v) >= 1e4 && Number.isInteger(step)) return `${+(v / 1000).toFixed(step >= 1000 ? 0 : 1)}k`;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function domain(values: number[], integer: boolean): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    const pad = integer ? 1 : Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  return [lo, hi];
}

/**
 * Renders the loss curves of `records` (see {@link lossSeries}) as an SVG document string: one
 * `<path class="series">` per series (validation dashed), a dot for every point with no neighbour
 * to join, axes with ticks and labels, and a legend entry per series. Empty input gives a "no data"
 * image.
 */
export function plotLossCurves(records: readonly MetricsRecord[], opts: PlotOptions = {}): string {
  const W = opts.width ?? 720;
  const H = opts.height ?? 420;
  const title = opts.title ?? 'Loss';
  const series = lossSeries(records);
  const m = { left: 64, right: 170, top: 36, bottom: 48 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${m.left + pw / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
  ];
  const finite = series.flatMap((s) => s.points.filter(([, v]) => !Number.isNaN(v)));
  if (finite.length === 0) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#666666">no data</text>`, '</svg>');
    return `${parts.join('\n')}\n`;
  }
  const [x0, x1] = domain(finite.map(([s]) => s), true);
  const xt = niceTicks(x0, x1, 5, true);
  const [ylo, yhi] = domain(finite.map(([, v]) => v), false);
  const yt0 = niceTicks(ylo, yhi);
  const y0 = Math.floor(ylo / yt0.step + 1e-9) * yt0.step;
  const y1 = Math.ceil(yhi / yt0.step - 1e-9) * yt0.step;
  const yt = niceTicks(y0, y1);
  const sx = (s: number) => m.left + ((s - x0) / (x1 - x0)) * pw;
  const sy = (v: number) => m.top + (1 - (v - y0) / (y1 - y0)) * ph;
  const f = (x: number) => x.toFixed(2);

  parts.push('<g class="grid" stroke="#e5e5e5" stroke-width="1">');
  for (const t of yt.ticks) parts.push(`<line x1="${m.left}" y1="${f(sy(t))}" x2="${m.left + pw}" y2="${f(sy(t))}"/>`);
  parts.push('</g>');
  parts.push('<g class="axes" stroke="#333333" stroke-width="1">');
  parts.push(`<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}"/>`);
  parts.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}"/>`);
  for (const t of xt.ticks) parts.push(`<line x1="${f(sx(t))}" y1="${m.top + ph}" x2="${f(sx(t))}" y2="${m.top + ph + 5}"/>`);
  for (const t of yt.ticks) parts.push(`<line x1="${m.left - 5}" y1="${f(sy(t))}" x2="${m.left}" y2="${f(sy(t))}"/>`);
  parts.push('</g>');
  parts.push('<g class="tick-labels" fill="#333333">');
  for (const t of xt.ticks) parts.push(`<text x="${f(sx(t))}" y="${m.top + ph + 18}" text-anchor="middle">${formatTick(t, xt.step)}</text>`);
  for (const t of yt.ticks) parts.push(`<text x="${m.left - 8}" y="${f(sy(t) + 4)}" text-anchor="end">${formatTick(t, yt.step)}</text>`);
  parts.push('</g>');
  parts.push(`<text class="axis-label" x="${m.left + pw / 2}" y="${H - 10}" text-anchor="middle">step</text>`);
  parts.push(`<text class="axis-label" x="16" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${m.top + ph / 2})">loss</text>`);

  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const dash = s.split === 'eval' ? ' stroke-dasharray="6 3"' : '';
    let d = '';
    const lonely: [number, number][] = [];
    s.points.forEach(([step, v], j) => {
      if (Number.isNaN(v)) return;
      const prevOk = j > 0 && !Number.isNaN(s.points[j - 1]![1]);
      const nextOk = j + 1 < s.points.length && !Number.isNaN(s.points[j + 1]![1]);
      d += `${prevOk ? 'L' : 'M'}${f(sx(step))} ${f(sy(v))} `;
      if (!prevOk && !nextOk) lonely.push([step, v]);
    });
    const name = escapeXml(s.name);
    parts.push(`<path class="series" data-series="${name}" d="${d.trim()}" fill="none" stroke="${color}" stroke-width="1.5"${dash}/>`);
    for (const [step, v] of lonely) parts.push(`<circle class="point" data-series="${name}" cx="${f(sx(step))}" cy="${f(sy(v))}" r="2.5" fill="${color}"/>`);
  });

  const lx = m.left + pw + 16;
  parts.push(`<g class="legend">`);
  series.forEach((s, i) => {
    const y = m.top + 8 + i * 18;
    const color = COLORS[i % COLORS.length]!;
    const dash = s.split === 'eval' ? ' stroke-dasharray="6 3"' : '';
    parts.push(
      `<g class="legend-entry" data-series="${escapeXml(s.name)}">` +
        `<line x1="${lx}" y1="${y}" x2="${lx + 22}" y2="${y}" stroke="${color}" stroke-width="2"${dash}/>` +
        `<text x="${lx + 28}" y="${y + 4}">${escapeXml(s.name)}</text></g>`,
    );
  });
  parts.push('</g>', '</svg>');
  return `${parts.join('\n')}\n`;
}
