/**
 * Added tokens (special tokens such as `<s>`, and user-added words) are found in the text before
 * normalization and pre-tokenization, so they are never split by BPE. Matching follows Hugging
 * Face's AddedVocabulary: leftmost-longest, with the single_word / lstrip / rstrip options.
 */
import { asBool, asIndex, asObject, asString } from "./json-check.ts";

/** An added token, with the fields of `added_tokens` entries in `tokenizer.json`. */
export interface AddedToken {
  id: number;
  content: string;
  /** Match only when not glued to a word character on either side. */
  singleWord: boolean;
  /** Swallow whitespace on the left into the match. */
  lstrip: boolean;
  /** Swallow whitespace on the right into the match. */
  rstrip: boolean;
  /** Match against normalized text (else against the raw input). */
  normalized: boolean;
  /** Special tokens are dropped by `decode(ids, {skipSpecialTokens: true})`. */
  special: boolean;
}

/** `tokenizer.json` form of an added token. */
export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** A special token as Hugging Face's trainer adds it: not normalized, no stripping. */
export function specialToken(content: string, id: number): AddedToken {
  return { id, content, singleWord: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** `tokenizer.json` form of an added token. */
export function addedTokenToJson(t: AddedToken): AddedTokenJson {
  return { id: t.id, content: t.content, single_word: t.singleWord, lstrip: t.lstrip, rstrip: t.rstrip, normalized: t.normalized, special: t.special };
}

/** Reads one `added_tokens` entry; errors name the field at `path`. */
export function addedTokenFromJson(value: unknown, path: string): AddedToken {
  const o = asObject(value, path);
  const content = asString(o["content"], `${path}.content`);
  if (content === "") throw new Error(`tokenizer.json: ${path}.content: an added token cannot be empty`);
  const special = asBool(o["special"], `${path}.special`, false);
  return {
    id: asIndex(o["id"], `${path}.id`),
    content,
    singleWord: asBool(o["single_word"], `${path}.single_word`, false),
    lstrip: asBool(o["lstrip"], `${path}.lstrip`, false),
    rstrip: asBool(o["rstrip"], `${path}.rstrip`, false),
    normalized: asBool(o["normalized"], `${path}.normalized`, !special),
    special,
  };
}

/**
 * One stretch of a split: `id` is the added token's id, or -1 for ordinary text. Offsets are in
 * UTF-16 units of the string that was split.
 */
export interface AddedSplit {
  start: number;
  end: number;
  id: number;
}

// Rust's regex `\w` and `\s`, which Hugging Face uses for single_word and the strip options.
const WORD_AT_START = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const WORD_AT_END = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;
const SPACES_AT_START = /^\p{White_Space}*/u;
const SPACES_AT_END = /\p{White_Space}*$/u;

/** One matching pass (over raw or over normalized text) for a set of added tokens. */
export class AddedTokenMatcher {
  private readonly re: RegExp | null;
  private readonly byPattern: Map<string, AddedToken>;

  /** `patterns` maps the string to look for (content, or normalized content) to its token. */
  constructor(patterns: Map<string, AddedToken>) {
    this.byPattern = patterns;
    // Longest first: a regex alternation takes the first alternative that matches at the leftmost
    // position, so this ordering gives the leftmost-longest match of HF's Aho-Corasick automaton.
    const keys = [...patterns.keys()].filter((k) => k.length > 0).sort((a, b) => b.length - a.length);
    this.re = keys.length ? new RegExp(keys.map(escapeRegExp).join("|"), "g") : null;
  }

  /** True when there is nothing to match. */
  get empty(): boolean {
    return this.re === null;
  }

  /** Splits `text` into added tokens and the text between them (covering all of `text`). */
  split(text: string): AddedSplit[] {
    const out: AddedSplit[] = [];
    let from = 0;
    if (this.re) {
      const re = this.re;
      re.lastIndex = 0;
      for (let m = re.exec(text); m; m = re.exec(text)) {
        const tok = this.byPattern.get(m[0])!;
        let start = m.index;
        let stop = start + m[0].length;
        if (tok.singleWord) {
          const okLeft = start === 0 || !WORD_AT_END.test(text.slice(0, start));
          const okRight = stop === text.length || !WORD_AT_START.test(text.slice(stop));
          if (!okLeft || !okRight) continue;
        }
        if (tok.lstrip) start = Math.max(from, start - SPACES_AT_END.exec(text.slice(0, start))![0].length);
        // The search resumes after the match proper, not after swallowed spaces, as in HF.
        if (tok.rstrip) stop += SPACES_AT_START.exec(text.slice(stop))![0].length;
        if (from < start) out.push({ start: from, end: start, id: -1 });
        out.push({ start, end: stop, id: tok.id });
        from = stop;
      }
    }
    if (from < text.length || out.length === 0) out.push({ start: from, end: text.length, id: -1 });
    return out;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
