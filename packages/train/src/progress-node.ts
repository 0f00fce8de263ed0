/**
 * The progress reporter on a Node/Deno output stream (stdout by default): a live bar when the
 * stream is a terminal, plain lines otherwise.
 * @module
 */

import process from 'node:process';
import type { WriteStream } from 'node:tty';
import { createProgress, type ProgressOptions, type ProgressReporter } from './progress.ts';

/** Options of {@link consoleProgress}: {@link ProgressOptions} without the sink and terminal facts. */
export interface ConsoleProgressOptions extends Omit<ProgressOptions, 'write' | 'isTTY' | 'columns'> {
  /** Stream to report on. Default `process.stdout`. */
  stream?: WriteStream;
  /** Force plain lines even on a terminal (e.g. `--no-progress-bar`). */
  plain?: boolean;
}

/** A progress reporter on `stream`: a bar when it is a TTY (and not `plain`), plain lines otherwise. */
export function consoleProgress(opts: ConsoleProgressOptions): ProgressReporter {
  const stream = opts.stream ?? process.stdout;
  return createProgress({
    ...opts,
    write: (s) => void stream.write(s),
    isTTY: stream.isTTY === true && opts.plain !== true,
    columns: stream.columns ?? 80,
  });
}
