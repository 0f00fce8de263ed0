/**
 * Pre-tokenizers: cut normalized text into the pieces ("words") the model encodes one at a time.
 * A pre-tokenizer reports ranges of the normalized string instead of building substrings, so the
 * trainer can count words and the encoder can compute offsets without intermediate objects.
 */
import { splitGpt2, type SplitSink } from "./gpt2-split.ts";
import { asArray, asBool, asObject, type JsonObject, TokenizerJsonError, typeOf } from "./json-check.ts";

export type { SplitSink } from "./gpt2-split.ts";

/** `tokenizer.json` form of the supported pre-tokenizers. */
export type PreTokenizerJson =
  | { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean }
  | { type: "Whitespace" }
  | { type: "WhitespaceSplit" }
  | { type: "Sequence"; pretokenizers: PreTokenizerJson[] };

/** A pipeline stage that splits normalized text into pieces. */
export interface PreTokenizer {
  /** True when the pieces reach the model as GPT-2 byte-level characters (ByteLevel is last). */
  readonly byteLevel: boolean;
  /**
   * Calls `emit` for each piece of `text[start, end)`, left to right; pieces need not cover the
   * range (whitespace can be dropped).
   */
  split(text: string, start: number, end: number, emit: SplitSink): void;
  /** The `tokenizer.json` form. */
  toJSON(): PreTokenizerJson;
}

/** Options of {@link ByteLevelPreTokenizer}; defaults are Hugging Face's. */
export interface ByteLevelOptions {
  /** Insert a space before text that does not start with one, so the first word looks like the others. Default true. */
  addPrefixSpace?: boolean;
  /** Split with GPT-2's regex first. Default true. */
  useRegex?: boolean;
  /** Only meaningful in the post-processor; kept so the JSON round-trips. Default true. */
  trimOffsets?: boolean;
}

/**
 * GPT-2's byte-level pre-tokenizer: splits with GPT-2's regex, then the model sees each piece's
 * UTF-8 bytes as printable characters (`Ġ` for a space), so any text has a spelling.
 */
export class ByteLevelPreTokenizer implements PreTokenizer {
  readonly byteLevel = true;
  readonly addPrefixSpace: boolean;
  readonly useRegex: boolean;
  readonly trimOffsets: boolean;
  constructor(options: ByteLevelOptions = {}) {
    this.addPrefixSpace = options.addPrefixSpace ?? true;
    this.useRegex = options.useRegex ?? true;
    this.trimOffsets = options.trimOffsets ?? true;
  }
  split(text: string, start: number, end: number, emit: SplitSink): void {
    if (this.useRegex) return splitGpt2(text, start, end, this.addPrefixSpace, emit);
    if (start < end) emit(start, end, this.addPrefixSpace && text.charCodeAt(start) !== 0x20);
  }
  toJSON(): PreTokenizerJson {
    return { type: "ByteLevel", add_prefix_space: this.addPrefixSpace, trim_offsets: this.trimOffsets, use_regex: this.useRegex };
  }
}

// Oniguruma's Unicode `\w` (checked against Hugging Face in the tests) and `\s` (White_Space).
const WORD = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}";
const WHITESPACE_RE = new RegExp(`[${WORD}]+|[^${WORD}\\p{White_Space}]+`, "gu");
const NON_SPACE_RE = /\P{White_Space}+/gu;

/** Hugging Face's `Whitespace`: runs of word characters, and runs of other non-space characters. */
export class WhitespacePreTokenizer implements PreTokenizer {
  readonly byteLevel = false;
  split(text: string, start: number, end: number, emit: SplitSink): void {
    regexSplit(WHITESPACE_RE, text, start, end, emit);
  }
  toJSON(): PreTokenizerJson {
    return { type: "Whitespace" };
  }
}

/** Hugging Face's `WhitespaceSplit`: runs of non-whitespace characters. */
export class WhitespaceSplitPreTokenizer implements PreTokenizer {
  readonly byteLevel = false;
  split(text: string, start: number, end: number, emit: SplitSink): void {
    regexSplit(NON_SPACE_RE, text, start, end, emit);
  }
  toJSON(): PreTokenizerJson {
    return { type: "WhitespaceSplit" };
  }
}

function regexSplit(re: RegExp, text: string, start: number, end: number, emit: SplitSink): void {
  const sub = start === 0 && end === text.length ? text : text.slice(start, end);
  re.lastIndex = 0;
  for (let m = re.exec(sub); m; m = re.exec(sub)) emit(start + m.index, start + m.index + m[0].length, false);
}

/** Applies pre-tokenizers in turn, each splitting the pieces of the previous one. */
export class SequencePreTokenizer implements PreTokenizer {
  readonly byteLevel: boolean;
  readonly steps: readonly PreTokenizer[];
  constructor(steps: readonly PreTokenizer[]) {
    // An inserted prefix space exists only in the piece, not in the text, so a stage after
    // ByteLevel could not see it; Hugging Face files put ByteLevel last, so we require that.
    steps.forEach((s, i) => {
      if (s.byteLevel && i !== steps.length - 1) {
        throw new Error(`SequencePreTokenizer: ByteLevel must be the last step (found at ${i} of ${steps.length})`);
      }
    });
    this.steps = steps;
    this.byteLevel = steps.length > 0 && steps[steps.length - 1]!.byteLevel;
  }
  split(text: string, start: number, end: number, emit: SplitSink): void {
    const run = (k: number, s: number, e: number): void => {
      if (k === this.steps.length) return emit(s, e, false);
      if (k === this.steps.length - 1) return this.steps[k]!.split(text, s, e, emit);
      this.steps[k]!.split(text, s, e, (a, b) => run(k + 1, a, b));
    };
    run(0, start, end);
  }
  toJSON(): PreTokenizerJson {
    return { type: "Sequence", pretokenizers: this.steps.map((s) => s.toJSON()) };
  }
}

/** Builds a pre-tokenizer from its `tokenizer.json` form; errors name the field at `path`. */
export function preTokenizerFromJson(value: unknown, path = "pre_tokenizer"): PreTokenizer {
  const obj: JsonObject = asObject(value, path);
  const type = typeOf(obj, path, ["ByteLevel", "Whitespace", "WhitespaceSplit", "Sequence"]);
  switch (type) {
    case "ByteLevel":
      return new ByteLevelPreTokenizer({
        addPrefixSpace: asBool(obj["add_prefix_space"], `${path}.add_prefix_space`, true),
        trimOffsets: asBool(obj["trim_offsets"], `${path}.trim_offsets`, true),
        useRegex: asBool(obj["use_regex"], `${path}.use_regex`, true),
      });
    case "Whitespace":
      return new WhitespacePreTokenizer();
    case "WhitespaceSplit":
      return new WhitespaceSplitPreTokenizer();
    case "Sequence": {
      const items = asArray(obj["pretokenizers"], `${path}.pretokenizers`);
      const steps = items.map((x, i) => preTokenizerFromJson(x, `${path}.pretokenizers[${i}]`));
      try {
        return new SequencePreTokenizer(steps);
      } catch (e) {
        throw new TokenizerJsonError(`${path}.pretokenizers`, (e as Error).message);
      }
    }
    default:
      return type satisfies never;
  }
}
