/**
 * Training progress: a callback, or a one-line bar redrawn on standard error when it is a
 * terminal. The core reaches `process.stderr` through `globalThis` (Node and Deno have it; a
 * browser has none and simply gets no bar), so it needs no `node:` import.
 */

/** Where training is: counting words (bytes or sequences read), or merging (vocabulary size). */
export interface TrainProgress {
  phase: "count" | "merge";
  done: number;
  /** 0 when unknown (a stream of unknown length). */
  total: number;
  unit: "bytes" | "sequences" | "tokens";
}

/** Receives progress updates. */
export type ProgressCallback = (p: TrainProgress) => void;

interface TtyStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

function stderrTty(): TtyStream | null {
  const proc = (globalThis as { process?: { stderr?: TtyStream } }).process;
  const err = proc?.stderr;
  return err && err.isTTY && typeof err.write === "function" ? err : null;
}

function human(n: number, unit: TrainProgress["unit"]): string {
  if (unit !== "bytes") return String(Math.round(n));
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return n < 1e9 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e9).toFixed(2)} GB`;
}

/**
 * Turns `showProgress` into a reporter: a function is called as is (every update); `true` draws a
 * bar on a TTY at most every 100 ms; `false` (or no TTY) reports nothing. Call `end()` when done.
 */
export function progressReporter(show: boolean | ProgressCallback | undefined): { report: ProgressCallback; end(): void } {
  if (typeof show === "function") return { report: show, end() {} };
  const tty = show === false ? null : stderrTty();
  if (!tty) return { report() {}, end() {} };
  const t0 = Date.now();
  let last = 0;
  let phase = "";
  let drawn = false;
  const clock = () => {
    const s = Math.floor((Date.now() - t0) / 1000);
    const pad = (x: number) => String(x).padStart(2, "0");
    return `[${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}]`;
  };
  return {
    report(p) {
      const now = Date.now();
      const final = p.total > 0 && p.done >= p.total;
      if (p.phase === phase && !final && now - last < 100) return;
      if (p.phase !== phase && drawn) tty.write("\n");
      phase = p.phase;
      last = now;
      drawn = true;
      const label = p.phase === "count" ? "Count words" : "Compute merges";
      const count = p.total > 0 ? `${human(p.done, p.unit)} / ${human(p.total, p.unit)}` : human(p.done, p.unit);
      let bar = "";
      if (p.total > 0) {
        const width = Math.max(10, Math.min(40, (tty.columns ?? 80) - 60));
        const filled = Math.min(width, Math.round((p.done / p.total) * width));
        bar = "█".repeat(filled) + "░".repeat(width - filled) + " ";
      }
      tty.write(`\r${clock()} ${label.padEnd(15)} ${bar}${count}\x1b[K`);
    },
    end() {
      if (drawn) tty.write("\n");
    },
  };
}
