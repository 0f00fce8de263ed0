/**
 * Training metrics as JSON Lines: one record per line, appended as training goes, so a crash loses
 * at most the line being written (and {@link parseMetricsJsonl} skips such a partial last line).
 * Browser-safe: the writer takes a sink; `metrics-node.ts` opens files.
 * @module
 */

/** Which data a record describes. */
export type MetricsSplit = 'train' | 'eval';

/** One metrics record. Losses are per-token means in nats unless the loss says otherwise. */
export interface MetricsRecord {
  /** Optimizer steps taken. */
  step: number;
  split: MetricsSplit;
  epoch?: number;
  /** Total loss (what is backpropagated). */
  loss?: number;
  /** Loss components by name, e.g. `{ ce: 3.1, kd: 0.8 }`. */
  losses?: Record<string, number>;
  /** Learning rate used for this step. */
  lr?: number;
  /** KD ratio used for this step. */
  kdRatio?: number;
  /** Global gradient L2 norm before clipping. */
  gradNorm?: number;
  /** Training throughput, tokens per second. */
  tokensPerSec?: number;
  /** Tokens seen so far. */
  tokens?: number;
  /** GPU memory in use, bytes. */
  gpuBytes?: number;
  /** Seconds since the run started. */
  time?: number;
}

/** Where records go. */
export interface MetricsWriter {
  /** Appends one record. */
  write(record: MetricsRecord): void;
  /** Flushes and releases the destination. */
  close(): Promise<void>;
}

function encodeNonFinite(_key: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
}

function decodeNonFinite(_key: string, v: unknown): unknown {
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return v;
}

/**
 * One record as a JSON line (with the trailing `\n`). Non-finite numbers, which JSON cannot hold,
 * are written as the strings "NaN", "Infinity", "-Infinity" so a diverging step stays visible.
 */
export function formatMetricsRecord(record: MetricsRecord): string {
  return `${JSON.stringify(record, encodeNonFinite)}\n`;
}

/**
 * Parses JSON Lines metrics back into records (non-finite strings become numbers again). Blank
 * lines are ignored, and so is an unparsable *last* line without a newline (a write cut short by a
 * crash); any other malformed line throws, naming its line number.
 */
export function parseMetricsJsonl(text: string): MetricsRecord[] {
  const lines = text.split('\n');
  const out: MetricsRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    try {
      const record = JSON.parse(line, decodeNonFinite) as MetricsRecord;
      if (typeof record !== 'object' || record === null || typeof record.step !== 'number') throw new Error('not a metrics record (no numeric "step")');
      out.push(record);
    } catch (err) {
      if (i === lines.length - 1) break; // partial final line
      throw new Error(`metrics line ${i + 1}: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}

/** A writer that formats each record as a JSON line and passes it to `sink`. */
export function jsonlMetricsWriter(sink: (line: string) => void, onClose?: () => void | Promise<void>): MetricsWriter {
  let closed = false;
  return {
    write(record) {
      if (closed) throw new Error('metrics writer: write after close');
      sink(formatMetricsRecord(record));
    },
    async close() {
      if (closed) return;
      closed = true;
      await onClose?.();
    },
  };
}

/** A writer that keeps records in memory (tests, in-browser plots). */
export function memoryMetricsWriter(): MetricsWriter & { readonly records: MetricsRecord[] } {
  const records: MetricsRecord[] = [];
  return {
    records,
    write(record) {
      records.push(structuredClone(record));
    },
    async close() {},
  };
}
