/**
 * Post-processors: run on the encoded text(s) just before they are returned. TemplateProcessing
 * adds BOS/EOS-style tokens; ByteLevel trims the offsets of byte-level tokens so they do not cover
 * the space a `Ġ` stands for (HF's `trim_offsets`).
 */
import { asArray, asIndex, asObject, asString, asBool, TokenizerJsonError, typeOf } from "./json-check.ts";
import { stepChars, type PartialEncoding } from "./encoding.ts";
import { isWhitespaceUnit } from "./unicode.ts";

/** One item of a template: a special token, or the first/second input. */
export type TemplatePiece =
  | { SpecialToken: { id: string; type_id: number } }
  | { Sequence: { id: "A" | "B"; type_id: number } };

/** `tokenizer.json` form of the supported post-processors. */
export type PostProcessorJson =
  | { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean }
  | {
      type: "TemplateProcessing";
      single: TemplatePiece[];
      pair: TemplatePiece[];
      special_tokens: Record<string, { id: string; ids: number[]; tokens: string[] }>;
    }
  | { type: "Sequence"; processors: PostProcessorJson[] };

/** A pipeline stage run on the encodings of the input text(s). */
export interface PostProcessor {
  /**
   * HF's `process_encodings`: gets one encoding per input text (type ids already 0 / 1) and returns
   * the list to concatenate.
   */
  processEncodings(encodings: PartialEncoding[], addSpecialTokens: boolean): PartialEncoding[];
  toJSON(): PostProcessorJson;
}

/**
 * HF's ByteLevel post-processor. With `trimOffsets`, each token's offsets lose the characters its
 * leading and trailing `Ġ`/whitespace stand for, except the single prefix space of the first token
 * when `addPrefixSpace` (HF's rule; for text after a special token, HF trims that inserted space
 * too, so such a token's offsets start one character late; we do the same).
 */
export class ByteLevelPostProcessor implements PostProcessor {
  readonly addPrefixSpace: boolean;
  readonly trimOffsets: boolean;
  readonly useRegex: boolean;
  constructor(options: { addPrefixSpace?: boolean; trimOffsets?: boolean; useRegex?: boolean } = {}) {
    this.addPrefixSpace = options.addPrefixSpace ?? true;
    this.trimOffsets = options.trimOffsets ?? true;
    this.useRegex = options.useRegex ?? true;
  }
  processEncodings(encodings: PartialEncoding[]): PartialEncoding[] {
    if (this.trimOffsets) for (const e of encodings) trimOffsets(e, this.addPrefixSpace);
    return encodings;
  }
  toJSON(): PostProcessorJson {
    return { type: "ByteLevel", add_prefix_space: this.addPrefixSpace, trim_offsets: this.trimOffsets, use_regex: this.useRegex };
  }
}

function isSpaceChar(c: number): boolean {
  return c === 0x120 || isWhitespaceUnit(c);
}

function trimOffsets(enc: PartialEncoding, addPrefixSpace: boolean): void {
  enc.tokens.forEach((token, i) => {
    let lead = 0;
    while (lead < token.length && isSpaceChar(token.charCodeAt(lead))) lead++;
    let trail = 0;
    while (trail < token.length && isSpaceChar(token.charCodeAt(token.length - 1 - trail))) trail++;
    if (lead === 0 && trail === 0) return;
    const o = enc.offsets[i]!;
    if (lead > 0) {
      if ((i === 0 || o[0] === 0) && addPrefixSpace && lead === 1) lead = 0;
      o[0] = Math.min(stepChars(enc, o[0], lead), o[1]);
    }
    if (trail > 0 && o[1] >= trail) o[1] = Math.max(stepChars(enc, o[1], -trail), o[0]);
  });
}

/** A special token of a template: the string it is named by, and the ids/tokens it adds. */
export interface TemplateSpecialToken {
  id: string;
  ids: number[];
  tokens: string[];
}

/**
 * HF's TemplateProcessing. Templates are written as in HF: `"<s> $A </s>"` and
 * `"<s> $A </s> $B:1 </s>:1"`, where `:n` sets the type id.
 */
export class TemplateProcessing implements PostProcessor {
  readonly single: TemplatePiece[];
  readonly pair: TemplatePiece[];
  readonly specialTokens: Map<string, TemplateSpecialToken>;
  constructor(single: string | TemplatePiece[], pair: string | TemplatePiece[], specialTokens: Iterable<TemplateSpecialToken>) {
    this.single = typeof single === "string" ? parseTemplate(single) : single;
    this.pair = typeof pair === "string" ? parseTemplate(pair) : pair;
    this.specialTokens = new Map([...specialTokens].map((t) => [t.id, t]));
    for (const p of [...this.single, ...this.pair]) {
      if ("SpecialToken" in p && !this.specialTokens.has(p.SpecialToken.id)) {
        throw new Error(`TemplateProcessing: the template uses ${JSON.stringify(p.SpecialToken.id)} but special_tokens does not define it`);
      }
    }
  }
  processEncodings(encodings: PartialEncoding[], addSpecialTokens: boolean): PartialEncoding[] {
    const template = encodings.length === 2 ? this.pair : this.single;
    const out: PartialEncoding[] = [];
    for (const p of template) {
      if ("Sequence" in p) {
        const e = encodings[p.Sequence.id === "A" ? 0 : 1]!;
        out.push({ ...e, typeIds: e.ids.map(() => p.Sequence.type_id) });
      } else if (addSpecialTokens) {
        const t = this.specialTokens.get(p.SpecialToken.id)!;
        const text = encodings[0]!.text;
        out.push({
          ids: [...t.ids],
          tokens: [...t.tokens],
          offsets: t.ids.map(() => [0, 0] as [number, number]),
          typeIds: t.ids.map(() => p.SpecialToken.type_id),
          specialTokensMask: t.ids.map(() => 1),
          attentionMask: t.ids.map(() => 1),
          text,
          unit: encodings[0]!.unit,
        });
      }
    }
    return out;
  }
  toJSON(): PostProcessorJson {
    const special: Record<string, TemplateSpecialToken> = {};
    for (const [k, v] of [...this.specialTokens].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) special[k] = v;
    return { type: "TemplateProcessing", single: this.single, pair: this.pair, special_tokens: special };
  }
}

