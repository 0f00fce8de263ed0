/**
 * The trainer against Hugging Face's BpeTrainer: the same merges, in the same order, and the same
 * vocabulary, checked against the committed oracle output and, where it loads, the live oracle.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ByteLevelPreTokenizer, linesOf, trainBpe, type Tokenizer } from "../src/index.ts";
import { trainBpeFromFiles } from "../src/node.ts";
import { FIXTURES, fixture, fixtureJson, hf, mergesText, oracleSkip, sha256, vocabText } from "./helpers/oracle.ts";

interface OracleRecord {
  corpusSha256: string;
  vocabSize: number;
  mergeCount: number;
  mergesSha256: string;
  vocabSha256: string;
  mergesHead: string[];
  mergesTail: string[];
}

// What the oracle's `tokenizer.train(files)` does: BpeTrainer defaults, ByteLevel without prefix space.
const ORACLE_SETTINGS = { showProgress: false, preTokenizer: new ByteLevelPreTokenizer({ addPrefixSpace: false }) } as const;

const mergeList = (t: Tokenizer) => t.model.merges.map(([a, b]) => `${a} ${b}`);

function oracleTrain(file: string) {
  const tok = new hf!.Tokenizer(hf!.BPE.empty());
  tok.setPreTokenizer(hf!.byteLevelPreTokenizer(false, true));
  tok.train([file]);
  const dir = mkdtempSync(join(tmpdir(), "kdgpu-tok-"));
  try {
    tok.save(join(dir, "t.json"));
    const json = JSON.parse(readFileSync(join(dir, "t.json"), "utf8"));
    return { merges: (json.model.merges as Array<[string, string]>).map((m) => `${m[0]} ${m[1]}`), vocab: json.model.vocab as Record<string, number> };
  } finally {
    rmSync(dir, { recursive: true });
  }
}

for (const name of ["fortunes", "unicode"] as const) {
  const file = `${name}-sample.txt`;
  const record = fixtureJson<OracleRecord>(`oracle-${name}.json`);
  let ours: Tokenizer | undefined;
  const trained = async () => (ours ??= await trainBpe(linesOf(fixture(file)), ORACLE_SETTINGS));

  test(`${name}: merges and vocab equal the committed oracle output`, async () => {
    assert.equal(sha256(fixture(file)), record.corpusSha256, `${file} changed; regenerate the fixtures (npm run fixtures)`);
    const tok = await trained();
    const m = mergeList(tok);
    assert.deepEqual(m.slice(0, record.mergesHead.length), record.mergesHead);
    assert.deepEqual(m.slice(-record.mergesTail.length), record.mergesTail);
    assert.equal(m.length, record.mergeCount);
    assert.equal(tok.model.size, record.vocabSize);
    assert.equal(sha256(mergesText(m)), record.mergesSha256);
    assert.equal(sha256(vocabText(tok.model.vocab as Map<string, number>)), record.vocabSha256);
  });

  test(`${name}: merges and vocab equal the live oracle's, in order`, { skip: oracleSkip }, async () => {
    const tok = await trained();
    const oracle = oracleTrain(join(FIXTURES, file));
    assert.deepEqual(mergeList(tok), oracle.merges);
    assert.deepEqual(Object.fromEntries(tok.model.vocab), oracle.vocab);
  });
}

test("unicode: the full oracle tokenizer.json matches ours field by field", async () => {
  const theirs = fixtureJson<{ model: { vocab: Record<string, number>; merges: Array<[string, string]> } }>("oracle-unicode-tokenizer.json");
  const ours = (await trainBpe(linesOf(fixture("unicode-sample.txt")), ORACLE_SETTINGS)).toJSON();
  assert.deepEqual(ours.model.merges, theirs.model.merges);
  assert.deepEqual(ours.model.vocab, theirs.model.vocab);
});

test("the Node adapter trains from file paths like the oracle (a leading BOM stays text, as in Rust)", { skip: oracleSkip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "kdgpu-tok-"));
  try {
    const path = join(dir, "bom.txt");
    writeFileSync(path, "\ufeff" + fixture("unicode-sample.txt") + "no newline at the end");
    const tok = await trainBpeFromFiles([path], ORACLE_SETTINGS);
    assert.deepEqual(mergeList(tok), oracleTrain(path).merges);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("random small corpora: identical merges and vocab (ties, re-merged strings, long words)", { skip: oracleSkip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "kdgpu-tok-"));
  try {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    // Tiny alphabets make ties and the same string built from different pairs common.
    const alphabets = ["ab ", "abc \n", "aab b c\t", "xyz é😀 ", "01 23'"];
    for (let trial = 0; trial < 30; trial++) {
      const alpha = [...alphabets[trial % alphabets.length]!];
      let text = "";
      const len = 200 + rand(3000);
      for (let i = 0; i < len; i++) text += alpha[rand(alpha.length)];
      if (trial % 3 === 0) text += "\n" + "ab".repeat(200 + rand(100));
      const path = join(dir, `c${trial}.txt`);
      writeFileSync(path, text);
      const ours = await trainBpe(linesOf(text), ORACLE_SETTINGS);
      const oracle = oracleTrain(path);
      assert.deepEqual(mergeList(ours), oracle.merges, `trial ${trial}`);
      assert.deepEqual(Object.fromEntries(ours.model.vocab), oracle.vocab, `trial ${trial}`);
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});
