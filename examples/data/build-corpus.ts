/**
 * Rebuilds the embedded demo corpus in this folder (`<source>.train.gz` / `<source>.dev.gz`) from
 * Debian packages. Not needed to use the corpus: the output is committed. See README.md.
 *
 *   apt-get download r-cran-janeaustenr sword-text-web
 *   dpkg -x r-cran-janeaustenr_*.deb /tmp/corpus-root
 *   dpkg -x sword-text-web_*.deb /tmp/corpus-root
 *   node --import tsx examples/data/build-corpus.ts --root /tmp/corpus-root
 *
 * (or `apt-get install` them and pass `--root /`, the default). The fortunes come from the
 * tokenizer's committed test fixture. Output is deterministic: gzip level 9 with mtime 0.
 *
 * Every source is cut into ordered chunks (a chapter of a novel, a chapter of the Bible, one
 * fortune) and every 10th chunk goes to `.dev` (`splitTrainDev` in `../lib/corpus.ts`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, strFromU8, unzlibSync } from 'fflate';
import { countWords, encodeText, splitTrainDev } from '../lib/corpus.ts';
import { readLazyLoadDB } from './rdata.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const root = args.includes('--root') ? args[args.indexOf('--root') + 1]! : '/';
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : undefined;

// ---------------------------------------------------------------------------------------------
// Jane Austen: the six novels of r-cran-janeaustenr (character vectors, one element per line).
// ---------------------------------------------------------------------------------------------

/** The novels in publication order, by their janeaustenr object names. */
const NOVELS = ['sensesensibility', 'prideprejudice', 'mansfieldpark', 'emma', 'northangerabbey', 'persuasion'];

function austenChunks(): string[] {
  const dir = join(root, 'usr/lib/R/site-library/janeaustenr/data');
  const db = readLazyLoadDB(readFileSync(join(dir, 'Rdata.rdx')), readFileSync(join(dir, 'Rdata.rdb')));
  const chunks: string[] = [];
  for (const novel of NOVELS) {
    const v = db[novel];
    if (!v || v.type !== 'character') throw new Error(`janeaustenr: no character vector ${novel}`);
    // Chapters start at a "CHAPTER I" / "Chapter 1" line; the title page goes with chapter 1.
    const lines = v.values.map((l) => (l ?? '').replace(/\s+$/, ''));
    const starts = lines.flatMap((l, i) => (/^chapter\s+([0-9]+|[ivxlc]+)\b/i.test(l.trim()) ? [i] : []));
    if (starts.length < 10) throw new Error(`janeaustenr: only ${starts.length} chapters found in ${novel}`);
    starts[0] = 0;
    starts.forEach((s, k) => {
      const text = lines.slice(s, starts[k + 1] ?? lines.length).join('\n');
      // At most one blank line in a row, no blank lines at either end.
      chunks.push(text.replace(/\n{3,}/g, '\n\n').replace(/^\n+|\n+$/g, ''));
    });
  }
  return chunks;
}

// ---------------------------------------------------------------------------------------------
// World English Bible: SWORD zText module engWEB2015eb (OSIS markup, zlib blocks per book).
// ---------------------------------------------------------------------------------------------

