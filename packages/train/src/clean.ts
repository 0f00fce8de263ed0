/**
 * Text cleaning per BabyLM source, ported from Baby Llama's `mrclean.py` (timinar/BabyLlama), plus
 * two generic cleaners. Every cleaner is a pure `(text, opts?) => text` function on strings.
 *
 * Faithfulness: the regular expressions reproduce Python `re` semantics (Unicode `\w`, Python's
 * whitespace set for `\s` and `str.strip`, `str.splitlines` line boundaries, `str.capitalize`), so
 * a cleaned corpus matches the one Baby Llama tokenized, with one deliberate exception:
 *
 * **Paragraph breaks are kept by default.** `mrclean.py` replaces `\n\n` with
 * `END + PAD * n + START`, but the committed file sets all three tokens to `''`, so the
 * substitution silently *deletes* every blank-line paragraph break in simple_wikipedia, wikipedia
 * and bnc_spoken (gluing the last word of one paragraph onto the first word of the next). That
 * looks like an accident, so here it is opt-in: pass `{ dropParagraphBreaks: true }` to reproduce
 * the original corpus exactly (e.g. to compare against Baby Llama's published numbers).
 * @module
 */

/** Options shared by every cleaner. */
export interface CleanOptions {
  /**
   * Reproduce `mrclean.py`'s accidental deletion of `\n\n` (blank-line paragraph breaks) in the
   * sources where it happens (bnc_spoken, simple_wikipedia, wikipedia). Default `false`: keep them.
   * For {@link normalizeWhitespace}, `true` collapses blank lines to a single newline instead.
   */
  dropParagraphBreaks?: boolean;
}

/** A text cleaner: a pure function from raw text to cleaned text. */
export type Cleaner = (text: string, opts?: CleanOptions) => string;

// Python's `str.isspace()` / `re` `\s` set (JS `\s` lacks \x1c-\x1f and \x85 and adds \ufeff).
const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_WS_CLASS = `[${PY_WS}]`;
// Python 3 `\w` on str patterns: letters, digits (all Unicode numerics) and underscore.
const PY_WORD_CLASS = '[\\p{L}\\p{N}_]';

const STRIP_RE = new RegExp(`^${PY_WS_CLASS}+|${PY_WS_CLASS}+$`, 'gu');
const LINE_BREAK_RE = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;

/** Python `str.strip()` with no arguments. */
function pyStrip(s: string): string {
  return s.replace(STRIP_RE, '');
}

