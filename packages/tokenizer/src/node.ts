/**
 * Node (and Deno) adapter: file paths. Everything else lives in the browser-safe core
 * (`@kdgpu/tokenizer`); this file only reads and writes files.
 */
import { createReadStream, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { BpeModel, BpeOptions } from "./bpe-model.ts";
import { bpeModelFromVocabMerges, mergesTxtText, tokenizerFromJson, vocabJsonText } from "./json-io.ts";
import type { LineSource } from "./text-source.ts";
import type { Tokenizer } from "./tokenizer.ts";
import { trainBpe, type TrainBpeOptions } from "./trainer.ts";

/**
 * A file to train on, read line by line keeping each `\n` (as Hugging Face reads files), streamed
 * in 1 MiB chunks so a large file is never held whole.
 */
export function fileLines(path: string): LineSource {
  const size = statSync(path).size;
  return { kind: "lines", chunks: createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>, name: path, size };
}

/** Trains on files, in order (HF's `tokenizer.train(files)`). */
export function trainBpeFromFiles(paths: readonly string[], options: TrainBpeOptions = {}): Promise<Tokenizer> {
  if (paths.length === 0) throw new TypeError("trainBpeFromFiles: no files given");
  return trainBpe(paths.map(fileLines), options);
}

/** Loads a `tokenizer.json` file (HF's `Tokenizer.from_file`). */
export function fromFile(path: string): Tokenizer {
  return tokenizerFromJson(readFileSync(path, "utf8"));
}

/** Writes `tokenizer.json` (HF's `tokenizer.save(path)`); pretty-printed unless `pretty` is false. */
export function save(tokenizer: Tokenizer, path: string, pretty = true): void {
  writeFileSync(path, tokenizer.serialize(pretty));
}

/**
 * Writes `vocab.json` and `merges.txt` into `dir` (named `<prefix>-vocab.json` etc. with a prefix),
 * as HF's `model.save(folder, prefix)` does; returns the two paths.
 */
export function saveVocabMerges(tokenizer: Tokenizer, dir: string, prefix?: string): [string, string] {
  mkdirSync(dir, { recursive: true });
  const name = (n: string) => join(dir, prefix ? `${prefix}-${n}` : n);
  const vocab = name("vocab.json");
  const merges = name("merges.txt");
  writeFileSync(vocab, vocabJsonText(tokenizer.model));
  writeFileSync(merges, mergesTxtText(tokenizer.model));
  return [vocab, merges];
}

/** Loads a BPE model from `vocab.json` and `merges.txt` files (HF's `BPE.from_file`). */
export function bpeModelFromFiles(vocabPath: string, mergesPath: string, options: BpeOptions = {}): BpeModel {
  return bpeModelFromVocabMerges(readFileSync(vocabPath, "utf8"), readFileSync(mergesPath, "utf8"), options);
}
