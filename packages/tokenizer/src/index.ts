/**
 * @kdgpu/tokenizer: a trainable byte-level BPE tokenizer that matches Hugging Face `tokenizers`
 * (same merges, vocabulary, ids and offsets; `tokenizer.json` files load both ways). Runs in
 * browsers, Node and Deno; file paths are handled by `@kdgpu/tokenizer/node`.
 */
export { Tokenizer } from "./tokenizer.ts";
export type { TokenizerParts, EncodeOptions, DecodeOptions, TokenizerJson } from "./tokenizer.ts";
export type { Encoding, OffsetUnit } from "./encoding.ts";

export { trainBpe, WordCounter, trainFromCounter } from "./trainer.ts";
export type { TrainBpeOptions } from "./trainer.ts";
export { linesOf } from "./text-source.ts";
export type { LineSource, TrainingSource } from "./text-source.ts";
export type { TrainProgress, ProgressCallback } from "./progress.ts";
export { babyLlamaTokenizerOptions } from "./presets.ts";
export type { BabyLlamaTokenizerSettings } from "./presets.ts";

export { BpeModel, MAX_VOCAB_SIZE } from "./bpe-model.ts";
export type { BpeOptions, BpeModelJson, WordTokens } from "./bpe-model.ts";
export { UnicodeNormalizer, LowercaseNormalizer, SequenceNormalizer, normalizerFromJson, identityText } from "./normalizers.ts";
export type { Normalizer, NormalizerJson, NormalizedText } from "./normalizers.ts";
export {
  ByteLevelPreTokenizer,
  WhitespacePreTokenizer,
  WhitespaceSplitPreTokenizer,
  SequencePreTokenizer,
  preTokenizerFromJson,
} from "./pre-tokenizers.ts";
export type { PreTokenizer, PreTokenizerJson, ByteLevelOptions, SplitSink } from "./pre-tokenizers.ts";
export { GPT2_PATTERN, splitGpt2 } from "./gpt2-split.ts";
export { ByteLevelDecoder, SequenceDecoder, decoderFromJson } from "./decoders.ts";
export type { Decoder, DecoderJson } from "./decoders.ts";
export { ByteLevelPostProcessor, TemplateProcessing, SequencePostProcessor, parseTemplate, postProcessorFromJson } from "./post-processors.ts";
export type { PostProcessor, PostProcessorJson, TemplatePiece, TemplateSpecialToken } from "./post-processors.ts";
export { specialToken } from "./added-tokens.ts";
export type { AddedToken, AddedTokenJson } from "./added-tokens.ts";
export { tokenizerFromJson, bpeModelFromJson, bpeModelFromVocabMerges, vocabJsonText, mergesTxtText, TokenizerJsonError } from "./json-io.ts";
export { byteLevelAlphabet, textToByteLevel, BYTE_TO_CHAR } from "./byte-level.ts";
export { tokenizerToGguf, tokenizerFromGguf, GGUF_TOKEN_TYPE } from "./gguf-vocab.ts";
export type { GgufVocabFields, ToGgufOptions, FromGgufOptions } from "./gguf-vocab.ts";
