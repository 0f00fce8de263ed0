/** tokenizer.json, vocab.json + merges.txt: round trips, the Node adapter, and errors naming the field. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { bpeModelFromVocabMerges, mergesTxtText, Tokenizer, tokenizerFromJson, TokenizerJsonError, vocabJsonText } from "../src/index.ts";
import { bpeModelFromFiles, fromFile, save, saveVocabMerges } from "../src/node.ts";
import { fixture, hf, oracleSkip } from "./helpers/oracle.ts";

const base = () => JSON.parse(fixture("oracle-unicode-tokenizer.json"));
const text = fixture("unicode-sample.txt").slice(0, 3000);

test("serialize -> tokenizerFromJson round trips, and the JSON has HF's layout", () => {
  const tok = tokenizerFromJson(fixture("oracle-unicode-tokenizer.json"));
  const again = tokenizerFromJson(tok.serialize());
  assert.deepEqual(again.encode(text), tok.encode(text));
  const j = JSON.parse(tok.serialize(false));
  assert.deepEqual(Object.keys(j), ["version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder", "model"]);
  assert.deepEqual(Object.keys(j.model), ["type", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges", "vocab", "merges"]);
  assert.deepEqual(j.model, base().model);
});

test("legacy merges written as \"a b\" strings load the same", () => {
  const j = base();
  j.model.merges = j.model.merges.map((m: [string, string]) => m.join(" "));
  assert.deepEqual(tokenizerFromJson(j).encode(text).ids, tokenizerFromJson(base()).encode(text).ids);
});

test("vocab.json + merges.txt: export, import, and the Node adapter's files", () => {
  const tok = tokenizerFromJson(fixture("oracle-unicode-tokenizer.json"));
  const model = bpeModelFromVocabMerges(vocabJsonText(tok.model), mergesTxtText(tok.model));
  assert.deepEqual(new Tokenizer({ model, preTokenizer: tok.preTokenizer }).encode(text).ids, tok.encode(text).ids);
  assert.ok(mergesTxtText(tok.model).startsWith("#version: 0.2\n"));
  const dir = mkdtempSync(join(tmpdir(), "kdgpu-tok-"));
  try {
    const [v, m] = saveVocabMerges(tok, dir, "t");
    assert.ok(v.endsWith("t-vocab.json") && m.endsWith("t-merges.txt"));
    const fromDisk = new Tokenizer({ model: bpeModelFromFiles(v, m), preTokenizer: tok.preTokenizer });
    assert.deepEqual(fromDisk.encode(text).ids, tok.encode(text).ids);
    save(tok, join(dir, "tokenizer.json"));
    assert.deepEqual(fromFile(join(dir, "tokenizer.json")).encode(text).ids, tok.encode(text).ids);
    assert.equal(readFileSync(join(dir, "tokenizer.json"), "utf8"), tok.serialize());
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("vocab.json + merges.txt written here load in the oracle (BPE.fromFile) and encode alike", { skip: oracleSkip }, async () => {
  const tok = tokenizerFromJson(fixture("oracle-unicode-tokenizer.json"));
  const dir = mkdtempSync(join(tmpdir(), "kdgpu-tok-"));
  try {
    const [v, m] = saveVocabMerges(tok, dir);
    const theirs = new hf!.Tokenizer(await hf!.BPE.fromFile(v, m));
    theirs.setPreTokenizer(hf!.byteLevelPreTokenizer(false, true));
    assert.deepEqual((await theirs.encode(text)).getIds(), tok.encode(text).ids);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("malformed files: the error names the field", () => {
  const cases: Array<[string, (j: any) => unknown, RegExp]> = [
    ["no model", (j) => delete j.model, /^tokenizer\.json: model: expected an object, found undefined/],
    ["vocab not an object", (j) => (j.model.vocab = [1, 2]), /^tokenizer\.json: model\.vocab: expected an object, found an array of 2/],
    ["negative id", (j) => (j.model.vocab["a"] = -1), /model\.vocab\["a"\]: expected a non-negative integer/],
    ["merge of unknown token", (j) => j.model.merges.splice(3, 0, ["zz", "q"]), /model\.merges\[3\]: token "zz" is not in the vocabulary/],
    ["merge not a pair", (j) => (j.model.merges[0] = ["a"]), /model\.merges\[0\]: expected a pair of two strings/],
    ["legacy merge without space", (j) => (j.model.merges[1] = "ab"), /model\.merges\[1\]: expected "left right"/],
    ["duplicate id", (j) => (j.model.vocab["zzz"] = 0), /model\.vocab: id 0 is given to both/],
    ["unsupported model", (j) => (j.model.type = "WordPiece"), /model\.type: "WordPiece" is not supported .*supported: BPE/],
    ["unsupported normalizer", (j) => (j.normalizer = { type: "Precompiled" }), /normalizer\.type: "Precompiled" is not supported/],
    ["nested bad field", (j) => (j.normalizer = { type: "Sequence", normalizers: [{ type: "NFC" }, { tipe: "NFKC" }] }), /normalizer\.normalizers\[1\]\.type: expected a string/],
    ["bad flag", (j) => (j.pre_tokenizer.add_prefix_space = "yes"), /pre_tokenizer\.add_prefix_space: expected true or false/],
    ["padding", (j) => (j.padding = { strategy: "BatchLongest" }), /padding: padding is not supported/],
    ["dropout", (j) => (j.model.dropout = 0.1), /model\.dropout: BPE dropout is random and not supported/],
    ["added token id", (j) => (j.added_tokens = [{ id: 5, content: "<x>", special: true }]), new RegExp(`added_tokens\\[0\\]\\.id: "<x>" has id 5, but Hugging Face would give it ${Object.keys(base().model.vocab).length}`)],
    ["template without its token", (j) => (j.post_processor = { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<s>", type_id: 0 } }], pair: [], special_tokens: {} }), /post_processor: TemplateProcessing: the template uses "<s>"/],
    ["unknown unk", (j) => (j.model.unk_token = "<unk>"), /model\.unk_token: "<unk>" is not in the vocabulary/],
    ["version", (j) => (j.version = "2.0"), /version: expected "1\.0"/],
  ];
  for (const [name, edit, message] of cases) {
    const j = base();
    edit(j);
    assert.throws(() => tokenizerFromJson(j), (e: Error) => e instanceof TokenizerJsonError && message.test(e.message), name);
  }
  assert.throws(() => tokenizerFromJson("{not json"), /tokenizer\.json: \(root\): not valid JSON/);
});
