/**
 * Reading Hugging Face's files: `tokenizer.json`, and the older `vocab.json` + `merges.txt` pair
 * (also written here, for tools that want them). Every error names the offending field.
 */
import { addedTokenFromJson } from "./added-tokens.ts";
import { BpeModel, type BpeOptions } from "./bpe-model.ts";
import { decoderFromJson } from "./decoders.ts";
import { asArray, asBool, asIndex, asObject, asOptString, asString, describe, TokenizerJsonError, typeOf } from "./json-check.ts";
import { normalizerFromJson } from "./normalizers.ts";
import { postProcessorFromJson } from "./post-processors.ts";
import { preTokenizerFromJson } from "./pre-tokenizers.ts";
import { Tokenizer } from "./tokenizer.ts";

export { TokenizerJsonError } from "./json-check.ts";

/**
 * Builds a tokenizer from `tokenizer.json` (its text, or the parsed object). Accepts merges as
 * `["a", "b"]` pairs (tokenizers >= 0.20) or `"a b"` strings (older files). Throws
 * {@link TokenizerJsonError} naming the field for malformed or unsupported content.
 */
export function tokenizerFromJson(json: string | object): Tokenizer {
  let value: unknown = json;
  if (typeof json === "string") {
    try {
      value = JSON.parse(json);
    } catch (e) {
      throw new TokenizerJsonError("(root)", `not valid JSON: ${(e as Error).message}`);
    }
  }
  const root = asObject(value, "(root)");
  checkDepth(root);
  if (root["version"] !== undefined && root["version"] !== "1.0") {
    throw new TokenizerJsonError("version", `expected "1.0", found ${describe(root["version"])}`);
  }
  for (const key of ["truncation", "padding"] as const) {
    if (root[key] !== undefined && root[key] !== null) {
      throw new TokenizerJsonError(key, `${key} is not supported by @kdgpu/tokenizer; set it to null and ${key === "padding" ? "pad" : "truncate"} the ids yourself`);
    }
  }
  const model = bpeModelFromJson(root["model"], "model");
  const opt = <T>(key: string, read: (v: unknown, path: string) => T): T | null =>
    root[key] === undefined || root[key] === null ? null : read(root[key], key);
  const addedTokens = asArray(root["added_tokens"] ?? [], "added_tokens").map((t, i) => addedTokenFromJson(t, `added_tokens[${i}]`));
  const parts = {
    model,
    normalizer: opt("normalizer", normalizerFromJson),
    preTokenizer: opt("pre_tokenizer", preTokenizerFromJson),
    postProcessor: opt("post_processor", postProcessorFromJson),
    decoder: opt("decoder", decoderFromJson),
  };
  // HF re-derives each added token's id: its vocabulary id, else the next id after the vocabulary
  // and the added tokens so far. A file whose ids disagree would load differently there, so we
  // refuse it rather than pick one reading.
  let maxAdded = -1;
  addedTokens.forEach((t, i) => {
    const known = model.vocab.get(t.content);
    const expected = known ?? (maxAdded >= model.size ? maxAdded + 1 : model.size);
    if (t.id !== expected) {
      throw new TokenizerJsonError(`added_tokens[${i}].id`, `${JSON.stringify(t.content)} has id ${t.id}, but Hugging Face would give it ${expected}`);
    }
    if (known === undefined) maxAdded = Math.max(maxAdded, t.id);
  });
  try {
    return new Tokenizer({ ...parts, addedTokens });
  } catch (e) {
    throw new TokenizerJsonError("added_tokens", (e as Error).message);
  }
}

/** Real files nest about 6 levels deep; components are read recursively, so a bound keeps the stack safe. */
const MAX_DEPTH = 64;

/** Throws when `root` nests objects/arrays more than MAX_DEPTH levels deep (checked without recursion). */
function checkDepth(root: object): void {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth > MAX_DEPTH) throw new TokenizerJsonError("(root)", `nested more than ${MAX_DEPTH} levels deep; not a tokenizer.json`);
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (x !== null && typeof x === "object") stack.push([x, depth + 1]);
  }
}