/** Python `str.splitlines()`: splits on every Unicode line boundary and drops a final empty line. */
function pySplitLines(s: string): string[] {
  if (s.length === 0) return [];
  const lines = s.split(LINE_BREAK_RE);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

// Code points whose Unicode title case differs from JS `toUpperCase()` (generated from Python's
// `str.capitalize`), as `hex:hex hex`; Georgian and the Greek iota-subscript block follow rules below.
const TITLECASE_TABLE =
  'df:53 73,1c4:1c5,1c5:1c5,1c6:1c5,1c7:1c8,1c8:1c8,1c9:1c8,1ca:1cb,1cb:1cb,1cc:1cb,1f1:1f2,' +
  '1f2:1f2,1f3:1f2,587:535 582,1fb2:1fba 345,1fb3:1fbc,1fb4:386 345,1fb7:391 342 345,1fbc:1fbc,' +
  '1fc2:1fca 345,1fc3:1fcc,1fc4:389 345,1fc7:397 342 345,1fcc:1fcc,1ff2:1ffa 345,1ff3:1ffc,' +
  '1ff4:38f 345,1ff7:3a9 342 345,1ffc:1ffc,fb00:46 66,fb01:46 69,fb02:46 6c,fb03:46 66 69,' +
  'fb04:46 66 6c,fb05:53 74,fb06:53 74,fb13:544 576,fb14:544 565,fb15:544 56b,fb16:54e 576,' +
  'fb17:544 56d';
let titlecaseMap: Map<number, string> | undefined;

/** Unicode title case of one code point (JS has only `toUpperCase`, which differs for ß, ǆ, ﬁ, ...). */
function toTitleCase(cp: number): string {
  if (cp >= 0x10d0 && cp <= 0x10ff) return String.fromCodePoint(cp); // Georgian Mkhedruli: no title form
  if (cp >= 0x1f80 && cp <= 0x1faf) return String.fromCodePoint(cp | 8); // Greek with prosgegrammeni
  titlecaseMap ??= new Map(
    TITLECASE_TABLE.split(',').map((entry) => {
      const [from, to] = entry.split(':') as [string, string];
      return [parseInt(from, 16), String.fromCodePoint(...to.split(' ').map((h) => parseInt(h, 16)))];
    }),
  );
  return titlecaseMap.get(cp) ?? String.fromCodePoint(cp).toUpperCase();
}

/**
 * Python `str.capitalize()`: the first code point in title case, the rest lower-cased. The whole
 * string is lower-cased at once so context rules (Greek final sigma) see the first letter.
 */
function pyCapitalize(s: string): string {
  if (s.length === 0) return s;
  const cp = s.codePointAt(0)!;
  const first = String.fromCodePoint(cp);
  const lower = s.toLowerCase();
  const firstLower = first.toLowerCase();
  const rest = lower.startsWith(firstLower) ? lower.slice(firstLower.length) : s.slice(first.length).toLowerCase();
  return toTitleCase(cp) + rest;
}

/** Replaces every `\n\n` with nothing when asked to (see the module comment for why it is opt-in). */
function maybeDropParagraphBreaks(text: string, opts: CleanOptions | undefined): string {
  return opts?.dropParagraphBreaks === true ? text.replaceAll('\n\n', '') : text;
}

const MULTIPLE_SPACES_RE = /[ \t\u00A0]+/g;
const SPACE_BEFORE_PUNCTUATION_RE = /[ \t\u00A0]([.,;!?])/g;

/**
 * `mrclean.cleanup_extra_spaces`: collapses runs of space, tab and no-break space to one space, then
 * removes the space before `.`, `,`, `;`, `!` and `?`. Newlines are untouched.
 */
export function cleanupExtraSpaces(text: string): string {
  return text.replace(MULTIPLE_SPACES_RE, ' ').replace(SPACE_BEFORE_PUNCTUATION_RE, '$1');
}

/** aochildes (CHILDES transcripts): {@link cleanupExtraSpaces}. */
export function cleanAochildes(text: string, _opts?: CleanOptions): string {
  return cleanupExtraSpaces(text);
}

/** bnc_spoken: {@link cleanupExtraSpaces}; with `dropParagraphBreaks`, then deletes `\n\n`. */
export function cleanBncSpoken(text: string, opts?: CleanOptions): string {
  return maybeDropParagraphBreaks(cleanupExtraSpaces(text), opts);
}

const SPACE_BEFORE_APOSTROPHE_RE = new RegExp(`(${PY_WORD_CLASS})[ \\t\\u00A0](['\u2019]${PY_WORD_CLASS})`, 'gu');

/**
 * cbt (Children's Book Test): {@link cleanupExtraSpaces}, then joins the tokenizer-split
 * apostrophe: `([\w\d])[ \t\u00A0](['’]\w)` → `\1\2` (so `don 't` → `don't`, `Tom 's` → `Tom's`).
 */
export function cleanCbt(text: string, _opts?: CleanOptions): string {
  return cleanupExtraSpaces(text).replace(SPACE_BEFORE_APOSTROPHE_RE, '$1$2');
}

/** children_stories: unchanged (blank lines there do not reliably separate stories). */
export function cleanChildrenStories(text: string, _opts?: CleanOptions): string {
  return text;
}

/** gutenberg: unchanged. */
export function cleanGutenberg(text: string, _opts?: CleanOptions): string {
  return text;
}

/** switchboard: unchanged. */
export function cleanSwitchboard(text: string, _opts?: CleanOptions): string {
  return text;
}

// Python `^.*subtitle.*$\n` with MULTILINE | IGNORECASE: `.` matches anything but `\n` and `^` only
// follows `\n` in Python, so spell both out instead of relying on JS's wider line terminators.
const SUBTITLE_CREDIT_RE = /(?<![^\n])[^\n]*subtitle[^\n]*\n/giu;

/**
 * open_subtitles: deletes every whole line containing "subtitle" (any case), e.g. "Subtitles by
 * ...". Like the original, a matching last line without a trailing newline is kept.
 */
export function cleanOpenSubtitles(text: string, _opts?: CleanOptions): string {
  return text.replace(SUBTITLE_CREDIT_RE, '');
}

const QED_PUNCTUATION_RE = new RegExp(`([.!?]${PY_WS_CLASS}*)`, 'u');
const QED_UNIMPORTANT_RE = /\(.*?\)|[.!?]/g;
const UPPERCASE_RE = /\p{Uppercase}/u;

/**
 * qed (TED-talk subtitles, many in ALL CAPS): for each non-empty line, the body is the line without
 * `(...)` groups and `.!?`; if at least half of the body's characters are upper-case, the line is
 * re-cased: every `l` becomes `I` (in caps text a lower-case `l` is a mis-recognised `I`), the line
 * is split after `[.!?]\s*` and each piece is `str.capitalize()`d. Every line is then stripped and
 * the lines are re-joined with `\n` (line-boundary characters are normalized and a trailing newline
 * is dropped, as `splitlines`/`join` do).
 *
 * Unlike the original, a line whose body is empty (e.g. `(Applause)` or `...`) is left as is
 * instead of raising ZeroDivisionError.
 */
export function cleanQed(text: string, _opts?: CleanOptions): string {
  const out: string[] = [];
  for (let line of pySplitLines(text)) {
    if (line.length > 0) {
      const body = line.replace(QED_UNIMPORTANT_RE, '');
      let n = 0;
      let upper = 0;
      for (const ch of body) {
        n++;
        if (UPPERCASE_RE.test(ch)) upper++;
      }
      if (n > 0 && upper / n >= 0.5) {
        line = line.replaceAll('l', 'I').split(QED_PUNCTUATION_RE).map(pyCapitalize).join('');
      }
    }
    out.push(pyStrip(line));
  }
  return out.join('\n');
}

/** simple_wikipedia: unchanged, unless `dropParagraphBreaks` (then deletes every `\n\n`). */
export function cleanSimpleWikipedia(text: string, opts?: CleanOptions): string {
  return maybeDropParagraphBreaks(text, opts);
}

const WIKI_HEADING_RE = /= = = ([^\n]+?) = = =\n/g;

/**
 * wikipedia: `= = = Heading = = =\n` → `Heading` (the original also removes the newline, so the
 * heading runs into the next line; kept for fidelity), strips every line, re-joins with `\n`, drops
 * the first character of the result (the corpus starts with a newline), and with
 * `dropParagraphBreaks` deletes every `\n\n`.
 */
export function cleanWikipedia(text: string, opts?: CleanOptions): string {
  const lines = pySplitLines(text.replace(WIKI_HEADING_RE, '$1')).map(pyStrip);
  return maybeDropParagraphBreaks(lines.join('\n').slice(1), opts);
}

const HTML_DROP_RE = /<!--[\s\S]*?-->|<(script|style|noscript|template)\b[^>]*>[\s\S]*?<\/\1\s*>/gi;
const HTML_BLOCK_TAG_RE = /<\/?(?:p|div|br|hr|li|ul|ol|dl|dt|dd|tr|table|section|article|header|footer|h[1-6]|blockquote|pre|title)\b[^>]*>/gi;
const HTML_TAG_RE = /<\/?[A-Za-z][^>]*>|<![^>]*>/g;
const HTML_ENTITY_RE = /&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z]+);/g;
const NAMED_ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00A0', ndash: '\u2013', mdash: '\u2014',
  lsquo: '\u2018', rsquo: '\u2019', ldquo: '\u201C', rdquo: '\u201D', hellip: '\u2026', copy: '\u00A9',
};

