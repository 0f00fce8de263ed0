/**
 * Normalizers: rewrite text before it is split (Unicode normal forms, lowercasing), keeping for
 * every output character the range of the original text it came from, so token offsets can point
 * into the text the caller passed in (as Hugging Face's NormalizedString alignments do).
 */
import { asArray, asObject, typeOf } from "./json-check.ts";
import { isAscii } from "./unicode.ts";

/**
 * Text after normalization. `starts[i]`/`ends[i]` give, for UTF-16 unit `i` of `text`, the range
 * of UTF-16 units of the original text it came from; both null means "unchanged" (identity).
 */
export interface NormalizedText {
  text: string;
  starts: Int32Array | null;
  ends: Int32Array | null;
}

/** `tokenizer.json` form of the supported normalizers. */
export type NormalizerJson =
  | { type: "NFC" | "NFD" | "NFKC" | "NFKD" | "Lowercase" }
  | { type: "Sequence"; normalizers: NormalizerJson[] };

/** A pipeline stage that rewrites text before pre-tokenization. */
export interface Normalizer {
  /** Normalizes, composing alignments with those of `input`. */
  normalize(input: NormalizedText): NormalizedText;
  /** Normalizes a plain string (the trainer's path, which needs no offsets). */
  normalizeString(text: string): string;
  /** The `tokenizer.json` form. */
  toJSON(): NormalizerJson;
}

/** Wraps a string as unnormalized text (identity alignment). */
export function identityText(text: string): NormalizedText {
  return { text, starts: null, ends: null };
}

/** Start and end, in the original, of unit `i` of `input`; identity maps a unit to its code point. */
function alignStart(input: NormalizedText, i: number): number {
  if (input.starts) return input.starts[i]!;
  const c = input.text.charCodeAt(i);
  return c >= 0xdc00 && c < 0xe000 && i > 0 ? i - 1 : i;
}
function alignEnd(input: NormalizedText, i: number): number {
  if (input.ends) return input.ends[i]!;
  const c = input.text.charCodeAt(i);
  return c >= 0xd800 && c < 0xdc00 ? i + 2 : i + 1;
}

/** Collects output text with its alignment, unit by unit. */
class Aligner {
  parts: string[] = [];
  starts: number[] = [];
  ends: number[] = [];
  /** Appends `piece`, all of whose units come from unit `src` of `input`. */
  push(piece: string, input: NormalizedText, src: number): void {
    const s = alignStart(input, src);
    const e = alignEnd(input, src);
    this.parts.push(piece);
    for (let k = 0; k < piece.length; k++) {
      this.starts.push(s);
      this.ends.push(e);
    }
  }
  /** Appends `input.text[a, b)` unchanged, keeping its alignment. */
  copy(input: NormalizedText, a: number, b: number): void {
    this.parts.push(input.text.slice(a, b));
    for (let i = a; i < b; i++) {
      this.starts.push(alignStart(input, i));
      this.ends.push(alignEnd(input, i));
    }
  }
  finish(): NormalizedText {
    return { text: this.parts.join(""), starts: Int32Array.from(this.starts), ends: Int32Array.from(this.ends) };
  }
}

type Form = "NFC" | "NFD" | "NFKC" | "NFKD";

const MARK_RE = /^\p{M}/u;
const boundaryCache = new Map<string, boolean>();

/**
 * Whether normalization can never reach back across a cut just before `cp`: it is a starter that
 * does not compose with what precedes it. Below U+0300 every code point qualifies; above, marks,
 * Hangul vowel/trailing jamo and characters decomposing to them (half-width voicing marks) don't.
 */
function safeBoundaryBefore(cp: number, form: Form): boolean {
  if (cp < 0x300) return true;
  const key = form + cp;
  let safe = boundaryCache.get(key);
  if (safe === undefined) {
    const c = String.fromCodePoint(cp);
    const first = c.normalize(form === "NFC" || form === "NFD" ? "NFD" : "NFKD").codePointAt(0) ?? cp;
    const jamo = (x: number) => (x >= 0x1161 && x <= 0x1175) || (x >= 0x11a8 && x <= 0x11c2);
    safe = !MARK_RE.test(c) && !MARK_RE.test(String.fromCodePoint(first)) && !jamo(cp) && !jamo(first);
    boundaryCache.set(key, safe);
  }
  return safe;
}

/**
 * Unicode normalization with alignments. The text is cut into segments at safe boundaries and each
 * is normalized alone. A one-character segment maps all its output to that character, as Hugging
 * Face does for decompositions (`ﬁ` -> `fi`). Longer segments (a base with combining marks)
 * replay HF's alignment rules (see below; checked against it in the tests): `e` + U+0301 -> `é`
 * is aligned with `e`, and reordered marks take the positions of the marks they displaced.
 */
