import { test } from "node:test";
import assert from "node:assert/strict";
import { GGUF_TOKEN_TYPE, tokenizerFromGguf, tokenizerToGguf, trainBpe } from "../src/index.ts";

const TEXT = "the quick brown fox jumps over the lazy dog. héllo wörld! 123 ".repeat(5);

test("gguf vocab: a byte-level BPE tokenizer goes to llama.cpp's fields and back (without the kept tokenizer.json) with equal ids", async () => {
  const tok = await trainBpe([TEXT], { vocabSize: 300, showProgress: false, specialTokens: ["<pad>", "<s>", "</s>"] });
  const v = tokenizerToGguf(tok);
  assert.equal(v.model, "gpt2");
  assert.equal(v.pre, "gpt-2");
  assert.equal(v.tokens.length, tok.vocabSize);
  assert.equal(v.tokenTypes[tok.tokenToId("<s>")!], GGUF_TOKEN_TYPE.control);
  assert.equal(v.tokenTypes[tok.tokenToId("the")!] ?? GGUF_TOKEN_TYPE.normal, GGUF_TOKEN_TYPE.normal);
  assert.deepEqual(v.merges.slice(0, 3), tok.model.merges.slice(0, 3).map(([a, b]) => `${a} ${b}`));
  assert.equal(v.bosId, tok.tokenToId("<s>"));
  assert.equal(v.eosId, tok.tokenToId("</s>"));
  assert.equal(v.padId, tok.tokenToId("<pad>"));
  const back = tokenizerFromGguf({ ...v, huggingfaceJson: null });
  for (const s of [TEXT, "brown dogs<s>jump</s>", "unseen ✓ text"]) assert.deepEqual(back.encode(s, { addSpecialTokens: false }).ids, tok.encode(s, { addSpecialTokens: false }).ids, s);
  assert.equal(back.decode(tok.encode(TEXT).ids), tok.decode(tok.encode(TEXT).ids));
  // With the kept tokenizer.json: the same tokenizer exactly.
  assert.equal(tokenizerFromGguf(v).serialize(), tok.serialize());
});

test("gguf vocab: inconsistent or unsupported vocabularies are refused by field", async () => {
  const tok = await trainBpe([TEXT], { vocabSize: 280, showProgress: false, specialTokens: ["<s>"] });
  const v = tokenizerToGguf(tok);
  const swapped = [...v.tokens];
  [swapped[40], swapped[41]] = [swapped[41]!, swapped[40]!];
  assert.throws(() => tokenizerFromGguf({ ...v, tokens: swapped }), /tokenizer.huggingface.json gives id 40/);
  assert.throws(() => tokenizerFromGguf({ ...v, huggingfaceJson: null, model: "llama" }), /tokenizer.ggml.model "llama" is not supported/);
  assert.throws(() => tokenizerFromGguf({ ...v, huggingfaceJson: null, pre: "llama-bpe" }), /tokenizer.ggml.pre "llama-bpe"/);
  assert.throws(() => tokenizerFromGguf({ ...v, huggingfaceJson: null, merges: ["ab"] }), /tokenizer.ggml.merges\[0\] "ab" is not "left right"/);
});