function decodeEntity(match: string, body: string): string {
  if (body[0] === '#') {
    const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
    return Number.isFinite(code) && code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code < 0xe000)
      ? String.fromCodePoint(code)
      : match;
  }
  return NAMED_ENTITIES[body] ?? NAMED_ENTITIES[body.toLowerCase()] ?? match;
}

/**
 * Removes HTML markup: comments and `script`/`style`/`noscript`/`template` elements with their
 * content are dropped, block-level tags (`p`, `div`, `br`, `li`, headings, ...) become a newline,
 * other tags are removed, and common character references (`&amp;`, `&#39;`, `&#x2019;`, `&nbsp;`,
 * ...) are decoded in one pass (so `&amp;lt;` becomes `&lt;`, not `<`). A regex pass, not a parser:
 * meant for scraped text, not for adversarial markup. Follow with {@link normalizeWhitespace}.
 */
export function stripHtml(text: string, _opts?: CleanOptions): string {
  return text
    .replace(HTML_DROP_RE, '')
    .replace(HTML_BLOCK_TAG_RE, '\n')
    .replace(HTML_TAG_RE, '')
    .replace(HTML_ENTITY_RE, decodeEntity);
}

const H_SPACE_RUN_RE = /[^\S\n]+/g;

/**
 * Normalizes whitespace: `\r\n`/`\r` → `\n`, runs of other whitespace (tabs, no-break and Unicode
 * spaces) → one space, spaces at the start and end of every line removed, runs of blank lines
 * collapsed to one blank line (a paragraph break; with `dropParagraphBreaks`, to a single newline),
 * and leading/trailing whitespace of the whole text removed.
 */
