/** Strings encoded by the oracle into the fixtures and compared in the tests. */
export const PROBES: readonly string[] = [
  "",
  " ",
  "\n",
  "  leading and trailing  ",
  "Hello world, hello WORLD!",
  "It's what they've said: we'll see, I'd think.",
  "'s 'S x'sy ''ll",
  "tabs\tand\t\tnew\nlines\r\n\r\nend",
  "héllo wörld ñandú",
  "日本語のテキスト 한국어 текст",
  "emoji 😀🙂🙃 👍🏽 👨‍👩‍👧",
  "ﬁ ² ① ＡＢＣ e\u0301",
  "numbers 123 4567 ٣٤٥ 3.14",
  "\u00a0nbsp \u3000ideo \u0085nel \ufeffbom",
  "<s>special</s> tokens <pad>",
];
