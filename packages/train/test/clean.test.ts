import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BABYLM_SOURCES,
  cleanAochildes,
  cleanBncSpoken,
  cleanCbt,
  cleanChildrenStories,
  cleanerFor,
  cleanGutenberg,
  cleanOpenSubtitles,
  cleanQed,
  cleanSimpleWikipedia,
  cleanSwitchboard,
  cleanupExtraSpaces,
  cleanWikipedia,
  normalizeWhitespace,
  sourceOf,
  stripHtml,
} from '../src/clean.ts';

// Expected strings marked "mrclean.py" are what Baby Llama's mrclean.py (START/END/PAD = '')
// returns for the same input under Python 3.11; the port also matched it on 30k random strings.
const DROP = { dropParagraphBreaks: true } as const;

test('aochildes: collapses space runs and removes the space before punctuation', () => {
  const input = 'you want  the ball ?\ttake it .\u00a0\u00a0ok !\n\nthere  , see';
  // mrclean.py
  assert.equal(cleanAochildes(input), 'you want the ball? take it. ok!\n\nthere, see');
  assert.equal(cleanupExtraSpaces('a \t b ;'), 'a b;');
});

test('bnc_spoken: paragraph breaks kept by default, deleted only when asked', () => {
  const input = "Well  , I don't know .\n\nRight ?  Yes";
  assert.equal(cleanBncSpoken(input), "Well, I don't know.\n\nRight? Yes");
  // mrclean.py (the accidental deletion glues "know." to "Right?")
  assert.equal(cleanBncSpoken(input, DROP), "Well, I don't know.Right? Yes");
});

test('cbt: joins the space before an apostrophe suffix', () => {
  const input = "`` Don 't go , '' said Tom 's  mother .\nIt 's the boy \u2019s hat .";
  // mrclean.py: the quote pair `` '' is left alone; only a word char + space + 'x is joined.
  assert.equal(cleanCbt(input), "`` Don't go, '' said Tom's mother.\nIt's the boy\u2019s hat.");
  // Unicode word characters count as \w (Python 3 semantics).
  assert.equal(cleanCbt("café 's"), "café's");
});

test('children_stories, gutenberg, switchboard: unchanged', () => {
  const input = 'A  b .\n\n\tC ,';
  assert.equal(cleanChildrenStories(input), input);
  assert.equal(cleanGutenberg(input, DROP), input);
  assert.equal(cleanSwitchboard(input), input);
});

test('open_subtitles: drops whole credit lines, any case', () => {
  const input = 'Hello.\nSubtitles by ADDIC7ED\nBye.\n-- SUBTITLE edit\nend subtitle';
  // mrclean.py: the last line has no trailing newline, so it survives.
  assert.equal(cleanOpenSubtitles(input), 'Hello.\nBye.\nend subtitle');
  // `\r` is not a line end for Python's `$`/`^`: a CRLF credit line goes with its `\r`.
  assert.equal(cleanOpenSubtitles('a\r\nsubtitle x\r\nb'), 'a\r\nb');
});

test('qed: re-cases mostly-upper-case lines and strips every line', () => {
  const input = "HELLO EVERYONE. WELCOME TO THE TALK! (APPLAUSE)\nthis line stays\n  ALL RIGHT? lets go  \n\nI'm OK\n";
  // mrclean.py. Line 3: body "  ALL RIGHT lets go  " has 8 upper of 20 chars (< 0.5): only stripped.
  // Line 5: "I'm OK" has 3 upper of 6 (= 0.5): capitalized. The trailing newline is dropped.
  assert.equal(
    cleanQed(input),
    "Hello everyone. Welcome to the talk! (applause)\nthis line stays\nALL RIGHT? lets go\n\nI'm ok",
  );
  // `l` in caps text is a mis-read `I`.
  assert.equal(cleanQed('lT IS TRUE'), 'It is true');
  // Python capitalize uses title case: ß → Ss, and final sigma lower-cases to ς.
  assert.equal(cleanQed('STRAßE'), 'Straße');
  assert.equal(cleanQed('ßA'), 'Ssa');
  assert.equal(cleanQed('ΟΔΟΣ'), 'Οδος');
});

test('qed: a line with an empty body is kept instead of dividing by zero', () => {
  // mrclean.py raises ZeroDivisionError on these lines.
  assert.equal(cleanQed('(Laughter)\n...\n  (Applause) \nHI.'), '(Laughter)\n...\n(Applause)\nHi.');
  assert.equal(cleanQed(''), '');
});

test('simple_wikipedia: identity unless paragraph breaks are dropped', () => {
  const input = 'April is a month.\n\nIt has 30 days.\n';
  assert.equal(cleanSimpleWikipedia(input), input);
  // mrclean.py
  assert.equal(cleanSimpleWikipedia(input, DROP), 'April is a month.It has 30 days.\n');
});

test('wikipedia: headings unwrapped, lines stripped, first character dropped', () => {
  const input = '\n = = = History = = =\n  The town was founded.  \n\nIt grew.\n\n = = = Geography = = =\nHills.\n';
  assert.equal(cleanWikipedia(input), 'History  The town was founded.\n\nIt grew.\n\nGeographyHills.');
  // mrclean.py
  assert.equal(cleanWikipedia(input, DROP), 'History  The town was founded.It grew.GeographyHills.');
});

test('stripHtml: drops tags, scripts and comments; decodes entities once', () => {
  const html =
    '<html><head><title>T</title><style>p{color:red}</style></head><body>' +
    '<p>Tom &amp; Jerry&#39;s <b>big</b> day&#x2019;s<br/>end</p><!-- hidden --><script>alert(1)</script>' +
    '<p>a&nbsp;b &amp;lt; &bogus; &#0;</p></body></html>';
  const text = stripHtml(html);
  assert.ok(!text.includes('<') && !text.includes('alert') && !text.includes('hidden') && !text.includes('color'));
  assert.equal(
    normalizeWhitespace(text),
    'T\n\nTom & Jerry\'s big day\u2019s\nend\n\na b &lt; &bogus; &#0;',
  );
});

test('normalizeWhitespace: one space, no trailing spaces, paragraph breaks kept', () => {
  const input = '  Hello \t world\u00a0 !\r\nNext   line  \r\n\r\n\n\n\nNew\u2003paragraph.  \n';
  assert.equal(normalizeWhitespace(input), 'Hello world !\nNext line\n\nNew paragraph.');
  assert.equal(normalizeWhitespace(input, DROP), 'Hello world !\nNext line\nNew paragraph.');
});

test('cleanerFor: by source name, file path, alias, generic; unknown names listed', () => {
  assert.equal(cleanerFor('qed'), cleanQed);
  assert.equal(cleanerFor('data/babylm_10M/qed.train'), cleanQed);
  assert.equal(cleanerFor('C:\\data\\bnc_spoken.dev'), cleanBncSpoken);
  assert.equal(cleanerFor('childes'), cleanAochildes);
  assert.equal(cleanerFor('strip_html'), stripHtml);
  for (const s of BABYLM_SOURCES) assert.equal(typeof cleanerFor(`${s}.train`), 'function');
  assert.equal(sourceOf('a/b/simple_wikipedia.train'), 'simple_wikipedia');
  assert.throws(() => cleanerFor('reddit.train'), /no cleaner for "reddit\.train"; known names: .*aochildes.*none/);
  assert.throws(() => cleanerFor('toString'), /no cleaner/);
  assert.throws(() => cleanerFor('__proto__'), /no cleaner/);
});
