/**
 * The SVG pieces the loss plots are drawn with, no dependencies: a panel (axes with round ticks,
 * linear or log y, one path per line with gaps at NaN, a dot for a lone point) placed in a box of
 * a larger image. `plot.ts` composes panels into the loss curves of one run or several.
 * @module
 */

/** One line of a panel: `[step, value]` points in step order; NaN values are gaps. */
export interface PlotLine {
  /** `data-series` of the path (unique in the image). */
  key: string;
  color: string;
  /** An SVG `stroke-dasharray`, or null for solid. */
  dash: string | null;
  points: [number, number][];
}

/** A panel: its title, y label and scale, and lines. */
export interface Panel {
  title: string;
  yLabel: string;
  /** Log-scaled y (values ≤ 0 are left out). */
  log?: boolean;
  lines: PlotLine[];
}

/** Where a panel goes in the image (the plotting area; labels go outside it). */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A palette for runs or series. */
export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

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

/** Ticks of a log axis over [lo, hi] (> 0): 1, 2, 5 times powers of ten, thinned to at most `count` + 2. */
export function logTicks(lo: number, hi: number, count = 5): number[] {
  const out: number[] = [];
  for (let d = Math.floor(Math.log10(lo)); d <= Math.ceil(Math.log10(hi)); d++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** d;
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(Number(v.toPrecision(6)));
    }
  }
  if (out.length > count + 2) return out.filter((v) => Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9);
  // Less than a decade: round linear steps, placed on the log axis.
  if (out.length < 3) return niceTicks(lo, hi, 4).ticks.filter((v) => v > 0);
  return out;
}

/** A tick label: `12k`, `0.5`, `3e-4`. */
export function formatTick(v: number, step: number): string {
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6)) return v.toExponential(0).replace('e+', 'e');
  if (Math.abs(v) >= 1e4 && Number.isInteger(step)) return `${+(v / 1000).toFixed(step >= 1000 ? 0 : 1)}k`;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

/** Text escaped for SVG. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** [lo, hi] of values, widened when they are all equal. */
export function domain(values: number[], integer: boolean): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    const pad = integer ? 1 : Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  return [lo, hi];
}

const f = (x: number) => x.toFixed(2);

/** The points of a panel that can be drawn (finite, and > 0 on a log axis). */
function drawable(p: Panel): [number, number][] {
  return p.lines.flatMap((l) => l.points.filter(([, v]) => Number.isFinite(v) && (!p.log || v > 0)));
}

/**
 * A panel's SVG elements in `box`, with x over `xDomain` (steps) and ticks under it. Returns the
 * element strings (a `no data` note when nothing can be drawn).
 */