export function normalizeWhitespace(text: string, opts?: CleanOptions): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n').map((l) => l.replace(H_SPACE_RUN_RE, ' ').trim());
  const joined = lines.join('\n').replace(/\n{3,}/g, '\n\n').trim();
  return opts?.dropParagraphBreaks === true ? joined.replace(/\n\n/g, '\n') : joined;
}

/** The identity cleaner. */
export function cleanNone(text: string, _opts?: CleanOptions): string {
  return text;
}

/** The BabyLM sources that `mrclean.py` knows, by file stem (`qed.train` → `qed`). */
export const BABYLM_SOURCES = [
  'aochildes', 'bnc_spoken', 'cbt', 'children_stories', 'gutenberg',
  'open_subtitles', 'qed', 'simple_wikipedia', 'switchboard', 'wikipedia',
] as const;

/** A BabyLM source name. */
export type BabyLMSource = (typeof BABYLM_SOURCES)[number];

/**
 * Every cleaner by name: the ten BabyLM sources, the later BabyLM file names that alias them
 * (`childes` → aochildes, `simple_wiki` → simple_wikipedia), and the generic `none`, `strip_html`
 * and `normalize_whitespace`. Config files name cleaners with these keys.
 */
export const CLEANERS: Readonly<Record<string, Cleaner>> = Object.freeze({
  aochildes: cleanAochildes,
  bnc_spoken: cleanBncSpoken,
  cbt: cleanCbt,
  children_stories: cleanChildrenStories,
  gutenberg: cleanGutenberg,
  open_subtitles: cleanOpenSubtitles,
  qed: cleanQed,
  simple_wikipedia: cleanSimpleWikipedia,
  switchboard: cleanSwitchboard,
  wikipedia: cleanWikipedia,
  childes: cleanAochildes,
  simple_wiki: cleanSimpleWikipedia,
  none: cleanNone,
  strip_html: stripHtml,
  normalize_whitespace: normalizeWhitespace,
});

/** The names accepted by {@link cleanerFor}, sorted. */
export const CLEANER_NAMES: readonly string[] = Object.freeze(Object.keys(CLEANERS).sort());

/**
 * The source name of a corpus file: its base name without directories and without the last
 * extension (`data/babylm_10M/qed.train` → `qed`, `bnc_spoken.dev` → `bnc_spoken`).
 */
export function sourceOf(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/**
 * The cleaner for a source or cleaner name (`'qed'`, `'strip_html'`), or for a corpus file path
 * (`'data/babylm_10M/qed.train'`, resolved with {@link sourceOf}). Throws, listing the known
 * names, when there is none; use `'none'` to leave a source unchanged.
 */
export function cleanerFor(sourceName: string): Cleaner {
  const direct = Object.hasOwn(CLEANERS, sourceName) ? CLEANERS[sourceName] : undefined;
  if (direct !== undefined) return direct;
  const stem = sourceOf(sourceName);
  const byStem = Object.hasOwn(CLEANERS, stem) ? CLEANERS[stem] : undefined;
  if (byStem !== undefined) return byStem;
  throw new Error(
    `cleanerFor: no cleaner for "${sourceName}"; known names: ${CLEANER_NAMES.join(', ')} ` +
      `(use "none" to leave a source unchanged)`,
  );
}
