/**
 * Decoders: turn token strings back into text. For byte-level BPE that means mapping each
 * character back to its byte and decoding the bytes as UTF-8 (invalid sequences, e.g. a token cut
 * inside a character, become U+FFFD, as Rust's `from_utf8_lossy` makes them).
 */
import { byteLevelTokenBytes } from "./byte-level.ts";
import { asArray, asBool, asObject, typeOf } from "./json-check.ts";

/** `tokenizer.json` form of the supported decoders. */
export type DecoderJson =
  | { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean }
  | { type: "Sequence"; decoders: DecoderJson[] };

/** A pipeline stage that turns tokens back into text. */
export interface Decoder {
  /** HF's `decode_chain`: rewrites the token list (a decoder may join it into one string). */
  decodeChain(tokens: string[]): string[];
  /** The `tokenizer.json` form. */
  toJSON(): DecoderJson;
}

const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** GPT-2's byte-level decoder. The three flags only round-trip the JSON; decoding ignores them. */
export class ByteLevelDecoder implements Decoder {
  readonly addPrefixSpace: boolean;
  readonly trimOffsets: boolean;
  readonly useRegex: boolean;
  constructor(options: { addPrefixSpace?: boolean; trimOffsets?: boolean; useRegex?: boolean } = {}) {
    this.addPrefixSpace = options.addPrefixSpace ?? true;
    this.trimOffsets = options.trimOffsets ?? true;
    this.useRegex = options.useRegex ?? true;
  }
  decodeChain(tokens: string[]): string[] {
    const bytes: number[] = [];
    for (const t of tokens) byteLevelTokenBytes(t, bytes);
    return [utf8.decode(Uint8Array.from(bytes))];
  }
  toJSON(): DecoderJson {
    return { type: "ByteLevel", add_prefix_space: this.addPrefixSpace, trim_offsets: this.trimOffsets, use_regex: this.useRegex };
  }
}

/** Applies decoders in turn, each to the previous one's output. */
export class SequenceDecoder implements Decoder {
  readonly steps: readonly Decoder[];
  constructor(steps: readonly Decoder[]) {
    this.steps = steps;
  }
  decodeChain(tokens: string[]): string[] {
    return this.steps.reduce((acc, d) => d.decodeChain(acc), tokens);
  }
  toJSON(): DecoderJson {
    return { type: "Sequence", decoders: this.steps.map((d) => d.toJSON()) };
  }
}

/** Builds a decoder from its `tokenizer.json` form; errors name the field at `path`. */
export function decoderFromJson(value: unknown, path = "decoder"): Decoder {
  const obj = asObject(value, path);
  const type = typeOf(obj, path, ["ByteLevel", "Sequence"]);
  switch (type) {
    case "ByteLevel":
      return new ByteLevelDecoder({
        addPrefixSpace: asBool(obj["add_prefix_space"], `${path}.add_prefix_space`, true),
        trimOffsets: asBool(obj["trim_offsets"], `${path}.trim_offsets`, true),
        useRegex: asBool(obj["use_regex"], `${path}.use_regex`, true),
      });
    case "Sequence": {
      const items = asArray(obj["decoders"], `${path}.decoders`);
      return new SequenceDecoder(items.map((x, i) => decoderFromJson(x, `${path}.decoders[${i}]`)));
    }
    default:
      return type satisfies never;
  }
}
