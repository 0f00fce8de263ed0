/** Encoding properties: offsets slice the input, byte-level round trips, bad input, batch, cache. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { babyLlamaTokenizerOptions, byteLevelAlphabet, ByteLevelPreTokenizer, linesOf, textToByteLevel, tokenizerFromJson, trainBpe, type Tokenizer } from "../src/index.ts";
import { fixture } from "./helpers/oracle.ts";

// GPT-2-style: full byte alphabet, no normalizer, no prefix space: decode(encode(x)) === x.
const gpt2Style = trainBpe(linesOf(fixture("fortunes-sample.txt").slice(0, 120_000)), {
  showProgress: false,
  vocabSize: 3000,
  initialAlphabet: byteLevelAlphabet(),
  preTokenizer: new ByteLevelPreTokenizer({ addPrefixSpace: false }),
});
const babyLlama = trainBpe(linesOf(fixture("fortunes-sample.txt").slice(0, 120_000)), babyLlamaTokenizerOptions({ vocabSize: 3000, showProgress: false }));

let seed = 99;
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};
/** Random well-formed text over all of Unicode (any plane, any category) plus common text. */
function randomUnicode(): string {
  let s = "";
  for (let n = rand(40); n > 0; n--) {
    const kind = rand(6);
    let cp: number;
    if (kind === 0) cp = 0x20 + rand(0x5f);
    else if (kind === 1) cp = rand(0x80);
    else if (kind === 2) cp = rand(0x800);
    else if (kind === 3) cp = rand(0x10000);
    else cp = rand(0x110000);
    if (cp >= 0xd800 && cp < 0xe000) cp = 0xe000 + rand(0x1000);
    s += String.fromCodePoint(cp);
    if (kind === 5) s += " the ";
  }
  return s;
}

function assertOffsetsSlice(tok: Tokenizer, text: string, normalized: boolean): void {
  const e = tok.encode(text);
  let prevStart = 0;
  e.offsets.forEach(([s, end], i) => {
    if (e.specialTokensMask[i]) return; // template tokens have [0, 0]
    assert.ok(0 <= s && s <= end && end <= text.length, `offsets ${s},${end} out of ${JSON.stringify(text)}`);
    // (Not with NFKC + trimming: "¸" becomes " ̧", and the trimmed space ends after the mark starts.)
    if (!normalized) assert.ok(s >= prevStart, "offsets go forward");
    prevStart = s;
    const slice = text.slice(s, end);
    assert.equal(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(slice), false, "a slice never cuts a surrogate pair");
    if (!normalized) {
      // The token's bytes lie in the slice's bytes (a token holding part of a character's bytes
      // points at the whole character). An inserted prefix space has no bytes of its own.
      const spelled = textToByteLevel(slice);
      const token = e.tokens[i]!.replace(/^Ġ/, spelled.startsWith("Ġ") ? "Ġ" : "");
      assert.ok(spelled.includes(token), `token ${JSON.stringify(e.tokens[i])} not inside slice ${JSON.stringify(slice)}`);
    } else if (e.tokens[i]!.replace(/Ġ/g, "") !== "") {
      // With NFKC, offsets follow HF's alignments (a composed "é" points at its "e"), and the
      // ByteLevel post-processor trims the spaces a token stands for; a token with more than
      // spaces still covers some text.
      assert.ok(end > s, `token ${JSON.stringify(e.tokens[i])} covers no text in ${JSON.stringify(text)}`);
    }
  });
}

test("offsets slice the original text for every token (GPT-2 style and Baby Llama with NFKC)", async () => {
  const plain = await gpt2Style;
  const bl = await babyLlama;
  const texts = [fixture("unicode-sample.txt").slice(0, 5000), "ﬁ e\u0301 ² 😀👍🏽 日本", ...Array.from({ length: 300 }, randomUnicode)];
  for (const t of texts) {
    assertOffsetsSlice(plain, t, false);
    assertOffsetsSlice(bl, t, true);
  }
});

test("decode(encode(x)) === x on arbitrary Unicode for a byte-level tokenizer", async () => {
  const tok = await gpt2Style;
  for (let i = 0; i < 500; i++) {
    const x = randomUnicode();
    assert.equal(tok.decode(tok.encode(x).ids), x);
  }
  const all = fixture("unicode-sample.txt");
  assert.equal(tok.decode(tok.encode(all).ids), all);
});

test("Baby Llama round trip gives the NFKC text with HF's inserted prefix space", async () => {
  const tok = await babyLlama;
  for (let i = 0; i < 300; i++) {
    const x = randomUnicode();
    const spaced = x.startsWith(" ") || x === "" ? x : " " + x;
    assert.equal(tok.decode(tok.encode(x).ids, { skipSpecialTokens: true }), spaced.normalize("NFKC"));
  }
});

