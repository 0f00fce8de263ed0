/**
 * Demo corpora in the BabyLM layout: a folder of `<source>.train` / `<source>.dev` text files
 * (kd-spec §3, `babylm_dataset.py`). This module is the byte-level core, with no file system:
 * reading a BabyLM `.zip` in place, un-gzipping the embedded fallback corpus, counting words,
 * cutting a corpus down to a word budget, and the deterministic train/dev split used to build the
 * embedded corpus. `corpus-node.ts` puts it on disk.
 *
 * Words are counted as runs of non-whitespace (`text.split(/\s+/)`), the way BabyLM counts its
 * "10M words".
 * @module
 */
import { gunzipSync, strFromU8, strToU8, unzipSync } from 'fflate';

/** One file of a BabyLM-style corpus: `name` is `<source>.train` or `<source>.dev`. */
export interface CorpusFile {
  name: string;
  text: string;
}

/** Per source: the words in its `.train` and `.dev` files (0 where the file is missing). */
export interface CorpusFileSummary {
  name: string;
  trainWords: number;
  devWords: number;
}

/** The splits a BabyLM folder holds, by file extension. */
export const SPLITS = ['train', 'dev'] as const;
export type Split = (typeof SPLITS)[number];

const WORD_RE = /\S+/g;

/** The number of whitespace-separated words in `text`. */
export function countWords(text: string): number {
  let n = 0;
  WORD_RE.lastIndex = 0;
  while (WORD_RE.exec(text) !== null) n++;
  return n;
}

/** `qed.train` → `{ source: 'qed', split: 'train' }`; `undefined` for other names. */
export function parseCorpusName(name: string): { source: string; split: Split } | undefined {
  const base = name.split(/[\\/]/).pop() ?? name;
  const m = /^(.+)\.(train|dev)$/.exec(base);
  return m ? { source: m[1]!, split: m[2] as Split } : undefined;
}

/**
 * The deterministic train/dev split of a source made of ordered chunks (chapters, entries, line
 * blocks): every `every`-th chunk (the 10th, 20th, ...) goes to dev, the rest to train, each side
 * keeping the original order. Chunks are joined with `joiner` and the result ends with a newline.
 */
export function splitTrainDev(
  chunks: readonly string[],
  opts: { every?: number; joiner?: string } = {},
): { train: string; dev: string } {
  const every = opts.every ?? 10;
  const joiner = opts.joiner ?? '\n\n';
  if (!Number.isInteger(every) || every < 2) throw new Error(`splitTrainDev: every must be an integer ≥ 2, got ${every}`);
  const train: string[] = [];
  const dev: string[] = [];
  chunks.forEach((c, i) => ((i + 1) % every === 0 ? dev : train).push(c));
  const join = (xs: string[]): string => (xs.length === 0 ? '' : `${xs.join(joiner)}\n`);
  return { train: join(train), dev: join(dev) };
}

/**
 * The first `maxWords` words of `text`, with its line breaks and spacing kept, cut after the last
 * kept word and ended with a newline. Returns `text` unchanged when it has no more words than that.
 */
export function truncateWords(text: string, maxWords: number): string {
  if (maxWords <= 0) return '';
  WORD_RE.lastIndex = 0;
  let n = 0;
  let m: RegExpExecArray | null;
  while ((m = WORD_RE.exec(text)) !== null) {
    if (++n === maxWords) {
      const end = m.index + m[0].length;
      WORD_RE.lastIndex = 0;
      if (!/\S/.test(text.slice(end))) return text;
      return `${text.slice(0, end)}\n`;
    }
  }
  return text;
}

/**
 * Cuts a corpus down so that its `.train` files hold at most `maxWords` words in total: every file,
 * `.train` and `.dev` alike, keeps the same fraction `maxWords / (training words)` of its words (its
 * first words), at least one, so the sources keep their proportions and each `.dev` stays the same
 * share of its `.train`. A corpus already within the budget is returned unchanged.
 */
export function truncateCorpus(files: readonly CorpusFile[], maxWords: number): CorpusFile[] {
  if (!Number.isFinite(maxWords) || maxWords < 1) throw new Error(`maxWords must be a positive number, got ${maxWords}`);
  const counts = files.map((f) => countWords(f.text));
  const trainWords = files.reduce((a, f, i) => a + (parseCorpusName(f.name)?.split === 'train' ? counts[i]! : 0), 0);
  if (trainWords <= maxWords) return files.map((f) => ({ ...f }));
  const frac = maxWords / trainWords;
  return files.map((f, i) => {
    const keep = counts[i] === 0 ? 0 : Math.max(1, Math.floor(counts[i]! * frac));
    return { name: f.name, text: truncateWords(f.text, keep) };
  });
}

