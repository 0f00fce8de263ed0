/**
 * GPT-2's own tokenizer.json (rebuilt from js-tiktoken's ranks) loads here and encodes like the
 * oracle and like tiktoken.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { getEncoding } from "js-tiktoken";
import { tokenizerFromJson } from "../src/index.ts";
import { gpt2TokenizerJson } from "./helpers/gpt2.ts";
import { fixture, hf, oracleSkip } from "./helpers/oracle.ts";
import { PROBES } from "./helpers/probes.ts";

const json = JSON.stringify(gpt2TokenizerJson());
const ours = tokenizerFromJson(json);
// tiktoken's regex uses JavaScript's \s, which differs from Oniguruma's on U+0085 and U+FEFF.
const texts = [fixture("fortunes-sample.txt").slice(0, 60_000), fixture("unicode-sample.txt"), ...PROBES.filter((p) => !/[\u0085\ufeff]/.test(p))];

test("GPT-2: ids equal js-tiktoken's", () => {
  const tt = getEncoding("gpt2");
  for (const t of texts) assert.deepEqual(ours.encode(t).ids, tt.encode(t, "all"), JSON.stringify(t.slice(0, 30)));
  assert.equal(ours.decode(ours.encode(texts[1]!).ids), texts[1]);
  assert.equal(ours.tokenToId("<|endoftext|>"), 50256);
  assert.deepEqual(ours.encode("a<|endoftext|>b").ids, tt.encode("a<|endoftext|>b", "all"));
});

test("GPT-2: ids, tokens and offsets equal the oracle's", { skip: oracleSkip }, async () => {
  const theirs = hf!.Tokenizer.fromString(json);
  for (const t of [...texts, "\u0085 \ufeff x"]) {
    const a = ours.encode(t, { offsets: "codepoint" });
    const b = await theirs.encode(t);
    assert.deepEqual(a.ids, b.getIds());
    assert.deepEqual(a.offsets, b.getOffsets());
  }
});
