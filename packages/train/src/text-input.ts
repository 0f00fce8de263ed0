/**
 * Training text from the bytes of a data file, browser-safe: plain UTF-8 text, gzip-compressed text
 * (`.gz`, recognised by its magic bytes), and JSON Lines whose records carry a `text` field
 * (`.jsonl`, `.jsonl.gz`; the texts are joined with newlines, in file order).
 * @module
 */

import { gunzipSync } from 'fflate';
import { parseJsonl, stringField } from './eval-jsonl.ts';

/** How a data file's bytes become text. */
export type TextFormat = 'text' | 'jsonl';

/** The format of a data file, from its name (`.jsonl` or `.jsonl.gz` is JSON Lines; anything else is text). */
export function textFormatOf(path: string): TextFormat {
  return /\.jsonl(\.gz)?$/i.test(path) ? 'jsonl' : 'text';
}

/** Whether bytes start with gzip's magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** A data file's name without a trailing `.gz`, so `qed.train.gz` counts as `qed.train`. */
export function withoutGz(path: string): string {
  return path.replace(/\.gz$/i, '');
}

/**
 * The text of a data file's bytes: un-gzipped when compressed, and for JSON Lines the `text` field
 * of every record joined with `\n`. `name` (the file, or the config field and file) prefixes
 * errors, which give the line number and the fix.
 */
export function decodeTextInput(bytes: Uint8Array, name: string, format: TextFormat = textFormatOf(name)): string {
  let raw = bytes;
  if (isGzip(bytes)) {
    try {
      raw = gunzipSync(bytes);
    } catch (e) {
      throw new Error(`${name}: not a valid gzip file (${(e as Error).message}); recompress it or give the uncompressed file`);
    }
  }
  const text = new TextDecoder().decode(raw);
  if (format === 'text') return text;
  // One record per line, each with a "text" string field (empty texts allowed); errors name the line.
  return parseJsonl(text, name).map((rec) => stringField(rec, 'text', name, { allowEmpty: true })).join('\n');
}
