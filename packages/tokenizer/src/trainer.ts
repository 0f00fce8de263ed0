/**
 * `trainBpe`: reads training text through the tokenizer's normalizer and pre-tokenizer, counts
 * each distinct word once, and runs Hugging Face's BpeTrainer merge loop on the counts. The result
 * matches `tokenizers` for the same input and settings (see `bpe-trainer-core.ts`).
 */
import { specialToken } from "./added-tokens.ts";
import { BpeModel, MAX_VOCAB_SIZE } from "./bpe-model.ts";
import { trainWordTable } from "./bpe-trainer-core.ts";
import { ByteLevelDecoder, type Decoder } from "./decoders.ts";
import type { Normalizer } from "./normalizers.ts";
import type { PostProcessor } from "./post-processors.ts";
import { ByteLevelPreTokenizer, type PreTokenizer } from "./pre-tokenizers.ts";
import { progressReporter, type ProgressCallback } from "./progress.ts";
import { batchesOf, type Batch, type TrainingSource } from "./text-source.ts";
import { Tokenizer } from "./tokenizer.ts";
import { assertWellFormed } from "./unicode.ts";
import { WordCounter } from "./word-counter.ts";

export { WordCounter } from "./word-counter.ts";

/** Settings of {@link trainBpe}. Trainer defaults are Hugging Face BpeTrainer's. */
export interface TrainBpeOptions {
  /** Target vocabulary size, special tokens and alphabet included. Default 30000. */
  vocabSize?: number;
  /** A pair seen fewer times is never merged. Default 0 (1 behaves the same). */
  minFrequency?: number;
  /** Tokens given the first ids, in order, and added to the tokenizer as special tokens. */
  specialTokens?: readonly string[];
  /** Characters always in the alphabet, even unseen (only the first character of each string counts, as in HF). */
  initialAlphabet?: readonly string[];
  /** Keep only this many of the most frequent characters. */
  limitAlphabet?: number | null;
  /** Progress: true draws a bar on a terminal (default), false is silent, a function gets updates. */
  showProgress?: boolean | ProgressCallback;
  /** Normalizer of the trained tokenizer (applied to training text too). Default none. */
  normalizer?: Normalizer | null;
  /** Pre-tokenizer. Default `new ByteLevelPreTokenizer()` (GPT-2 split, prefix space). */
  preTokenizer?: PreTokenizer | null;
  /** Decoder. Default ByteLevel when the pre-tokenizer is byte-level, else none. */
  decoder?: Decoder | null;
  /** Post-processor, or a function making one from the trained ids (to name BOS/EOS ids). */
  postProcessor?: PostProcessor | ((tokenToId: (token: string) => number) => PostProcessor) | null;
}

function checkOptions(o: TrainBpeOptions): void {
  const int = (name: string, v: unknown, min: number) => {
    if (v !== undefined && v !== null && (typeof v !== "number" || !Number.isInteger(v) || v < min)) {
      throw new RangeError(`trainBpe: ${name} must be an integer >= ${min}, got ${String(v)}`);
    }
  };
  int("vocabSize", o.vocabSize, 1);
  if ((o.vocabSize ?? 0) > MAX_VOCAB_SIZE) throw new RangeError(`trainBpe: vocabSize ${o.vocabSize} is above the supported ${MAX_VOCAB_SIZE}`);
  int("minFrequency", o.minFrequency, 0);
  int("limitAlphabet", o.limitAlphabet, 0);
  (o.specialTokens ?? []).forEach((t, i) => {
    if (typeof t !== "string" || t === "") throw new TypeError(`trainBpe: specialTokens[${i}] must be a non-empty string`);
    assertWellFormed(t, `trainBpe: specialTokens[${i}]`);
  });
  (o.initialAlphabet ?? []).forEach((c, i) => {
    if (typeof c !== "string" || c === "") throw new TypeError(`trainBpe: initialAlphabet[${i}] must be a non-empty string`);
  });
}

