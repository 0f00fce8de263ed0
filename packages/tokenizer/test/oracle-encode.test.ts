/**
 * Encoding against Hugging Face: tokenizer.json files load both ways and encode to the same ids,
 * tokens and offsets (HF's offsets are code point offsets: we compare with `offsets: "codepoint"`).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { babyLlamaTokenizerOptions, ByteLevelPreTokenizer, linesOf, tokenizerFromJson, trainBpe, type Encoding, type Tokenizer } from "../src/index.ts";
import { fixture, fixtureJson, hf, oracleSkip, sha256 } from "./helpers/oracle.ts";
import { PROBES } from "./helpers/probes.ts";

interface Probe {
  text: string;
  ids: number[];
  tokens: string[];
  offsets: Array<[number, number]>;
}
interface Record_ {
  corpusEncoding: { count: number; idsSha256: string; offsetsSha256: string; head: number[] };
  probes: Probe[];
}

type HfTokenizer = import("tokenizers").Tokenizer;

/** Asserts that our encoding equals the oracle's for `text` (and `pair`), naming the first difference. */
async function assertSameEncoding(ours: Tokenizer, theirs: HfTokenizer, text: string, pair?: string, label = ""): Promise<Encoding> {
  const a = ours.encode(text, { offsets: "codepoint", pair });
  const b = await theirs.encode(text, pair ?? null);
  const where = `${label} ${JSON.stringify(text.slice(0, 40))}${pair ? " + pair" : ""}`;
  assert.deepEqual(a.ids, b.getIds(), `ids differ for ${where}`);
  assert.deepEqual(a.tokens, b.getTokens(), `tokens differ for ${where}`);
  assert.deepEqual(a.offsets, b.getOffsets(), `offsets differ for ${where}`);
  assert.deepEqual(a.typeIds, b.getTypeIds(), `type ids differ for ${where}`);
  assert.deepEqual(a.specialTokensMask, b.getSpecialTokensMask(), `special tokens mask differs for ${where}`);
  for (const skip of [false, true]) {
    assert.equal(ours.decode(a.ids, { skipSpecialTokens: skip }), await theirs.decode(b.getIds(), skip), `decode differs for ${where}`);
  }
  return a;
}

const oracleSettings = { showProgress: false, preTokenizer: new ByteLevelPreTokenizer({ addPrefixSpace: false }) } as const;

test("the oracle's tokenizer.json (committed) loads here and encodes the probes as the oracle did", () => {
  const tok = tokenizerFromJson(fixture("oracle-unicode-tokenizer.json"));
  for (const p of fixtureJson<Record_>("oracle-unicode.json").probes) {
    const e = tok.encode(p.text, { offsets: "codepoint" });
    assert.deepEqual({ ids: e.ids, tokens: e.tokens, offsets: e.offsets }, { ids: p.ids, tokens: p.tokens, offsets: p.offsets }, JSON.stringify(p.text));
  }
});

test("fortunes: our trained tokenizer encodes the corpus to the oracle's committed ids and offsets", async () => {
  const rec = fixtureJson<Record_>("oracle-fortunes.json");
  const tok = await trainBpe(linesOf(fixture("fortunes-sample.txt")), oracleSettings);
  const e = tok.encode(fixture("fortunes-sample.txt"), { offsets: "codepoint" });
  assert.deepEqual(e.ids.slice(0, rec.corpusEncoding.head.length), rec.corpusEncoding.head);
  assert.equal(e.ids.length, rec.corpusEncoding.count);
  assert.equal(sha256(JSON.stringify(e.ids)), rec.corpusEncoding.idsSha256);
  assert.equal(sha256(JSON.stringify(e.offsets)), rec.corpusEncoding.offsetsSha256);
  for (const p of rec.probes) {
    const pe = tok.encode(p.text, { offsets: "codepoint" });
    assert.deepEqual({ ids: pe.ids, tokens: pe.tokens, offsets: pe.offsets }, { ids: p.ids, tokens: p.tokens, offsets: p.offsets }, JSON.stringify(p.text));
  }
});

test("fortunes, live: the oracle's file loads here, ours loads there, and both encode the corpus alike", { skip: oracleSkip }, async () => {
  const text = fixture("fortunes-sample.txt");
  const ours = await trainBpe(linesOf(text), oracleSettings);
  const theirs = hf!.Tokenizer.fromString(ours.serialize());
  // And the other direction: the oracle's own file, re-serialized by it, loads here.
  const fromOracle = tokenizerFromJson(JSON.stringify(JSON.parse(ours.serialize())));
  const a = await assertSameEncoding(ours, theirs, text, undefined, "corpus");
  assert.deepEqual(fromOracle.encode(text).ids, a.ids);
  for (const p of PROBES) await assertSameEncoding(ours, theirs, p, undefined, "probe");
});

test("Baby Llama preset: trains, saves, loads in the oracle, and encodes and decodes alike", { skip: oracleSkip }, async () => {
  const tok = await trainBpe(linesOf(fixture("fortunes-sample.txt")), babyLlamaTokenizerOptions({ showProgress: false }));
  assert.equal(tok.tokenToId("<pad>"), 0);
  assert.equal(tok.tokenToId("<s>"), 1);
  assert.equal(tok.tokenToId("</s>"), 2);
  assert.ok(tok.vocabSize <= 16000);
  const theirs = hf!.Tokenizer.fromString(tok.serialize());
  assert.equal(theirs.getVocabSize(true), tok.vocabSize);
  const texts = [...PROBES, fixture("unicode-sample.txt").slice(0, 3000), "<s>inside</s> text <pad>"];
  for (const t of texts) {
    const e = await assertSameEncoding(tok, theirs, t, undefined, "preset");
    assert.equal(e.ids[0], 1);
    assert.equal(e.ids[e.ids.length - 1], 2);
  }
  await assertSameEncoding(tok, theirs, "first text", "second text ﬁ", "preset pair");
});

