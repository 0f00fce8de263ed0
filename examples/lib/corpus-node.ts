/**
 * Puts a BabyLM-style demo corpus on disk (Node 20 and Deno 2, through `node:fs`): the thin file
 * layer over `corpus.ts`.
 *
 * ```ts
 * const { dir, files } = await prepareCorpus({ outDir: 'out/corpus' }); // the embedded corpus
 * await prepareCorpus({ source: '/data/babylm_data.zip', outDir: 'out/corpus' }); // zip, read in place
 * await prepareCorpus({ source: '/data/babylm_data', outDir: 'out/corpus', maxWords: 1e6 }); // folder, cut
 * ```
 * @module
 */
import { Buffer } from 'node:buffer';
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cleaningFor,
  decodeEmbedded,
  decodeText,
  encodeText,
  parseCorpusName,
  readBabyLMZip,
  selectBabyLMPaths,
  summarizeCorpus,
  truncateCorpus,
  type CorpusFile,
  type CorpusFileSummary,
} from './corpus.ts';

/** The folder of the committed fallback corpus (`examples/data`). */
export const EMBEDDED_DIR: string = fileURLToPath(new URL('../data/', import.meta.url));

/** Options of {@link prepareCorpus}. */
export interface PrepareCorpusOptions {
  /**
   * `'embedded'` (default): the committed public-domain corpus in `examples/data`; or a path to a
   * BabyLM folder (`<source>.train`/`.dev` files, or the `babylm_data` tree) or a BabyLM `.zip`.
   */
  source?: 'embedded' | string;
  /** The folder to write `<source>.train` / `<source>.dev` into (created; stale ones removed). */
  outDir: string;
  /** Cap on the total words of the `.train` files; every file is cut by the same fraction. */
  maxWords?: number;
  /** The BabyLM training track to take from a zip or `babylm_data` folder. Default `'10M'`. */
  track?: string;
}

/** What {@link prepareCorpus} wrote. */
export interface PreparedCorpus {
  /** The corpus folder (absolute). */
  dir: string;
  /** Per source, sorted by name: words in `<name>.train` and `<name>.dev`. */
  files: CorpusFileSummary[];
  /** The trainer's `data.clean` for these sources: each BabyLM source mapped to its own cleaner. */
  clean: Record<string, string>;
  /** Where the text came from: `'embedded'`, or the absolute source path. */
  source: string;
}

const MANIFEST = 'corpus.json';

/** The files of a source, untruncated, as text (with, for folders, their paths for copying as is). */
export async function loadCorpus(
  source: 'embedded' | string = 'embedded',
  opts: { track?: string } = {},
): Promise<{ files: CorpusFile[]; paths?: Map<string, string> }> {
  if (source === 'embedded') {
    const names = (await readdir(EMBEDDED_DIR)).filter((n) => n.endsWith('.gz')).sort();
    const gz = await Promise.all(names.map(async (name) => ({ name, bytes: await readFile(join(EMBEDDED_DIR, name)) })));
    return { files: decodeEmbedded(gz) };
  }
  const path = resolve(source);
  const st = await stat(path).catch(() => undefined);
  if (st === undefined) throw new Error(`corpus source not found: ${path} (use 'embedded', a BabyLM folder or a .zip)`);
  if (st.isFile()) {
    if (!/\.zip$/i.test(path)) throw new Error(`corpus source ${path} is a file but not a .zip`);
    return { files: readBabyLMZip(await readFile(path), opts) };
  }
  const paths = await babylmFolderPaths(path, opts.track);
  const files: CorpusFile[] = [];
  const byName = new Map<string, string>();
  for (const p of paths) {
    const name = basename(p);
    byName.set(name, p);
    files.push({ name, text: decodeText(await readFile(p)) });
  }
  return { files: files.sort((a, b) => (a.name < b.name ? -1 : 1)), paths: byName };
}

/**
 * The corpus files of a folder: its own `.train`/`.dev` files, or the BabyLM layouts below it (see
 * `selectBabyLMPaths`). A `babylm_10M` folder without `.dev` files takes them from a sibling
 * `babylm_dev` or `dev` folder, as in the distributed tree.
 */
async function babylmFolderPaths(root: string, track: string | undefined): Promise<string[]> {
  const rel: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory() && depth < 3 && !e.name.startsWith('.')) await walk(full, depth + 1);
      else if ((e.isFile() || e.isSymbolicLink()) && parseCorpusName(e.name)) rel.push(relative(root, full).split(sep).join('/'));
    }
  };
  await walk(root, 0);
  if (!rel.some((p) => p.endsWith('.dev'))) {
    for (const sib of ['babylm_dev', 'dev']) {
      const d = join(dirname(root), sib);
      const names = await readdir(d).catch(() => [] as string[]);
      for (const n of names) if (n.endsWith('.dev')) rel.push(`../${sib}/${n}`);
      if (names.some((n) => n.endsWith('.dev'))) break;
    }
  }
  const picked = selectBabyLMPaths(rel, track === undefined ? {} : { track });
  return picked.map((p) => resolve(root, p));
}

/**
 * Materializes a BabyLM-style folder (`<source>.train` / `<source>.dev`) in `outDir` from the
 * embedded corpus, a BabyLM folder or a BabyLM `.zip`, optionally cut to `maxWords` training words,
 * and records what it did in `<outDir>/corpus.json`. Files of a folder source are copied byte for
 * byte unless cut. Other `.train`/`.dev` files already in `outDir` are removed so that the trainer,
 * which reads every such file of its data folder, sees exactly this corpus.
 */
export async function prepareCorpus(opts: PrepareCorpusOptions): Promise<PreparedCorpus> {
  const source = opts.source ?? 'embedded';
  const dir = resolve(opts.outDir);
  const loadOpts = opts.track === undefined ? {} : { track: opts.track };
  const loaded = await loadCorpus(source, loadOpts);
  if (loaded.files.length === 0) throw new Error(`corpus source ${source} holds no .train/.dev files`);
  const files = opts.maxWords === undefined ? loaded.files : truncateCorpus(loaded.files, opts.maxWords);
  const cut = opts.maxWords !== undefined && files.some((f, i) => f.text !== loaded.files[i]!.text);

  await mkdir(dir, { recursive: true });
  const keep = new Set(files.map((f) => f.name));
  for (const n of await readdir(dir)) {
    if (parseCorpusName(n) && !keep.has(n)) await rm(join(dir, n));
  }
  for (const f of files) {
    const target = join(dir, f.name);
    const from = cut ? undefined : loaded.paths?.get(f.name);
    if (from !== undefined) {
      if (resolve(from) !== target) await copyFile(from, target);
    } else {
      await writeIfChanged(target, encodeText(f.text));
    }
  }
  const summary = summarizeCorpus(files);
  const result: PreparedCorpus = {
    dir,
    files: summary,
    clean: cleaningFor(summary),
    source: source === 'embedded' ? 'embedded' : resolve(source),
  };
  const manifest = { ...result, dir: undefined, maxWords: opts.maxWords ?? null, track: opts.track ?? '10M' };
  await writeIfChanged(join(dir, MANIFEST), new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
  return result;
}

/**
 * Writes `bytes` to `path` unless it already holds exactly them: a corpus prepared again (another
 * seed's process, another example on the same folder) is left as it is, so a run reading it meanwhile
 * never sees a half-written file.
 */
async function writeIfChanged(path: string, bytes: Uint8Array): Promise<void> {
  const old = await readFile(path).catch(() => null);
  if (old && old.byteLength === bytes.byteLength && Buffer.compare(old, bytes) === 0) return;
  await writeFile(path, bytes);
}
