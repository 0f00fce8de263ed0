/**
 * A run's data and tokenizer on disk (Node and Deno): the corpus files a config names (checked to
 * exist before any long work), their text (plain, `.gz`, JSON Lines with a `text` field) with the
 * per-source cleaning, tokenization through the token cache, and tokenizer files loaded with errors
 * that say what the file is when it is not a tokenizer.json.
 * @module
 */

import { existsSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KdgpuError } from '@kdgpu/tensor';
import { babyLlamaTokenizerOptions, linesOf, type Tokenizer, tokenizerFromJson, trainBpe } from '@kdgpu/tokenizer';
import type { TokenArray } from './blocks.ts';
import { cleanerFor, sourceOf } from './clean.ts';
import type { TrainConfig } from './config-schema.ts';
import { decodeTextInput, textFormatOf, withoutGz } from './text-input.ts';
import { cachedTokenize } from './token-cache-node.ts';

/** A data file and the config field that names it (for messages). */
export interface DataFile {
  path: string;
  /** E.g. `data.files[2]` or `data.dir`. */
  field: string;
}

/** A corpus file's path and field, as messages show it. */
function label(f: DataFile): string {
  return `${f.field} (${f.path})`;
}

/** Files of a corpus given as a directory (by extension, `.gz` allowed) or a list; every one checked to be a readable file. */
async function listFiles(dirField: string, dir: string | undefined, filesField: string, files: string[] | undefined, keep: (name: string) => boolean): Promise<DataFile[]> {
  if (files) {
    return files.map((f, i) => {
      const path = resolve(f);
      const field = `${filesField}[${i}]`;
      let st;
      try {
        st = statSync(path);
      } catch {
        throw new KdgpuError(`${field}: ${path} does not exist; fix the path in the config (relative paths are from the folder you run kdgpu in)`);
      }
      if (!st.isFile()) throw new KdgpuError(`${field}: ${path} is not a file${st.isDirectory() ? ' but a folder; use data.dir for a folder of files' : ''}`);
      return { path, field };
    });
  }
  if (!dir) return [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KdgpuError(`${dirField}: cannot read the folder ${resolve(dir)} (${code === 'ENOENT' ? 'it does not exist' : code === 'ENOTDIR' ? 'it is a file; use data.files for a list of files' : (code ?? (e as Error).message)})`);
  }
  return names.filter((n) => keep(withoutGz(n))).sort().map((n) => ({ path: resolve(dir, n), field: dirField }));
}

/** Training and evaluation files: BabyLM layout `<source>.train` / `<source>.dev` (each may be `.gz`), or the configured lists. */
export async function corpusFiles(c: TrainConfig): Promise<{ train: DataFile[]; eval: DataFile[] }> {
  const exts = c.data.extensions.filter((e) => e !== '.dev');
  const trainFiles = await listFiles('data.dir', c.data.dir, 'data.files', c.data.files, (n) => exts.some((e) => n.endsWith(e)));
  let evalFiles = await listFiles('data.evalDir', c.data.evalDir, 'data.evalFiles', c.data.evalFiles, (n) => exts.some((e) => n.endsWith(e)) || n.endsWith('.dev'));
  if (evalFiles.length === 0 && c.data.dir && c.data.extensions.includes('.dev')) {
    evalFiles = await listFiles('data.dir', c.data.dir, 'data.files', undefined, (n) => n.endsWith('.dev'));
  }
  if (trainFiles.length === 0) {
    throw new KdgpuError(`data: no training files in ${resolve(c.data.dir ?? '.')} ending in ${exts.join(', ')} (or .gz of those); set data.extensions, or list the files in data.files`);
  }
  return { train: trainFiles, eval: evalFiles };
}

/** The cleaner configured for a file (by its source name), or identity. */
export function cleanerOf(c: TrainConfig, file: string): { name: string; fn: (t: string) => string } {
  const src = sourceOf(withoutGz(file));
  const name = c.data.clean[src];
  if (!name) return { name: 'none', fn: (t) => t };
  const f = cleanerFor(name);
  return { name, fn: (t) => f(t, { dropParagraphBreaks: c.data.dropParagraphBreaks }) };
}

