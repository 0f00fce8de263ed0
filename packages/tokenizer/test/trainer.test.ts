/**
 * Trainer rules against hand-computed expectations (settings the oracle's Node binding cannot
 * set), and input handling: sources, streaming, bad input.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { byteLevelAlphabet, ByteLevelPreTokenizer, linesOf, trainBpe, type Tokenizer } from "../src/index.ts";
import { fixture } from "./helpers/oracle.ts";

const quiet = { showProgress: false } as const;
const words = (counts: Record<string, number>) => Object.entries(counts).flatMap(([w, n]) => Array<string>(n).fill(w));
const merges = (t: Tokenizer) => t.model.merges.map(([a, b]) => `${a} ${b}`);
const vocab = (t: Tokenizer) => Object.fromEntries(t.model.vocab);

test("Hugging Face's own trainer test: roses are red (min frequency 2)", async () => {
  // tokenizers/src/models/bpe/trainer.rs, test_train: the same word counts, one word per sequence.
  const input = words({ roses: 1, are: 2, red: 1, voilets: 1, blue: 1, BERT: 1, is: 2, big: 1, and: 1, so: 1, "GPT-2": 1 });
  const tok = await trainBpe(input, { ...quiet, preTokenizer: null, minFrequency: 2 });
  const chars = ["-", "2", "B", "E", "G", "P", "R", "T", "a", "b", "d", "e", "g", "i", "l", "n", "o", "r", "s", "t", "u", "v"];
  assert.deepEqual(vocab(tok), Object.fromEntries([...chars, "re", "are", "is"].map((t, i) => [t, i])));
  // "re" (count 3) first; then "are" and "is" tie at 2 and (a, re) = (8, 22) < (i, s) = (13, 18).
  assert.deepEqual(merges(tok), ["r e", "a re", "i s"]);
});

test("min frequency 0 and 1 behave the same; the counts decide, ties go to the smallest ids", async () => {
  const input = words({ aab: 3, ac: 1 });
  const a = await trainBpe(input, { ...quiet, preTokenizer: null, minFrequency: 0 });
  const b = await trainBpe(input, { ...quiet, preTokenizer: null, minFrequency: 1 });
  assert.deepEqual(merges(a), merges(b));
  // (a, a) and (a, b) both count 3: (0, 0) wins. Then (aa, b) = 3 beats (a, c) = 1.
  assert.deepEqual(merges(a), ["a a", "aa b", "a c"]);
});

test("limitAlphabet drops the rarest characters and their neighbours become adjacent", async () => {
  const tok = await trainBpe(words({ aab: 3, acb: 1 }), { ...quiet, preTokenizer: null, limitAlphabet: 2 });
  // c (count 1) goes: "acb" is now "ab", so (a, b) counts 4 and beats (a, a) = 3; then "aab" is
  // a + ab, and (a, ab) = 3 is the last pair.
  assert.deepEqual(vocab(tok), { a: 0, b: 1, ab: 2, aab: 3 });
  assert.deepEqual(merges(tok), ["a b", "a ab"]);
});

test("special tokens and a full initial alphabet shift ids but never change the merge order", async () => {
  const text = fixture("unicode-sample.txt").slice(0, 6000);
  const pre = new ByteLevelPreTokenizer({ addPrefixSpace: false });
  const plain = await trainBpe([text], { ...quiet, preTokenizer: pre, vocabSize: 600 });
  const extra = await trainBpe([text], {
    ...quiet,
    preTokenizer: pre,
    vocabSize: 600 + 3 + 256,
    specialTokens: ["<pad>", "<s>", "</s>"],
    initialAlphabet: byteLevelAlphabet(),
  });
  const n = merges(plain).length;
  assert.deepEqual(merges(extra).slice(0, n), merges(plain));
  assert.equal(extra.tokenToId("<pad>"), 0);
  assert.equal(extra.tokenToId("<s>"), 1);
  assert.equal(extra.tokenToId("</s>"), 2);
  // The byte alphabet follows, sorted by code point: "!" (U+0021) is the first.
  assert.equal(extra.tokenToId("!"), 3);
  assert.equal(extra.model.size, 3 + 256 + (extra.model.size - 259));
});

test("special tokens in the training text are counted as ordinary text", async () => {
  const tok = await trainBpe(words({ "<s>": 5 }), { ...quiet, preTokenizer: null, specialTokens: ["<s>"] });
  // "<s>" has id 0; the merges rebuild the same string and reuse id 0.
  assert.equal(tok.tokenToId("<s>"), 0);
  assert.deepEqual(merges(tok), ["< s", "<s >"]);
  assert.equal(tok.model.vocab.get("<s"), 4);
  assert.equal(tok.model.size, 5);
});

test("vocabSize stops training, counting specials and alphabet", async () => {
  const tok = await trainBpe(words({ abcd: 4, abce: 2 }), { ...quiet, preTokenizer: null, vocabSize: 5 + 1 });
  assert.deepEqual(merges(tok), ["a b"]);
  assert.equal(tok.model.size, 6);
});

test("bad settings and empty input give clear errors", async () => {
  await assert.rejects(trainBpe(["abc"], { ...quiet, vocabSize: 2, preTokenizer: null }), /vocabSize 2 is smaller than the 0 special tokens plus the alphabet \(3 in all\)/);
  await assert.rejects(trainBpe([], quiet), /no words/);
  await assert.rejects(trainBpe([""], quiet), /no words/);
  await assert.rejects(trainBpe(["x"], { ...quiet, vocabSize: 1.5 }), /vocabSize must be an integer/);
  await assert.rejects(trainBpe(["x"], { ...quiet, specialTokens: [""] }), /specialTokens\[0\] must be a non-empty string/);
  await assert.rejects(trainBpe("some text" as never, quiet), /got a string/);
  await assert.rejects(trainBpe(["ok", "bad \ud800 surrogate"], quiet), /lone surrogate U\+D800 at UTF-16 index 4/);
  const invalid = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array([0x61, 0xff, 0x0a]));
      c.close();
    },
  });
  await assert.rejects(trainBpe(invalid, quiet), /not valid UTF-8/);
});

test("file-like sources (text, byte stream split anywhere, chunks) read lines like HF, = one sequence per line", async () => {
  const text = fixture("unicode-sample.txt");
  const opts = { ...quiet, vocabSize: 700 };
  const perLine = text.split(/(?<=\n)/);
  const ref = merges(await trainBpe(perLine, opts));
  assert.deepEqual(merges(await trainBpe(linesOf(text), opts)), ref);
  const bytes = new TextEncoder().encode(text);
  let seed = 7;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      // Cut at pseudo-random byte positions, inside multi-byte characters too.
      for (let i = 0; i < bytes.length; ) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        const n = 1 + (seed % 97);
        c.enqueue(bytes.slice(i, i + n));
        i += n;
      }
      c.close();
    },
  });
  assert.deepEqual(merges(await trainBpe(stream, opts)), ref);
  async function* chunks() {
    for (let i = 0; i < text.length; i += 1000) yield text.slice(i, i + 1000);
  }
  assert.deepEqual(merges(await trainBpe(linesOf(chunks()), opts)), ref);
  // Several sources are read in order, as HF reads several files.
  const half = text.indexOf("\n", text.length >> 1) + 1;
  assert.deepEqual(merges(await trainBpe([linesOf(text.slice(0, half)), linesOf(text.slice(half))], opts)), ref);
});

test("progress callback sees both phases", async () => {
  const phases = new Set<string>();
  await trainBpe(linesOf(fixture("unicode-sample.txt")), { vocabSize: 400, showProgress: (p) => phases.add(p.phase) });
  assert.deepEqual([...phases], ["count", "merge"]);
});
