/**
 * A training progress reporter. On a terminal it keeps one bar line updated in place (step/total,
 * loss, tokens/s, ETA); elsewhere (CI logs, files) it prints a plain line every N steps with no
 * control characters. Browser-safe and testable: output goes to a `write` sink, the terminal-ness
 * and the clock are parameters. `progress-node.ts` wires it to stdout.
 * @module
 */

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Total optimizer steps (for the bar and the ETA). */
  total: number;
  /** Output sink, e.g. `(s) => process.stdout.write(s)`. */
  write: (s: string) => void;
  /** Whether the sink is a terminal: in-place bar (true) or plain lines (false). */
  isTTY: boolean;
  /** Terminal width in characters. Default 80. */
  columns?: number;
  /** Plain mode: print a line every N steps (and at the last step); the trainer passes `train.logEvery`. Default 10. */
  everySteps?: number;
  /** Terminal mode: redraw at most every this many ms (the last step always draws). Default 100. */
  minIntervalMs?: number;
  /** Clock in milliseconds. Default `performance.now`. */
  now?: () => number;
  /** Prefix of every line, e.g. the run name. */
  label?: string;
}

/** One progress update. */
export interface ProgressUpdate {
  /** Optimizer steps taken. */
  step: number;
  /** The objective (with distillation: (1 − kdRatio)·CE + kdRatio·KD). */
  loss?: number;
  /** With distillation: its two terms, shown beside the objective. */
  ce?: number;
  kd?: number;
  tokensPerSec?: number;
  lr?: number;
  /** Seconds since the start not spent training (evaluation, checkpoints), left out of the ETA. */
  idleSeconds?: number;
}

/** The reporter. */
export interface ProgressReporter {
  /** Reports the state after a step. */
  update(u: ProgressUpdate): void;
  /** Prints a message on its own line (above the bar on a terminal). */
  log(message: string): void;
  /** Finishes: draws the last state and ends the bar line. */
  done(): void;
}

/** `3725` s → `1h02m05s`, `65` → `1m05s`, `7.2` → `7s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (x: number) => String(x).padStart(2, '0');
  if (h > 0) return `${h}h${pad(m)}m${pad(sec)}s`;
  if (m > 0) return `${m}m${pad(sec)}s`;
  return `${sec}s`;
}

/** `45123` → `45.1k`, `2.5e6` → `2.50M`, `812` → `812`. */
export function formatCount(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

const CLEAR_LINE = '\r\x1b[2K';

/** Creates a progress reporter; see {@link ProgressOptions}. */
export function createProgress(opts: ProgressOptions): ProgressReporter {
  const { total, write, isTTY } = opts;
  const columns = Math.max(20, opts.columns ?? 80);
  const every = Math.max(1, opts.everySteps ?? 10);
  const minInterval = opts.minIntervalMs ?? 100;
  const now = opts.now ?? (() => performance.now());
  const label = opts.label ? `${opts.label} ` : '';
  let start: { step: number; t: number; idle: number } | undefined;
  let last: ProgressUpdate | undefined;
  let lastDraw = -Infinity;
  let lastPrinted = -1;
  let barShown = false;

  const fields = (u: ProgressUpdate): string[] => {
    const parts: string[] = [];
    const num = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));
    if (u.loss !== undefined) parts.push(`loss ${num(u.loss)}`);
    if (u.ce !== undefined && u.kd !== undefined) parts.push(`ce ${num(u.ce)} kd ${num(u.kd)}`);
    if (u.lr !== undefined) parts.push(`lr ${u.lr.toExponential(2)}`);
    if (u.tokensPerSec !== undefined) parts.push(`${formatCount(u.tokensPerSec)} tok/s`);
    let eta = '?';
    if (start && u.step > start.step) {
      const busy = (now() - start.t) / 1000 - Math.max(0, (u.idleSeconds ?? 0) - start.idle);
      const perStep = Math.max(0, busy) / (u.step - start.step);
      eta = formatDuration(perStep * Math.max(0, total - u.step));
    }
    parts.push(`eta ${eta}`);
    return parts;
  };

  const plainLine = (u: ProgressUpdate): string => `${label}step ${u.step}/${total} | ${fields(u).join(' | ')}\n`;

  const barLine = (u: ProgressUpdate): string => {
    const frac = total > 0 ? Math.min(1, Math.max(0, u.step / total)) : 0;
    const head = `${label}step ${u.step}/${total} `;
    const tail = ` ${String(Math.floor(frac * 100)).padStart(3)}% | ${fields(u).join(' | ')}`;
    const room = columns - 1 - head.length - tail.length - 2;
    let line: string;
    if (room >= 10) {
      const width = Math.min(room, 40);
      const filled = Math.round(frac * width);
      line = `${head}[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]${tail}`;
    } else {
      line = `${head.trimEnd()}${tail}`;
    }
    return line.length > columns - 1 ? line.slice(0, columns - 1) : line;
  };

  const draw = (): void => {
    if (last === undefined) return;
    write(`${CLEAR_LINE}${barLine(last)}`);
    barShown = true;
    lastDraw = now();
  };

  return {
    update(u) {
      start ??= { step: u.step, t: now(), idle: u.idleSeconds ?? 0 };
      last = u;
      if (isTTY) {
        if (u.step >= total || now() - lastDraw >= minInterval) draw();
      } else if (u.step % every === 0 || u.step >= total) {
        write(plainLine(u));
        lastPrinted = u.step;
      }
    },
    log(message) {
      if (isTTY) {
        write(`${barShown ? CLEAR_LINE : ''}${message}\n`);
        barShown = false;
        draw();
      } else {
        write(`${message}\n`);
      }
    },
    done() {
      if (last === undefined) return;
      if (isTTY) {
        draw();
        write('\n');
        barShown = false;
      } else if (lastPrinted !== last.step) {
        write(plainLine(last));
        lastPrinted = last.step;
      }
    },
  };
}