/** Word counts per source, sorted by source name. */
export function summarizeCorpus(files: readonly CorpusFile[]): CorpusFileSummary[] {
  const bySource = new Map<string, CorpusFileSummary>();
  for (const f of files) {
    const p = parseCorpusName(f.name);
    if (!p) continue;
    const s = bySource.get(p.source) ?? { name: p.source, trainWords: 0, devWords: 0 };
    if (p.split === 'train') s.trainWords += countWords(f.text);
    else s.devWords += countWords(f.text);
    bySource.set(p.source, s);
  }
  return [...bySource.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** UTF-8 decoding (a leading byte-order mark is dropped). */
export function decodeText(bytes: Uint8Array): string {
  const s = strFromU8(bytes);
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

/** UTF-8 encoding. */
export function encodeText(text: string): Uint8Array {
  return strToU8(text);
}

/**
 * The embedded corpus from its committed gzip files (`austen.train.gz`, ...): un-gzips each
 * `<source>.<split>.gz` and drops everything else.
 */
export function decodeEmbedded(files: readonly { name: string; bytes: Uint8Array }[]): CorpusFile[] {
  const out: CorpusFile[] = [];
  for (const f of files) {
    if (!f.name.endsWith('.gz')) continue;
    const name = f.name.slice(0, -3);
    if (!parseCorpusName(name)) continue;
    out.push({ name, text: decodeText(gunzipSync(f.bytes)) });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Options for {@link readBabyLMZip} and {@link selectBabyLMPaths}. */
export interface BabyLMLayoutOptions {
  /** Which training set to take when there are several (`babylm_10M`, `babylm_100M`). Default `'10M'`. */
  track?: string;
}

/**
 * The corpus files among the paths of a BabyLM distribution (`/`-separated, relative to the
 * archive or folder root), for one training track:
 *
 * - the 2023 `babylm_data` layout: `babylm_data/babylm_10M/<source>.train` (or `babylm_100M` with
 *   `track: '100M'`) and `babylm_data/babylm_dev/<source>.dev`; `babylm_test/*.test` is ignored;
 * - the 2024 layout: `train_10M/<source>.train`, `dev/<source>.dev`;
 * - any other tree whose `.train` files all sit in one folder, with `.dev` files anywhere.
 *
 * Every `.dev` file is taken (BabyLM has one dev set for all tracks). Throws when no folder, or
 * more than one, holds the track's `.train` files, or when two chosen files share a name.
 */
export function selectBabyLMPaths(paths: readonly string[], opts: BabyLMLayoutOptions = {}): string[] {
  const track = opts.track ?? '10M';
  const trainDirRe = new RegExp(`(^|[_-])${track.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'i');
  const data = paths.filter(
    (p) => !p.startsWith('__MACOSX/') && !p.split('/').some((x) => x.startsWith('._')) && parseCorpusName(p) !== undefined,
  );
  const dirOf = (p: string): string => p.slice(0, p.lastIndexOf('/') + 1);
  const dirName = (d: string): string => d.split('/').slice(-2, -1)[0] ?? '';
  const trainPaths = data.filter((p) => p.endsWith('.train'));
  const trainDirs = [...new Set(trainPaths.map(dirOf))].sort();
  let chosen = trainDirs.filter((d) => trainDirRe.test(dirName(d)));
  if (chosen.length === 0 && trainDirs.length === 1) chosen = trainDirs;
  if (chosen.length !== 1) {
    const found = trainDirs.length === 0 ? 'no .train files' : `${chosen.length > 1 ? 'several' : 'none'} among ${trainDirs.map((d) => d || './').join(', ')}`;
    throw new Error(`BabyLM layout: expected one folder of .train files for track "${track}", found ${found}`);
  }
  const picked = [...trainPaths.filter((p) => dirOf(p) === chosen[0]), ...data.filter((p) => p.endsWith('.dev'))].sort();
  const seen = new Map<string, string>();
  for (const p of picked) {
    const name = p.split('/').pop()!;
    const prev = seen.get(name);
    if (prev !== undefined) throw new Error(`BabyLM layout: two files named ${name} (${prev}, ${p})`);
    seen.set(name, p);
  }
  return picked;
}

/**
 * The BabyLM corpus inside a `.zip` (see {@link selectBabyLMPaths} for the layouts), read in place:
 * only the chosen entries are inflated. Returned as `<source>.train` / `<source>.dev`, sorted by name.
 */
export function readBabyLMZip(zip: Uint8Array, opts: BabyLMLayoutOptions = {}): CorpusFile[] {
  const paths: string[] = [];
  unzipSync(zip, {
    filter: (f) => {
      paths.push(f.name);
      return false;
    },
  });
  const wanted = new Set(selectBabyLMPaths(paths, opts));
  const entries = unzipSync(zip, { filter: (f) => wanted.has(f.name) });
  return [...wanted]
    .map((path) => ({ name: path.split('/').pop()!, text: decodeText(entries[path]!) }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * The BabyLM sources whose cleaning Baby Llama's `mrclean.py` defines (the keys of
 * `@kdgpu/train`'s `CLEANERS`, including the 2024 aliases `childes` and `simple_wiki`). A recipe
 * passes {@link cleaningFor}'s map as the trainer's `data.clean`; other sources (the embedded
 * `austen`, `bible`, `fortunes`) are used unchanged.
 */
export const BABYLM_CLEANED_SOURCES: readonly string[] = Object.freeze([
  'aochildes', 'bnc_spoken', 'cbt', 'children_stories', 'childes', 'gutenberg', 'open_subtitles',
  'qed', 'simple_wiki', 'simple_wikipedia', 'switchboard', 'wikipedia',
]);

/** `data.clean` for a corpus: each BabyLM source mapped to its own cleaner, the rest left out. */
export function cleaningFor(files: readonly { name: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of files) if (BABYLM_CLEANED_SOURCES.includes(f.name)) out[f.name] = f.name;
  return out;
}