/** The verse entries of one testament (`ot`/`nt`), in index order, as OSIS strings. */
function swordEntries(dir: string, testament: 'ot' | 'nt'): string[] {
  // .bzs: per block (offset, compressed size, uncompressed size), u32 LE each.
  // .bzv: per entry (block, offset in the block, size), u32 + u32 + u16 LE.
  const bzs = readFileSync(join(dir, `${testament}.bzs`));
  const bzv = readFileSync(join(dir, `${testament}.bzv`));
  const bzz = readFileSync(join(dir, `${testament}.bzz`));
  const blocks: Uint8Array[] = [];
  for (let i = 0; i + 12 <= bzs.length; i += 12) {
    const off = bzs.readUInt32LE(i);
    const size = bzs.readUInt32LE(i + 4);
    const block = unzlibSync(bzz.subarray(off, off + size));
    if (block.length !== bzs.readUInt32LE(i + 8)) throw new Error(`sword: block ${i / 12} size mismatch`);
    blocks.push(block);
  }
  const out: string[] = [];
  for (let i = 0; i + 10 <= bzv.length; i += 10) {
    const b = bzv.readUInt32LE(i);
    const start = bzv.readUInt32LE(i + 4);
    const size = bzv.readUInt16LE(i + 8);
    out.push(size === 0 ? '' : strFromU8(blocks[b]!.subarray(start, start + size)));
  }
  return out;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The plain text of one OSIS verse entry: footnotes, headings and speaker labels dropped. */
function osisToText(osis: string): string {
  return osis
    .replace(/<note\b[^>]*>[\s\S]*?<\/note>/g, '')
    .replace(/<title\b(?![^>]*type="psalm")[^>]*>[\s\S]*?<\/title>/g, '')
    .replace(/<speaker\b[^>]*>[\s\S]*?<\/speaker>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ENTITIES[e]!)
    .replace(/\s+/g, ' ')
    .replace(/ ([,.;:!?’”)])/g, '$1')
    .replace(/([“‘(]) /g, '$1')
    .trim();
}

/**
 * Books left out: `DanGr` ("Daniel (Greek)") is indexed in this module's NRSVA versification with
 * only its chapters 1-6, and those hold the same text as `Dan` 1-6 (translated from the Hebrew),
 * so it is dropped to keep any passage from appearing twice (and in both train and dev).
 * `EsthGr` stays: it is a separate translation from the Greek (8-gram overlap with `Esth` ≈ 0).
 */
const BIBLE_SKIP = new Set(['DanGr']);

function bibleChunks(): string[] {
  const dir = join(root, 'usr/share/sword/modules/texts/ztext/engWEB2015eb');
  const chunks: string[] = [];
  for (const t of ['ot', 'nt'] as const) {
    let verses: string[] | undefined; // inside a chapter
    for (const entry of swordEntries(dir, t)) {
      // A chapter opens with <chapter sID="Gen.1"/> and closes with <chapter eID="Gen.1"/>; text
      // outside chapters (the preface, book introductions, the glossary) is left out.
      const parts = entry.split(/(<chapter\b[^>]*\/>)/);
      for (const p of parts) {
        if (p.startsWith('<chapter')) {
          const book = /\b[se]ID="([^".]+)\./.exec(p)?.[1] ?? '';
          if (/\bsID="/.test(p)) verses = BIBLE_SKIP.has(book) ? undefined : [];
          else if (/\beID="/.test(p) && verses) {
            if (verses.length > 0) chunks.push(verses.join('\n'));
            verses = undefined;
          }
        } else if (verses) {
          const text = osisToText(p);
          if (text) verses.push(text);
        }
      }
    }
    if (verses && verses.length > 0) chunks.push(verses.join('\n'));
  }
  return chunks;
}

// ---------------------------------------------------------------------------------------------
// Fortunes: the tokenizer fixture (science, literature, wisdom from Debian's fortunes).
// ---------------------------------------------------------------------------------------------

function fortuneChunks(): string[] {
  const path = join(here, '../../packages/tokenizer/test/fixtures/fortunes-sample.txt');
  return readFileSync(path, 'utf8')
    .split(/^%\n/m)
    .map((e) => e.replace(/\s+$/, ''))
    .filter((e) => e.trim() !== '');
}

// ---------------------------------------------------------------------------------------------

const sources: Record<string, () => string[]> = { austen: austenChunks, bible: bibleChunks, fortunes: fortuneChunks };
let total = 0;
for (const [name, chunksOf] of Object.entries(sources)) {
  if (only && !only.includes(name)) continue;
  const chunks = chunksOf();
  const { train, dev } = splitTrainDev(chunks, { every: 10 });
  for (const [split, text] of [['train', train], ['dev', dev]] as const) {
    const gz = gzipSync(encodeText(text), { level: 9, mtime: 0 });
    writeFileSync(join(here, `${name}.${split}.gz`), gz);
    total += gz.length;
    console.log(`${name}.${split}.gz: ${chunks.length} chunks, ${countWords(text)} words, ${text.length} chars, ${gz.length} bytes gzipped`);
  }
}
console.log(`total ${total} bytes`);
