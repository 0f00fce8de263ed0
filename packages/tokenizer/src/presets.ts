/**
 * Preset: the tokenizer of the Baby Llama recipe (BabyLM): byte-level BPE with 16,000 tokens,
 * pairs seen at least twice, `<pad>` `<s>` `</s>`, NFKC, and GPT-2's byte-level pre-tokenizer with
 * a prefix space. Presets only fill in options; pass the result to `trainBpe`.
 */
import { byteLevelAlphabet } from "./byte-level.ts";
import { ByteLevelDecoder } from "./decoders.ts";
import { UnicodeNormalizer } from "./normalizers.ts";
import { ByteLevelPostProcessor, SequencePostProcessor, TemplateProcessing } from "./post-processors.ts";
import { ByteLevelPreTokenizer } from "./pre-tokenizers.ts";
import type { TrainBpeOptions } from "./trainer.ts";

/** Knobs of {@link babyLlamaTokenizerOptions}. */
export interface BabyLlamaTokenizerSettings {
  /** Default 16000. */
  vocabSize?: number;
  /** Default 2. */
  minFrequency?: number;
  /**
   * Start from all 256 byte characters (default true), so any text encodes without dropping
   * bytes and decode(encode(x)) === x. False reproduces a plain HF BpeTrainer, whose alphabet is
   * only the characters seen in training (the merges are the same either way; ids shift).
   */
  fullByteAlphabet?: boolean;
  /** Progress reporting, passed to `trainBpe`. */
  showProgress?: TrainBpeOptions["showProgress"];
}

/**
 * Options for `trainBpe` giving the Baby Llama tokenizer: vocab 16000, min frequency 2, special
 * tokens `<pad>` (0), `<s>` (1), `</s>` (2), NFKC normalizer, ByteLevel pre-tokenizer with
 * add_prefix_space, ByteLevel decoder, and a post-processor that trims byte-level offsets and adds
 * `<s> $A </s>` (pairs: `<s> $A </s> $B:1 </s>:1`).
 */
export function babyLlamaTokenizerOptions(settings: BabyLlamaTokenizerSettings = {}): TrainBpeOptions {
  return {
    vocabSize: settings.vocabSize ?? 16000,
    minFrequency: settings.minFrequency ?? 2,
    specialTokens: ["<pad>", "<s>", "</s>"],
    initialAlphabet: settings.fullByteAlphabet === false ? [] : byteLevelAlphabet(),
    showProgress: settings.showProgress ?? true,
    normalizer: new UnicodeNormalizer("NFKC"),
    preTokenizer: new ByteLevelPreTokenizer({ addPrefixSpace: true, useRegex: true, trimOffsets: true }),
    decoder: new ByteLevelDecoder(),
    postProcessor: (id) =>
      new SequencePostProcessor([
        new ByteLevelPostProcessor({ addPrefixSpace: true, trimOffsets: true }),
        new TemplateProcessing("<s> $A </s>", "<s> $A </s> $B:1 </s>:1", [
          { id: "<s>", ids: [id("<s>")], tokens: ["<s>"] },
          { id: "</s>", ids: [id("</s>")], tokens: ["</s>"] },
        ]),
      ]),
  };
}