/** Parses HF's template syntax (`"<s> $A </s> $B:1 </s>:1"`). */
export function parseTemplate(template: string): TemplatePiece[] {
  return template
    .split(" ")
    .filter((s) => s.length > 0)
    .map((item): TemplatePiece => {
      const colon = item.lastIndexOf(":");
      const hasType = colon > 0 && /^\d+$/.test(item.slice(colon + 1));
      const name = hasType ? item.slice(0, colon) : item;
      const typeId = hasType ? Number(item.slice(colon + 1)) : 0;
      if (name === "$A" || name === "$" || name === "$B") {
        return { Sequence: { id: name === "$B" ? "B" : "A", type_id: typeId } };
      }
      return { SpecialToken: { id: name, type_id: typeId } };
    });
}

/** Applies post-processors in turn. */
export class SequencePostProcessor implements PostProcessor {
  readonly steps: readonly PostProcessor[];
  constructor(steps: readonly PostProcessor[]) {
    this.steps = steps;
  }
  processEncodings(encodings: PartialEncoding[], addSpecialTokens: boolean): PartialEncoding[] {
    return this.steps.reduce((acc, p) => p.processEncodings(acc, addSpecialTokens), encodings);
  }
  toJSON(): PostProcessorJson {
    return { type: "Sequence", processors: this.steps.map((p) => p.toJSON()) };
  }
}

/** Builds a post-processor from its `tokenizer.json` form; errors name the field at `path`. */
export function postProcessorFromJson(value: unknown, path = "post_processor"): PostProcessor {
  const obj = asObject(value, path);
  const type = typeOf(obj, path, ["ByteLevel", "TemplateProcessing", "Sequence"]);
  switch (type) {
    case "ByteLevel":
      return new ByteLevelPostProcessor({
        addPrefixSpace: asBool(obj["add_prefix_space"], `${path}.add_prefix_space`, true),
        trimOffsets: asBool(obj["trim_offsets"], `${path}.trim_offsets`, true),
        useRegex: asBool(obj["use_regex"], `${path}.use_regex`, true),
      });
    case "TemplateProcessing": {
      const pieces = (key: string) =>
        asArray(obj[key], `${path}.${key}`).map((p, i) => templatePieceFromJson(p, `${path}.${key}[${i}]`));
      const specials = asObject(obj["special_tokens"], `${path}.special_tokens`);
      const tokens = Object.entries(specials).map(([k, v]) => {
        const at = `${path}.special_tokens[${JSON.stringify(k)}]`;
        const o = asObject(v, at);
        const ids = asArray(o["ids"], `${at}.ids`).map((x, i) => asIndex(x, `${at}.ids[${i}]`));
        const toks = asArray(o["tokens"], `${at}.tokens`).map((x, i) => asString(x, `${at}.tokens[${i}]`));
        if (ids.length !== toks.length) throw new TokenizerJsonError(at, `has ${ids.length} ids but ${toks.length} tokens`);
        return { id: asString(o["id"], `${at}.id`), ids, tokens: toks };
      });
      try {
        return new TemplateProcessing(pieces("single"), pieces("pair"), tokens);
      } catch (e) {
        throw new TokenizerJsonError(path, (e as Error).message);
      }
    }
    case "Sequence": {
      const items = asArray(obj["processors"], `${path}.processors`);
      return new SequencePostProcessor(items.map((x, i) => postProcessorFromJson(x, `${path}.processors[${i}]`)));
    }
    default:
      return type satisfies never;
  }
}

function templatePieceFromJson(value: unknown, path: string): TemplatePiece {
  const o = asObject(value, path);
  if ("SpecialToken" in o) {
    const s = asObject(o["SpecialToken"], `${path}.SpecialToken`);
    return { SpecialToken: { id: asString(s["id"], `${path}.SpecialToken.id`), type_id: asIndex(s["type_id"], `${path}.SpecialToken.type_id`) } };
  }
  if ("Sequence" in o) {
    const s = asObject(o["Sequence"], `${path}.Sequence`);
    const id = asString(s["id"], `${path}.Sequence.id`);
    if (id !== "A" && id !== "B") throw new TokenizerJsonError(`${path}.Sequence.id`, `expected "A" or "B", found ${JSON.stringify(id)}`);
    return { Sequence: { id, type_id: asIndex(s["type_id"], `${path}.Sequence.type_id`) } };
  }
  throw new TokenizerJsonError(path, `expected {"SpecialToken": ...} or {"Sequence": ...}`);
}
