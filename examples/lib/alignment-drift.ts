/**
 * How far apart position t of the student and position t of the teacher are in the text, for the
 * index alignment ULD uses (examples/cross-tokenizer.ts): the dev split encoded with both
 * tokenizers, characters per token of each, and, within 64-token student blocks, how many
 * characters separate the ends of the first 48 tokens of each side.
 *
 * usage: node --import tsx examples/lib/alignment-drift.ts [--out runs/baby-llama-cpu]
 *   (after examples/cross-tokenizer.ts: the teacher's tokenizer is <out>/tokenizer.json, the
 *   student's <out>/xtok-no-kd-s1/tokenizer.json, the text <out>/corpus/*.dev)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fromFile } from '@kdgpu/tokenizer/node';

const i = process.argv.indexOf('--out');
const out = resolve(i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : 'runs/baby-llama-cpu');
const teacher = fromFile(join(out, 'tokenizer.json'));
const student = fromFile(join(out, 'xtok-no-kd-s1', 'tokenizer.json'));
const dir = join(out, 'corpus');
const text = readdirSync(dir).filter((f) => f.endsWith('.dev')).sort().map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
const st = student.encode(text, { addSpecialTokens: false }).ids;
const tt = teacher.encode(text, { addSpecialTokens: false }).ids;
console.log(`dev text, ${text.length} characters: teacher ${tt.length} tokens (${(text.length / tt.length).toFixed(2)} characters/token), student ${st.length} (${(text.length / st.length).toFixed(2)})`);
const T = 64;
const K = 48;
let teacherTokens = 0;
let apart = 0;
let n = 0;
for (let s = 0; s + T <= st.length; s += T, n++) {
  const blockText = student.decode(st.slice(s, s + T));
  const tb = teacher.encode(blockText, { addSpecialTokens: false }).ids;
  teacherTokens += tb.length;
  apart += Math.abs(teacher.decode(tb.slice(0, K)).length - student.decode(st.slice(s, s + K)).length);
}
console.log(`${n} student blocks of ${T}: ${(teacherTokens / n).toFixed(1)} teacher tokens each on average; after ${K} tokens the two sides are ${(apart / n).toFixed(1)} characters apart on average`);
