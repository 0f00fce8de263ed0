/**
 * JSON Lines for the evaluation sets: one JSON object per line, with errors that name the file
 * and line, and small field checkers shared by the minimal-pair, multiple-choice and query sets.
 * Browser-safe (the caller reads the file).
 * @module
 */

/** One parsed line: the object and its 1-based line number in the text (for later error messages). */
export interface JsonlRecord {
  value: Record<string, unknown>;
  line: number;
}

/**
 * Parses JSON Lines text into objects. Blank lines are skipped (a UTF-8 BOM and `\r\n` endings are
 * accepted); a line that is not valid JSON, or not a JSON object, throws an error naming
 * `source` (default "jsonl") and the 1-based line number.
 */
export function parseJsonl(text: string, source = 'jsonl'): JsonlRecord[] {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const out: JsonlRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new Error(`${source}:${i + 1}: not valid JSON (${(err as Error).message}); each line must be one JSON object`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new Error(`${source}:${i + 1}: expected a JSON object per line, got ${Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'null' : typeof value}`);
    }
    out.push({ value: value as Record<string, unknown>, line: i + 1 });
  }
  return out;
}

/** The string field `key` of a record, or an error naming the line and field. */
export function stringField(rec: JsonlRecord, key: string, source: string, opts: { allowEmpty?: boolean } = {}): string {
  const v = rec.value[key];
  if (typeof v !== 'string') {
    const keys = Object.keys(rec.value).join(', ') || 'none';
    throw new Error(`${source}:${rec.line}: field "${key}" must be a string, got ${v === undefined ? 'nothing' : JSON.stringify(v)} (fields present: ${keys})`);
  }
  if (!opts.allowEmpty && v === '') throw new Error(`${source}:${rec.line}: field "${key}" is empty`);
  return v;
}

/** An optional string field: undefined when absent, an error when present but not a string. */
export function optionalStringField(rec: JsonlRecord, key: string, source: string): string | undefined {
  return rec.value[key] === undefined ? undefined : stringField(rec, key, source, { allowEmpty: true });
}