/** Reads the `model` object of `tokenizer.json` (only BPE is supported). */
export function bpeModelFromJson(value: unknown, path = "model"): BpeModel {
  const m = asObject(value, path);
  // Files from some tools omit "type" for BPE; HF then guesses from the fields.
  if (m["type"] !== undefined) typeOf(m, path, ["BPE"]);
  if (m["dropout"] !== undefined && m["dropout"] !== null && m["dropout"] !== 0) {
    throw new TokenizerJsonError(`${path}.dropout`, `BPE dropout is random and not supported; set it to null`);
  }
  const vocabObj = asObject(m["vocab"], `${path}.vocab`);
  const vocab = new Map<string, number>();
  for (const [tok, id] of Object.entries(vocabObj)) vocab.set(tok, asIndex(id, `${path}.vocab[${JSON.stringify(tok)}]`));
  const merges = asArray(m["merges"] ?? [], `${path}.merges`).map((x, i) => parseMerge(x, `${path}.merges[${i}]`));
  const options: BpeOptions = {
    unkToken: asOptString(m["unk_token"], `${path}.unk_token`),
    continuingSubwordPrefix: asOptString(m["continuing_subword_prefix"], `${path}.continuing_subword_prefix`),
    endOfWordSuffix: asOptString(m["end_of_word_suffix"], `${path}.end_of_word_suffix`),
    fuseUnk: asBool(m["fuse_unk"], `${path}.fuse_unk`, false),
    byteFallback: asBool(m["byte_fallback"], `${path}.byte_fallback`, false),
    ignoreMerges: asBool(m["ignore_merges"], `${path}.ignore_merges`, false),
  };
  try {
    return new BpeModel(vocab, merges, options, path);
  } catch (e) {
    const msg = (e as Error).message;
    const field = msg.slice(0, msg.indexOf(":"));
    throw new TokenizerJsonError(field.startsWith(path) ? field : path, msg.slice(msg.indexOf(":") + 2));
  }
}

function parseMerge(x: unknown, path: string): [string, string] {
  if (typeof x === "string") {
    const sp = x.indexOf(" ");
    if (sp < 0) throw new TokenizerJsonError(path, `expected "left right" with a space, found ${describe(x)}`);
    return [x.slice(0, sp), x.slice(sp + 1)];
  }
  const pair = asArray(x, path);
  if (pair.length !== 2) throw new TokenizerJsonError(path, `expected a pair of two strings, found ${describe(x)}`);
  return [asString(pair[0], `${path}[0]`), asString(pair[1], `${path}[1]`)];
}

/** `vocab.json` text (model vocabulary in id order, compact, as HF writes it). */
export function vocabJsonText(model: BpeModel): string {
  return model.vocabJson();
}

/** `merges.txt` text, with HF's `#version: 0.2` header. */
export function mergesTxtText(model: BpeModel): string {
  return "#version: 0.2\n" + model.merges.map(([a, b]) => `${a} ${b}\n`).join("");
}

/**
 * Builds a BPE model from `vocab.json` and `merges.txt` texts (HF's `BPE.from_file`); the header
 * line and blank lines of `merges.txt` are skipped.
 */
export function bpeModelFromVocabMerges(vocabJson: string, mergesTxt: string, options: BpeOptions = {}): BpeModel {
  let parsed: unknown;
  try {
    parsed = JSON.parse(vocabJson);
  } catch (e) {
    throw new TokenizerJsonError("vocab.json", `not valid JSON: ${(e as Error).message}`);
  }
  const obj = asObject(parsed, "vocab.json");
  const vocab = new Map<string, number>();
  for (const [tok, id] of Object.entries(obj)) vocab.set(tok, asIndex(id, `vocab.json[${JSON.stringify(tok)}]`));
  const merges: Array<[string, string]> = [];
  mergesTxt.split("\n").forEach((line, i) => {
    if (line.startsWith("#version") || line.trim() === "") return;
    const parts = line.replace(/\r$/, "").split(" ");
    if (parts.length !== 2) throw new TokenizerJsonError(`merges.txt line ${i + 1}`, `expected "left right", found ${describe(line)}`);
    merges.push([parts[0]!, parts[1]!]);
  });
  return new BpeModel(vocab, merges, options, "merges.txt");
}
