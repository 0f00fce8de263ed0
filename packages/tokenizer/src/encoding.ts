/** The result of encoding one text (or a pair of texts). */

/** Unit of offsets: UTF-16 code units (JavaScript string indices) or code points (Hugging Face's "char" offsets). */
export type OffsetUnit = "utf16" | "codepoint";

/**
 * Encoded text. All arrays have one entry per token. `offsets[k]` is `[start, end)` in the text
 * the token came from (the first or second text of a pair), in the unit asked for; tokens added by
 * a post-processor (BOS/EOS) have `[0, 0]`.
 */
export interface Encoding {
  ids: number[];
  tokens: string[];
  offsets: Array<[number, number]>;
  /** 0 for the first text of a pair, 1 for the second (or what the template says). */
  typeIds: number[];
  /** 1 for special tokens (added tokens marked special, and post-processor tokens), else 0. */
  specialTokensMask: number[];
  /** All 1 (there is no padding). */
  attentionMask: number[];
}

/** An encoding of one text still being processed, with what offset trimming needs. */
export interface PartialEncoding extends Encoding {
  /** The text the offsets point into. */
  text: string;
  unit: OffsetUnit;
}

/** Empty partial encoding for `text`. */
export function emptyEncoding(text: string, unit: OffsetUnit): PartialEncoding {
  return { ids: [], tokens: [], offsets: [], typeIds: [], specialTokensMask: [], attentionMask: [], text, unit };
}

/** Concatenates encodings (offsets stay relative to their own text). */
export function mergeEncodings(parts: readonly Encoding[]): Encoding {
  if (parts.length === 1) {
    const p = parts[0]!;
    return { ids: p.ids, tokens: p.tokens, offsets: p.offsets, typeIds: p.typeIds, specialTokensMask: p.specialTokensMask, attentionMask: p.attentionMask };
  }
  const out: Encoding = { ids: [], tokens: [], offsets: [], typeIds: [], specialTokensMask: [], attentionMask: [] };
  for (const p of parts) {
    out.ids.push(...p.ids);
    out.tokens.push(...p.tokens);
    out.offsets.push(...p.offsets);
    out.typeIds.push(...p.typeIds);
    out.specialTokensMask.push(...p.specialTokensMask);
    out.attentionMask.push(...p.attentionMask);
  }
  return out;
}

/**
 * Moves `pos` by `n` characters (forward if n > 0) in `enc`'s text: n units for code point
 * offsets, and whole surrogate pairs for UTF-16 offsets, so trimming never splits a character.
 */
export function stepChars(enc: PartialEncoding, pos: number, n: number): number {
  if (enc.unit === "codepoint") return pos + n;
  const t = enc.text;
  for (; n > 0 && pos < t.length; n--) pos += isHigh(t.charCodeAt(pos)) && pos + 1 < t.length ? 2 : 1;
  for (; n < 0 && pos > 0; n++) pos -= pos >= 2 && isHigh(t.charCodeAt(pos - 2)) && !isHigh(t.charCodeAt(pos - 1)) ? 2 : 1;
  return pos;
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c < 0xdc00;
}