test("empty input, lone surrogates, unknown ids", async () => {
  const tok = await babyLlama;
  assert.deepEqual(tok.encode("").ids, [1, 2], "empty text: only the template's <s> </s>");
  assert.deepEqual(tok.encode("", { addSpecialTokens: false }).ids, []);
  assert.equal(tok.decode([]), "");
  assert.throws(() => tok.encode("ok \udc00 then"), /lone surrogate U\+DC00 at UTF-16 index 3.*toWellFormed/);
  assert.throws(() => tok.encode("end \ud83d"), /lone surrogate U\+D83D/);
  assert.throws(() => tok.decode([5, 999999]), /id 999999 \(at index 1\) is not in the vocabulary/);
});

test("special tokens are matched before pre-tokenization and can be skipped when decoding", async () => {
  const tok = await babyLlama;
  const e = tok.encode("<s>Hello</s> world<pad>", { addSpecialTokens: false });
  assert.deepEqual([e.ids[0], e.ids.at(-1)], [1, 0]);
  assert.equal(e.tokens[0], "<s>");
  assert.deepEqual(e.offsets[0], [0, 3]);
  assert.equal(tok.decode(e.ids, { skipSpecialTokens: true }), " Hello world");
  assert.equal(tok.decode(e.ids), "<s> Hello</s> world<pad>");
});

test("encodeBatch equals encode, pairs get type ids 1, repeated calls use the cache consistently", async () => {
  const tok = await babyLlama;
  const texts = ["a first text", "second", "ﬁnal one 😀"];
  assert.deepEqual(tok.encodeBatch(texts), texts.map((t) => tok.encode(t)));
  const pair = tok.encode("question", { pair: "answer" });
  assert.deepEqual(pair.typeIds.slice(-2), [1, 1]);
  assert.deepEqual(tok.encodeBatch([["question", "answer"]])[0], pair);
  const long = fixture("fortunes-sample.txt").slice(0, 20_000);
  const first = tok.encode(long).ids;
  tok.model.clearCache();
  assert.deepEqual(tok.encode(long).ids, first);
});

test("long pieces (heap merge) and short pieces (scan merge) agree", async () => {
  const tok = await gpt2Style;
  for (let i = 0; i < 50; i++) {
    // A run of letters is one piece; cut it into a long piece and into pieces of up to 20 bytes.
    let word = "";
    for (let n = 65 + rand(200); n > 0; n--) word += "etaoinshrdlu"[rand(12)];
    const whole = tok.encode(word).ids;
    tok.model.clearCache();
    // Decoding proves both spell the same text; the ids must also match a re-encode.
    assert.equal(tok.decode(whole), word);
    assert.deepEqual(tok.encode(word).ids, whole);
  }
  const a = tok.encode("x".repeat(500)).ids;
  assert.equal(tok.decode(a), "x".repeat(500));
});

test("code point offsets equal UTF-16 offsets mapped through the text", async () => {
  const tok = await gpt2Style;
  const text = "a😀b 𝔄𝔅 c";
  const u = tok.encode(text).offsets;
  const c = tok.encode(text, { offsets: "codepoint" }).offsets;
  const cpIndex = (i: number) => [...text.slice(0, i)].length;
  assert.deepEqual(c, u.map(([s, e]) => [cpIndex(s), cpIndex(e)]));
});

// Last: it adds tokens to the shared GPT-2-style tokenizer.
test("unknown special tokens: templates must name trained tokens; added tokens get HF's next ids", async () => {
  await assert.rejects(
    trainBpe(["some text"], {
      showProgress: false,
      postProcessor: (id) => {
        id("<bos>");
        throw new Error("unreachable");
      },
    }),
    /postProcessor asked for "<bos>", which is not in the trained vocabulary/,
  );
  const tok = await gpt2Style;
  const size = tok.vocabSize;
  assert.equal(tok.addSpecialTokens(["<|im_start|>", "<|im_end|>", "<|im_start|>"]), 2);
  assert.equal(tok.tokenToId("<|im_start|>"), size);
  assert.equal(tok.tokenToId("<|im_end|>"), size + 1);
  const e = tok.encode("<|im_start|>hi<|im_end|>");
  assert.deepEqual([e.ids[0], e.ids.at(-1)], [size, size + 1]);
  assert.equal(tok.decode(e.ids, { skipSpecialTokens: true }), "hi");
  // The saved file loads back with the same ids.
  assert.deepEqual(tokenizerFromJson(tok.serialize()).encode("<|im_start|>hi<|im_end|>").ids, e.ids);
});
