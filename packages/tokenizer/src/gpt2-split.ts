/**
 * GPT-2's pre-tokenization split, hand-written. The pattern is
 *
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * A scanner over a class table gives the same pieces as the regex (tests check it against both
 * the regex and Hugging Face) without allocating a match object per piece, which matters when
 * training on hundreds of megabytes.
 */
import { astralClass, bmpClasses, SPACE } from "./unicode.ts";

/**
 * Receives one piece: `text[start, end)`, preceded by an inserted space when `prefixed` (only the
 * first piece of a range can be prefixed, and then `start` is the range start).
 */
export type SplitSink = (start: number, end: number, prefixed: boolean) => void;

/** GPT-2's regex, for reference and for tests (the scanner below is what runs). */
export const GPT2_PATTERN =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\p{White_Space}\\p{L}\\p{N}]+|\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+";

/**
 * Splits `text[start, end)` as GPT-2's regex would split that substring on its own. With
 * `addPrefixSpace`, a space is inserted first unless the range starts with one (Hugging Face's
 * ByteLevel rule; it checks for U+0020 only), and the pieces are cut from the spaced text.
 */
export function splitGpt2(text: string, start: number, end: number, addPrefixSpace: boolean, emit: SplitSink): void {
  if (start >= end) return;
  const table = bmpClasses();
  let i = start;
  if (addPrefixSpace && text.charCodeAt(start) !== 0x20) {
    // The inserted space can only begin a piece: ` ?\p{L}+` and friends, or a whitespace run.
    const cls = classAt(text, start, table);
    if (cls !== SPACE) {
      const j = runEnd(text, start, end, cls, table);
      emit(start, j, true);
      i = j;
    } else {
      const j = runEnd(text, start, end, SPACE, table);
      // `\s+(?!\S)` keeps the run's last space for the next piece when a non-space follows.
      const stop = j === end ? j : j - 1;
      emit(start, stop, true);
      i = stop;
    }
  }
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c === 0x27 && i + 1 < end) {
      const c1 = text.charCodeAt(i + 1);
      // 's 't 'm 'd
      if (c1 === 0x73 || c1 === 0x74 || c1 === 0x6d || c1 === 0x64) {
        emit(i, i + 2, false);
        i += 2;
        continue;
      }
      if (i + 2 < end) {
        const c2 = text.charCodeAt(i + 2);
        // 're 've 'll
        if ((c2 === 0x65 && (c1 === 0x72 || c1 === 0x76)) || (c1 === 0x6c && c2 === 0x6c)) {
          emit(i, i + 3, false);
          i += 3;
          continue;
        }
      }
    }
    if (c === 0x20 && i + 1 < end) {
      const next = classAt(text, i + 1, table);
      if (next !== SPACE) {
        const j = runEnd(text, i + 1, end, next, table);
        emit(i, j, false);
        i = j;
        continue;
      }
    }
    const cls = c < 0xd800 || c >= 0xe000 ? table[c]! : classAt(text, i, table);
    const j = runEnd(text, i, end, cls, table);
    if (cls !== SPACE || j === end || j - i === 1) {
      emit(i, j, false);
      i = j;
    } else {
      emit(i, j - 1, false);
      i = j - 1;
    }
  }
}

/** Class of the code point starting at `i` (text is well-formed, so a high surrogate has a pair). */
function classAt(text: string, i: number, table: Uint8Array): number {
  const c = text.charCodeAt(i);
  if (c < 0xd800 || c >= 0xe000) return table[c]!;
  return astralClass(text.codePointAt(i)!);
}

/** End of the run of code points of class `cls` starting at `i`. */
function runEnd(text: string, i: number, end: number, cls: number, table: Uint8Array): number {
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c >= 0xe000) {
      if (table[c] !== cls) break;
      i++;
    } else {
      if (astralClass(text.codePointAt(i)!) !== cls) break;
      i += 2;
    }
  }
  return i;
}
