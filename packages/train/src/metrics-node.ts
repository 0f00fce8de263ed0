/**
 * Metrics files for Node and Deno: append JSON lines to a file, read them back.
 * @module
 */

import * as fs from 'node:fs';
import { jsonlMetricsWriter, type MetricsRecord, type MetricsWriter, parseMetricsJsonl } from './metrics.ts';

/**
 * Opens `path` for appending metrics (created if missing; a resumed run keeps adding to it). Each
 * record is written with one synchronous `write` call, so a crash cuts at most the last line.
 */
export function openMetricsFile(path: string, opts: { truncate?: boolean } = {}): MetricsWriter {
  let fd: number;
  try {
    fd = fs.openSync(path, opts.truncate === true ? 'w' : 'a');
  } catch (err) {
    throw new Error(`openMetricsFile: cannot open ${path} for writing: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return jsonlMetricsWriter(
    (line) => void fs.writeSync(fd, line),
    () => fs.closeSync(fd),
  );
}

/** Reads a metrics JSONL file; see {@link parseMetricsJsonl}. Errors name the file. */
export function readMetricsFile(path: string): MetricsRecord[] {
  const text = fs.readFileSync(path, 'utf8');
  try {
    return parseMetricsJsonl(text);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`, { cause: err });
  }
}