/** Our oracle-trained unicode tokenizer with pipeline stages swapped in, as JSON edits. */
function variant(edit: (j: any) => void): string {
  const j = fixtureJson<any>("oracle-unicode-tokenizer.json");
  edit(j);
  return JSON.stringify(j);
}
const BL = (prefix: boolean, trim = true) => ({ type: "ByteLevel", add_prefix_space: prefix, trim_offsets: trim, use_regex: true });

const VARIANTS: Record<string, (j: any) => void> = {
  "prefix space + ByteLevel decoder": (j) => {
    j.pre_tokenizer = BL(true);
    j.decoder = BL(true);
  },
  "NFKC": (j) => (j.normalizer = { type: "NFKC" }),
  "NFC": (j) => (j.normalizer = { type: "NFC" }),
  "NFD": (j) => (j.normalizer = { type: "NFD" }),
  "NFKD": (j) => (j.normalizer = { type: "NFKD" }),
  "NFKC + Lowercase": (j) => (j.normalizer = { type: "Sequence", normalizers: [{ type: "NFKC" }, { type: "Lowercase" }] }),
  "ByteLevel post-processor (trim offsets)": (j) => {
    j.pre_tokenizer = BL(true);
    j.post_processor = BL(true, true);
  },
  "Whitespace pre-tokenizer": (j) => (j.pre_tokenizer = { type: "Whitespace" }),
  "WhitespaceSplit + ByteLevel(no regex)": (j) => (j.pre_tokenizer = { type: "Sequence", pretokenizers: [{ type: "WhitespaceSplit" }, { ...BL(true), use_regex: false }] }),
  "no pre-tokenizer": (j) => (j.pre_tokenizer = null),
  "added tokens + template": (j) => {
    const v = Object.keys(j.model.vocab).length;
    j.normalizer = { type: "NFKC" };
    j.pre_tokenizer = BL(true);
    j.decoder = BL(true);
    j.model.vocab["<s>"] = v;
    j.model.vocab["</s>"] = v + 1;
    const added = (id: number, content: string, extra: object) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true, ...extra });
    j.added_tokens = [added(v, "<s>", {}), added(v + 1, "</s>", {}), added(v + 2, "yolo", { single_word: true, lstrip: true, rstrip: true, normalized: true, special: false })];
    const tpl = (id: string, type_id: number) => ({ SpecialToken: { id, type_id } });
    const seq = (id: string, type_id: number) => ({ Sequence: { id, type_id } });
    j.post_processor = {
      type: "Sequence",
      processors: [
        BL(true, true),
        {
          type: "TemplateProcessing",
          single: [tpl("<s>", 0), seq("A", 0), tpl("</s>", 0)],
          pair: [tpl("<s>", 0), seq("A", 0), tpl("</s>", 0), seq("B", 1), tpl("</s>", 1)],
          special_tokens: { "<s>": { id: "<s>", ids: [v], tokens: ["<s>"] }, "</s>": { id: "</s>", ids: [v + 1], tokens: ["</s>"] } },
        },
      ],
    };
  },
};

const VARIANT_TEXTS = [
  ...PROBES,
  fixture("unicode-sample.txt").slice(0, 4000),
  "a\u0301\u0323b \u1e0b\u0323 q\u0307\u0323 ｶﾞｷﾞ 각 Å ΣΑΣ İstanbul ß ǅ",
  "<s>hello</s> there <s> yolo foo yoloyolo  yolo\tx</s>",
];

test("pipeline variants (normalizers, pre-tokenizers, added tokens, templates): same encodings as the oracle", { skip: oracleSkip }, async () => {
  for (const [name, edit] of Object.entries(VARIANTS)) {
    const json = variant(edit);
    const ours = tokenizerFromJson(json);
    const theirs = hf!.Tokenizer.fromString(json);
    for (const t of VARIANT_TEXTS) await assertSameEncoding(ours, theirs, t, undefined, name);
    if (name.startsWith("added")) await assertSameEncoding(ours, theirs, "pair <s> one", "two ﬁ yolo", name);
  }
});

test("random Unicode (marks, compatibility characters, astral, whitespace): same encodings under NFKC and NFD", { skip: oracleSkip }, async () => {
  const pool = [..."aeiouAEIOU xyz'sé\u0301\u0323\u0307\u0308\u0300ﬁ²①ＡΣİß각ｶﾞ😀👍🏽\u200d\t\n\r\u00a0\u3000\u0085\ufeff日本한국'!?.,-123٣"];
  let seed = 2024;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (const form of ["NFKC", "NFD"]) {
    const json = variant((j) => {
      j.normalizer = { type: form };
      j.pre_tokenizer = BL(true);
    });
    const ours = tokenizerFromJson(json);
    const theirs = hf!.Tokenizer.fromString(json);
    for (let i = 0; i < 150; i++) {
      let s = "";
      const n = 1 + rand(25);
      for (let k = 0; k < n; k++) s += pool[rand(pool.length)];
      await assertSameEncoding(ours, theirs, s, undefined, form);
    }
  }
});
