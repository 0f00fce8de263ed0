/** Pre-tokenizers: GPT-2's split (scanner vs regex vs Hugging Face), Whitespace, WhitespaceSplit. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ByteLevelPreTokenizer, GPT2_PATTERN, splitGpt2, textToByteLevel, WhitespacePreTokenizer, WhitespaceSplitPreTokenizer, type PreTokenizer } from "../src/index.ts";
import { hf, oracleSkip } from "./helpers/oracle.ts";

const pieces = (pt: PreTokenizer, s: string) => {
  const out: string[] = [];
  pt.split(s, 0, s.length, (a, b, prefixed) => out.push((prefixed ? " " : "") + s.slice(a, b)));
  return out;
};

// Characters from every class the split distinguishes, whitespace that JS and Oniguruma disagree on
// (U+0085 is White_Space, U+FEFF is not), astral letters and digits, and the apostrophe.
const POOL = [..."abZé日ß 1٣𝟘\t\n\r\u000b\u000c\u0085\u00a0\u2003\u3000\ufeff'srtvemld!?.-😀𝔄"];
let seed = 1;
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};
const randomText = (max: number) => {
  let s = "";
  for (let n = 1 + rand(max); n > 0; n--) s += POOL[rand(POOL.length)];
  return s;
};

test("the GPT-2 scanner gives the regex's pieces (with Unicode White_Space for \\s)", () => {
  const re = new RegExp(GPT2_PATTERN, "gu");
  for (let i = 0; i < 3000; i++) {
    const s = randomText(30);
    const expected = s.match(re) ?? [];
    const got: string[] = [];
    splitGpt2(s, 0, s.length, false, (a, b) => got.push(s.slice(a, b)));
    assert.deepEqual(got, expected, JSON.stringify(s));
    // A prefix space is the same as splitting " " + s (when s does not start with a space).
    if (s[0] !== " ") {
      const spaced = (" " + s).match(re) ?? [];
      const gotP: string[] = [];
      splitGpt2(s, 0, s.length, true, (a, b, p) => gotP.push((p ? " " : "") + s.slice(a, b)));
      assert.deepEqual(gotP, spaced, JSON.stringify(s));
    }
  }
});

test("a range splits as its own string would (line by line training relies on it)", () => {
  const s = "one  \n\n  two\tthree \n";
  const got: string[] = [];
  splitGpt2(s, 6, 13, false, (a, b) => got.push(s.slice(a, b)));
  assert.deepEqual(got, s.slice(6, 13).match(new RegExp(GPT2_PATTERN, "gu")));
});

test("ByteLevel, Whitespace and WhitespaceSplit match Hugging Face's pre-tokenizers", { skip: oracleSkip }, () => {
  const cases: Array<[PreTokenizer, import("tokenizers").PreTokenizer, boolean]> = [
    [new ByteLevelPreTokenizer({ addPrefixSpace: false }), hf!.byteLevelPreTokenizer(false, true), true],
    [new ByteLevelPreTokenizer({ addPrefixSpace: true }), hf!.byteLevelPreTokenizer(true, true), true],
    [new ByteLevelPreTokenizer({ addPrefixSpace: true, useRegex: false }), hf!.byteLevelPreTokenizer(true, false), true],
    [new WhitespacePreTokenizer(), hf!.whitespacePreTokenizer(), false],
    [new WhitespaceSplitPreTokenizer(), hf!.whitespaceSplitPreTokenizer(), false],
  ];
  for (let i = 0; i < 600; i++) {
    const s = randomText(25);
    for (const [ours, theirs, byteLevel] of cases) {
      const expected = theirs.preTokenizeString(s).map((p) => p[0]);
      const got = pieces(ours, s).map((p) => (byteLevel ? textToByteLevel(p) : p));
      assert.deepEqual(got, expected, `${JSON.stringify(ours.toJSON())} on ${JSON.stringify(s)}`);
    }
  }
});

test("character classes agree with Hugging Face on a sweep of the BMP", { skip: oracleSkip }, () => {
  const gpt = hf!.byteLevelPreTokenizer(false, true);
  const ws = hf!.whitespacePreTokenizer();
  const ours = new WhitespacePreTokenizer();
  let checked = 0;
  const differ: string[] = [];
  for (let cp = 0; cp < 0x10000; cp += 5) {
    if (cp >= 0xd800 && cp < 0xe000) continue;
    const c = String.fromCodePoint(cp);
    const s = `a${c}a ${c}1 ${c}${c}`;
    const got: string[] = [];
    splitGpt2(s, 0, s.length, false, (a, b) => got.push(textToByteLevel(s.slice(a, b))));
    const same = JSON.stringify(got) === JSON.stringify(gpt.preTokenizeString(s).map((p) => p[0])) &&
      JSON.stringify(pieces(ours, s)) === JSON.stringify(ws.preTokenizeString(s).map((p) => p[0]));
    if (!same) differ.push(`U+${cp.toString(16).toUpperCase()}`);
    checked++;
  }
  // JavaScript engines ship newer Unicode tables than the Rust crates behind the oracle, so code
  // points assigned in the latest versions (a few dozen in the BMP) classify differently; any
  // systematic error would show up as hundreds.
  assert.ok(differ.length <= checked / 500, `${differ.length} of ${checked} differ: ${differ.slice(0, 40).join(" ")}`);
});