/** A data file's cleaned text. */
export async function readDataText(c: TrainConfig, f: DataFile): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(f.path);
  } catch (e) {
    throw new KdgpuError(`${label(f)}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return cleanerOf(c, f.path).fn(decodeTextInput(bytes, label(f), textFormatOf(f.path)));
}

/** Tokenizes files (cleaned), with the on-disk cache, and concatenates them (Baby Llama: no BOS/EOS). */
export async function tokenizeFiles(c: TrainConfig, files: readonly (DataFile | string)[], tok: Tokenizer, cacheDir: string): Promise<TokenArray> {
  const parts: ArrayLike<number>[] = [];
  const tokJson = tok.serialize(false);
  for (const item of files) {
    const f: DataFile = typeof item === 'string' ? { path: item, field: 'data' } : item;
    const cl = cleanerOf(c, f.path);
    const format = textFormatOf(f.path);
    const r = await cachedTokenize(f.path, `${tokJson}\n${cl.name}\n${c.data.dropParagraphBreaks}\n${format}`, (text) => tok.encode(cl.fn(text), { addSpecialTokens: false }).ids, cacheDir, {
      vocabSize: tok.vocabSize,
      name: label(f),
      readText: (bytes) => decodeTextInput(bytes, label(f), format),
    });
    parts.push(r.ids);
  }
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = tok.vocabSize <= 65536 ? new Uint16Array(n) : new Uint32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p as ArrayLike<number>, o);
    o += p.length;
  }
  return out;
}

/**
 * Loads a tokenizer.json named by config field or flag `field`. A folder holding a tokenizer.json
 * means that file. Errors say what the file is when it is not a tokenizer (a model's config.json,
 * a folder without one, a missing file) and where the right one usually is.
 */
export function loadTokenizerFile(path: string, field: string): Tokenizer {
  let file = resolve(path);
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new KdgpuError(`${field}: ${file} does not exist; give a tokenizer.json (a kdgpu run writes one to <run>/tokenizer.json)`);
  }
  if (st.isDirectory()) {
    const inside = join(file, 'tokenizer.json');
    const above = join(file, '..', 'tokenizer.json');
    if (existsSync(inside)) file = inside;
    else throw new KdgpuError(`${field}: ${file} is a folder without a tokenizer.json${existsSync(above) ? `; the run's tokenizer is ${resolve(above)}` : ''}`);
  }
  const text = readFileSync(file, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new KdgpuError(`${field}: ${file} is not JSON (${(e as Error).message}); give a Hugging Face tokenizer.json`);
  }
  if (json !== null && typeof json === 'object' && ('model_type' in json || 'architectures' in json)) {
    throw new KdgpuError(`${field}: ${file} is a model's config.json, not a tokenizer.json; a kdgpu run keeps its tokenizer in <run>/tokenizer.json (beside final/), a Hugging Face model in tokenizer.json beside config.json`);
  }
  try {
    return tokenizerFromJson(json as object);
  } catch (e) {
    throw new KdgpuError(`${field}: ${file} is not a tokenizer.json this package reads: ${(e as Error).message}`);
  }
}

/** Trains the run's tokenizer (`tokenizer.train`) on the cleaned training files, in memory: nothing is written. */
export async function trainRunTokenizer(c: TrainConfig, files: readonly DataFile[], quiet = false): Promise<Tokenizer> {
  const t = c.tokenizer.train!;
  const sources = [];
  for (const f of files) sources.push(linesOf(await readDataText(c, f), f.path));
  const opts = babyLlamaTokenizerOptions({ vocabSize: t.vocabSize, minFrequency: t.minFrequency, showProgress: !quiet });
  return await trainBpe(sources, { ...opts, specialTokens: t.specialTokens });
}