/**
 * Trains a BPE tokenizer. `source` is what {@link TrainingSource} allows, or a list of them (files
 * in order). With the defaults and `preTokenizer: new ByteLevelPreTokenizer({ addPrefixSpace:
 * false })`, the merges and vocabulary equal those of HF's `tokenizer.train(files)`.
 *
 * Throws when there is no text at all, or when `vocabSize` is smaller than the special tokens
 * plus the alphabet (HF would silently return the larger vocabulary).
 */
export async function trainBpe(source: TrainingSource | readonly TrainingSource[], options: TrainBpeOptions = {}): Promise<Tokenizer> {
  checkOptions(options);
  const sources = Array.isArray(source) && source.some((s) => typeof s !== "string") ? (source as TrainingSource[]) : [source as TrainingSource];
  const preTokenizer = options.preTokenizer === undefined ? new ByteLevelPreTokenizer() : options.preTokenizer;
  const normalizer = options.normalizer ?? null;
  const counter = new WordCounter(normalizer, preTokenizer);
  const progress = progressReporter(options.showProgress ?? true);
  try {
    for await (const batch of batchesOf(sources) as AsyncIterable<Batch>) {
      if (batch.lines) counter.addLines(batch.text);
      else for (const s of batch.seqs) counter.addSequence(s);
      progress.report({ phase: "count", done: batch.progress, total: sizeOf(sources), unit: batch.lines ? "bytes" : "sequences" });
    }
    return trainFromCounter(counter, options, preTokenizer, normalizer, progress.report);
  } finally {
    progress.end();
  }
}

function sizeOf(sources: readonly TrainingSource[]): number {
  let total = 0;
  for (const s of sources) {
    const size = (s as { size?: number }).size;
    if (typeof size !== "number") return 0;
    total += size;
  }
  return total;
}

/** Runs the merge loop on counted words and assembles the tokenizer. */
export function trainFromCounter(
  counter: WordCounter,
  options: TrainBpeOptions,
  preTokenizer: PreTokenizer | null,
  normalizer: Normalizer | null,
  report: ProgressCallback = () => {},
): Tokenizer {
  if (counter.size === 0 && (options.initialAlphabet ?? []).length === 0) {
    throw new Error("trainBpe: the training text has no words (empty input?); nothing to learn from");
  }
  const byteLevel = preTokenizer?.byteLevel ?? false;
  const specialTokens = options.specialTokens ?? [];
  const vocabSize = options.vocabSize ?? 30000;
  const result = trainWordTable(counter.toWordTable(byteLevel), {
    vocabSize,
    minFrequency: options.minFrequency ?? 0,
    specialTokens,
    initialAlphabet: (options.initialAlphabet ?? []).map((c) => c.codePointAt(0)!),
    limitAlphabet: options.limitAlphabet ?? null,
    onMerge: (size, target) => report({ phase: "merge", done: size, total: target, unit: "tokens" }),
    onAlphabet: (size) => {
      if (size > vocabSize) {
        throw new RangeError(
          `trainBpe: vocabSize ${vocabSize} is smaller than the ${new Set(specialTokens).size} special tokens plus the alphabet ` +
            `(${size} in all); raise vocabSize to at least ${size}, or set limitAlphabet`,
        );
      }
    },
  });
  const model = new BpeModel(result.vocab, result.merges);
  const tokenToId = (t: string) => {
    const id = result.vocab.get(t);
    if (id === undefined) throw new RangeError(`trainBpe: postProcessor asked for ${JSON.stringify(t)}, which is not in the trained vocabulary`);
    return id;
  };
  const pp = options.postProcessor;
  return new Tokenizer({
    model,
    normalizer,
    preTokenizer,
    decoder: options.decoder === undefined ? (byteLevel ? new ByteLevelDecoder() : null) : options.decoder,
    postProcessor: typeof pp === "function" ? pp(tokenToId) : pp ?? null,
    addedTokens: [...new Set(specialTokens)].map((t) => specialToken(t, result.vocab.get(t)!)),
  });
}