export function renderPanel(p: Panel, box: Box, xDomain: [number, number], opts: { xLabel?: boolean } = {}): string[] {
  const parts: string[] = [];
  const { x, y, w, h } = box;
  parts.push(`<text class="panel-title" x="${f(x + w / 2)}" y="${f(y - 8)}" text-anchor="middle" font-size="13">${escapeXml(p.title)}</text>`);
  const pts = drawable(p);
  if (pts.length === 0) {
    parts.push(`<text x="${f(x + w / 2)}" y="${f(y + h / 2)}" text-anchor="middle" fill="#666666">no data</text>`);
    return parts;
  }
  const [x0, x1] = xDomain;
  const xt = niceTicks(x0, x1, 5, true);
  let sy: (v: number) => number;
  let yTicks: { v: number; label: string }[];
  if (p.log) {
    const vals = pts.map(([, v]) => v);
    let lo = Math.min(...vals);
    let hi = Math.max(...vals);
    if (lo === hi) {
      lo /= 1.5;
      hi *= 1.5;
    }
    const l0 = Math.log10(lo);
    const l1 = Math.log10(hi);
    sy = (v) => y + (1 - (Math.log10(v) - l0) / (l1 - l0)) * h;
    const ticks = logTicks(lo, hi);
    const step = ticks.length > 1 ? Math.min(...ticks.slice(1).map((t, i) => t - ticks[i]!)) : 1;
    yTicks = ticks.map((v) => ({ v, label: formatTick(v, Math.min(step, v >= 1 ? 1 : v)) }));
  } else {
    const [ylo, yhi] = domain(pts.map(([, v]) => v), false);
    const t0 = niceTicks(ylo, yhi);
    const y0 = Math.floor(ylo / t0.step + 1e-9) * t0.step;
    const y1 = Math.ceil(yhi / t0.step - 1e-9) * t0.step;
    const yt = niceTicks(y0, y1);
    sy = (v) => y + (1 - (v - y0) / (y1 - y0)) * h;
    yTicks = yt.ticks.map((v) => ({ v, label: formatTick(v, yt.step) }));
  }
  const sx = (s: number) => x + ((s - x0) / (x1 - x0)) * w;
  parts.push(`<g class="grid" stroke="#e5e5e5" stroke-width="1">`);
  for (const t of yTicks) parts.push(`<line x1="${x}" y1="${f(sy(t.v))}" x2="${x + w}" y2="${f(sy(t.v))}"/>`);
  parts.push('</g>');
  parts.push(`<g class="axes${p.log ? ' log' : ''}" stroke="#333333" stroke-width="1">`);
  parts.push(`<line x1="${x}" y1="${y + h}" x2="${x + w}" y2="${y + h}"/>`, `<line x1="${x}" y1="${y}" x2="${x}" y2="${y + h}"/>`);
  for (const t of xt.ticks) parts.push(`<line x1="${f(sx(t))}" y1="${y + h}" x2="${f(sx(t))}" y2="${y + h + 5}"/>`);
  for (const t of yTicks) parts.push(`<line x1="${x - 5}" y1="${f(sy(t.v))}" x2="${x}" y2="${f(sy(t.v))}"/>`);
  parts.push('</g>');
  parts.push('<g class="tick-labels" fill="#333333">');
  for (const t of xt.ticks) parts.push(`<text x="${f(sx(t))}" y="${y + h + 18}" text-anchor="middle">${formatTick(t, xt.step)}</text>`);
  for (const t of yTicks) parts.push(`<text x="${x - 8}" y="${f(sy(t.v) + 4)}" text-anchor="end">${t.label}</text>`);
  parts.push('</g>');
  if (opts.xLabel !== false) parts.push(`<text class="axis-label" x="${f(x + w / 2)}" y="${y + h + 36}" text-anchor="middle">step</text>`);
  const ly = y + h / 2;
  parts.push(`<text class="axis-label" x="${x - 50}" y="${f(ly)}" text-anchor="middle" transform="rotate(-90 ${x - 50} ${f(ly)})">${escapeXml(p.yLabel)}</text>`);
  for (const l of p.lines) {
    const ok = (v: number) => Number.isFinite(v) && (!p.log || v > 0);
    let d = '';
    const lonely: [number, number][] = [];
    l.points.forEach(([s, v], j) => {
      if (!ok(v)) return;
      const prevOk = j > 0 && ok(l.points[j - 1]![1]);
      const nextOk = j + 1 < l.points.length && ok(l.points[j + 1]![1]);
      d += `${prevOk ? 'L' : 'M'}${f(sx(s))} ${f(sy(v))} `;
      if (!prevOk && !nextOk) lonely.push([s, v]);
    });
    if (d === '') continue;
    const key = escapeXml(l.key);
    parts.push(`<path class="series" data-series="${key}" d="${d.trim()}" fill="none" stroke="${l.color}" stroke-width="1.5"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''}/>`);
    for (const [s, v] of lonely) parts.push(`<circle class="point" data-series="${key}" cx="${f(sx(s))}" cy="${f(sy(v))}" r="2.5" fill="${l.color}"/>`);
  }
  return parts;
}

/** A legend entry: a short line in `color`/`dash` and its label, at (x, y). */
export function legendEntry(key: string, label: string, color: string, dash: string | null, x: number, y: number): string {
  if (label.length > 28) label = `${label.slice(0, 12)}…${label.slice(-15)}`;
  return (
    `<g class="legend-entry" data-series="${escapeXml(key)}">` +
    `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>` +
    `<text x="${x + 28}" y="${y + 4}">${escapeXml(label)}</text></g>`
  );
}