function unicodeNormalize(input: NormalizedText, form: Form): NormalizedText {
  const s = input.text;
  if (isAscii(s)) return input;
  const whole = s.normalize(form);
  if (whole === s) return input;
  const decomp = form === "NFC" || form === "NFD" ? "NFD" : "NFKD";
  const out = new Aligner();
  const flush = (a: number, b: number) => {
    const seg = s.slice(a, b);
    const n = seg.normalize(form);
    if (n === seg) return out.copy(input, a, b);
    if (b - a === 1 || (b - a === 2 && seg.codePointAt(0)! > 0xffff)) return out.push(n, input, a);
    // Emulate the (char, change) stream of HF's normalizer (unicode-normalization-alignments):
    // decomposing gives each character's first code point change 0 and the rest +1 (inserted);
    // canonical reordering moves marks together with their change; composing folds absorbed
    // changes into the composite. Walking that stream, a change <= 0 takes the next original
    // character's alignment (and skips -change more), a +1 takes the previous one's.
    const dec: Array<{ cp: number; change: number; used: boolean }> = [];
    for (let i = a; i < b; ) {
      const cp = s.codePointAt(i)!;
      let k = 0;
      for (const c of String.fromCodePoint(cp).normalize(decomp)) dec.push({ cp: c.codePointAt(0)!, change: k++ === 0 ? 0 : 1, used: false });
      i += cp > 0xffff ? 2 : 1;
    }
    // Reordering is a stable sort, so equal code points keep their relative order.
    const ordered = [...seg.normalize(decomp)].map((c) => {
      const cp = c.codePointAt(0)!;
      const hit = dec.find((d) => !d.used && d.cp === cp);
      if (hit) hit.used = true;
      return { cp, change: hit ? hit.change : 1, used: false };
    });
    const origStarts: number[] = [];
    for (let i = a; i < b; i += s.codePointAt(i)! > 0xffff ? 2 : 1) origStarts.push(i);
    let ptr = 0;
    for (const ch of n) {
      let change = 0;
      let absorbed = 0;
      for (const c of ch.normalize(decomp)) {
        const cp = c.codePointAt(0)!;
        const hit = ordered.find((d) => !d.used && d.cp === cp);
        if (!hit) continue;
        hit.used = true;
        change += hit.change;
        absorbed++;
      }
      change -= Math.max(0, absorbed - 1);
      if (change > 0) {
        out.push(ch, input, origStarts[Math.max(0, ptr - 1)]!);
      } else {
        out.push(ch, input, origStarts[Math.min(ptr, origStarts.length - 1)]!);
        ptr += 1 - change;
      }
    }
  };
  let segStart = 0;
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i)!;
    if (i > segStart && safeBoundaryBefore(cp, form)) {
      flush(segStart, i);
      segStart = i;
    }
    i += cp > 0xffff ? 2 : 1;
  }
  flush(segStart, s.length);
  const result = out.finish();
  if (result.text !== whole) {
    // A segment boundary was not safe after all (it should not happen); keep the text exact and
    // align everything coarsely with the whole input rather than return a wrong normalization.
    const coarse = new Aligner();
    coarse.parts.push(whole);
    for (let k = 0; k < whole.length; k++) {
      coarse.starts.push(alignStart(input, 0));
      coarse.ends.push(alignEnd(input, s.length - 1));
    }
    return coarse.finish();
  }
  return result;
}

/** Unicode normal form NFC, NFD, NFKC or NFKD (via `String.prototype.normalize`). */
export class UnicodeNormalizer implements Normalizer {
  readonly form: Form;
  constructor(form: Form) {
    this.form = form;
  }
  normalize(input: NormalizedText): NormalizedText {
    return unicodeNormalize(input, this.form);
  }
  normalizeString(text: string): string {
    return text.normalize(this.form);
  }
  toJSON(): NormalizerJson {
    return { type: this.form };
  }
}

/**
 * Lowercasing one code point at a time, as Rust's `char::to_lowercase` does: JavaScript's
 * `toLowerCase` on a whole string would turn a final `Σ` into `ς`, which Hugging Face does not.
 */
export class LowercaseNormalizer implements Normalizer {
  normalize(input: NormalizedText): NormalizedText {
    const s = input.text;
    if (isAscii(s)) return { text: s.toLowerCase(), starts: input.starts, ends: input.ends };
    const out = new Aligner();
    let copyFrom = 0;
    for (let i = 0; i < s.length; ) {
      const cp = s.codePointAt(i)!;
      const w = cp > 0xffff ? 2 : 1;
      const c = s.slice(i, i + w);
      const lc = c.toLowerCase();
      if (lc !== c) {
        out.copy(input, copyFrom, i);
        // Every output unit (e.g. both of `İ` -> `i̇`) comes from the original character.
        out.push(lc, input, i);
        copyFrom = i + w;
      }
      i += w;
    }
    if (copyFrom === 0) return input;
    out.copy(input, copyFrom, s.length);
    return out.finish();
  }
  normalizeString(text: string): string {
    if (!text.includes("\u03a3")) return text.toLowerCase();
    let out = "";
    for (const c of text) out += c.toLowerCase();
    return out;
  }
  toJSON(): NormalizerJson {
    return { type: "Lowercase" };
  }
}

/** Applies normalizers in order. */
export class SequenceNormalizer implements Normalizer {
  readonly steps: readonly Normalizer[];
  constructor(steps: readonly Normalizer[]) {
    this.steps = steps;
  }
  normalize(input: NormalizedText): NormalizedText {
    return this.steps.reduce((acc, n) => n.normalize(acc), input);
  }
  normalizeString(text: string): string {
    return this.steps.reduce((acc, n) => n.normalizeString(acc), text);
  }
  toJSON(): NormalizerJson {
    return { type: "Sequence", normalizers: this.steps.map((s) => s.toJSON()) };
  }
}

/** Builds a normalizer from its `tokenizer.json` form; errors name the field at `path`. */
export function normalizerFromJson(value: unknown, path = "normalizer"): Normalizer {
  const obj = asObject(value, path);
  const type = typeOf(obj, path, ["NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Sequence"]);
  switch (type) {
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD":
      return new UnicodeNormalizer(type);
    case "Lowercase":
      return new LowercaseNormalizer();
    case "Sequence": {
      const items = asArray(obj["normalizers"], `${path}.normalizers`);
      return new SequenceNormalizer(items.map((x, i) => normalizerFromJson(x, `${path}.normalizers[${i}]`)));
    }
    default:
      return type satisfies never;
  }
}
