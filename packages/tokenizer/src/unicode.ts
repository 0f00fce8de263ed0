/**
 * Character classes and UTF-16 checks shared by the pre-tokenizers, the normalizers and the
 * tokenizer. Hugging Face runs its regexes with Oniguruma, whose `\s` is Unicode's White_Space
 * property (it includes U+0085 and excludes U+FEFF, unlike JavaScript's `\s`), so the classes here
 * are spelled with Unicode properties rather than JS shorthands.
 */

/** Class of a code point for GPT-2's split: anything else. */
export const OTHER = 0;
/** Class of a code point for GPT-2's split: `\p{L}`. */
export const LETTER = 1;
/** Class of a code point for GPT-2's split: `\p{N}`. */
export const NUMBER = 2;
/** Class of a code point for GPT-2's split: White_Space (Oniguruma's `\s`). */
export const SPACE = 3;

const LETTER_RE = /\p{L}/u;
const NUMBER_RE = /\p{N}/u;
const SPACE_RE = /\p{White_Space}/u;

let bmpTable: Uint8Array | undefined;
const astralCache = new Map<number, number>();

/**
 * Class table for the Basic Multilingual Plane, built once from the engine's own Unicode data by
 * scanning a string of all 65,536 code units (about a millisecond), so no tables ship with the code.
 */
export function bmpClasses(): Uint8Array {
  if (bmpTable) return bmpTable;
  const table = new Uint8Array(0x10000);
  const units = new Uint16Array(0x10000);
  // Surrogates become NUL, which is class OTHER like the surrogates themselves.
  for (let i = 0; i < 0x10000; i++) units[i] = i >= 0xd800 && i < 0xe000 ? 0 : i;
  let all = "";
  for (let i = 0; i < 0x10000; i += 4096) all += String.fromCharCode(...units.subarray(i, i + 4096));
  const mark = (re: RegExp, cls: number) => {
    for (const m of all.matchAll(re)) table.fill(cls, m.index, m.index + m[0].length);
  };
  mark(/\p{L}+/gu, LETTER);
  mark(/\p{N}+/gu, NUMBER);
  mark(/\p{White_Space}+/gu, SPACE);
  bmpTable = table;
  return table;
}

/** Class of a code point above U+FFFF (memoized: astral text is rare but repetitive). */
export function astralClass(cp: number): number {
  let cls = astralCache.get(cp);
  if (cls === undefined) {
    const s = String.fromCodePoint(cp);
    cls = LETTER_RE.test(s) ? LETTER : NUMBER_RE.test(s) ? NUMBER : SPACE_RE.test(s) ? SPACE : OTHER;
    astralCache.set(cp, cls);
  }
  return cls;
}

/** Rust's `char::is_whitespace` (the White_Space property) for one UTF-16 unit. */
export function isWhitespaceUnit(unit: number): boolean {
  return bmpClasses()[unit] === SPACE;
}

const ASCII_RE = /^[\x00-\x7f]*$/;

/** True when every UTF-16 unit is below 0x80 (normalizers are the identity there). */
export function isAscii(text: string): boolean {
  return ASCII_RE.test(text);
}

const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Throws when `text` holds a lone surrogate. Hugging Face works on Rust strings, which cannot hold
 * one (its Node binding silently turns them into U+FFFD), so we refuse rather than guess.
 */
export function assertWellFormed(text: string, where: string): void {
  const wf = (text as { isWellFormed?: () => boolean }).isWellFormed;
  if (wf ? wf.call(text) : !LONE_SURROGATE_RE.test(text)) return;
  const m = LONE_SURROGATE_RE.exec(text)!;
  const unit = text.charCodeAt(m.index).toString(16).toUpperCase();
  throw new TypeError(
    `${where}: the text holds a lone surrogate U+${unit} at UTF-16 index ${m.index}, which is not valid ` +
      `Unicode and has no UTF-8 bytes; fix the text or call text.toWellFormed() to replace it with U+FFFD`,
  );
}

/**
 * Converts UTF-16 offsets into code point offsets (Hugging Face's "char" offsets), in place.
 * `text` is the string the offsets point into.
 */
export function toCodePointOffsets(text: string, offsets: Array<[number, number]>): void {
  if (!/[\ud800-\udfff]/.test(text)) return;
  const cpIndex = new Int32Array(text.length + 1);
  let n = 0;
  for (let i = 0; i < text.length; i++, n++) {
    cpIndex[i] = n;
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) cpIndex[++i] = n;
  }
  cpIndex[text.length] = n;
  for (const o of offsets) {
    o[0] = cpIndex[o[0]]!;
    // An end inside a pair cannot happen: tokens never split a code point in UTF-16 terms.
    o[1] = cpIndex[o[1]]!;
  }
}
