/** The Baby Llama demo's margins, spread and verdict (examples/lib/demo-results.ts) on hand-made tables, and README's generated Results section. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DemoRow, seedList, spread, summarizeDemo } from '../examples/lib/demo-results.ts';
import { BEGIN, END, readCommittedResults, renderResults, replaceSection } from '../examples/lib/readme-results.ts';

const row = (model: string, seed: number, loss: number): DemoRow => ({ model, seed, steps: 1, params: 1, 'val loss': loss, 'best val (step)': '', perplexity: 0, 'minimal pairs': 0.5, 'train s': 0 });

test('seedList: --seed N --seeds K gives N..N+K-1; bad values name the flag', () => {
  assert.deepEqual(seedList('5', '3'), [5, 6, 7]);
  assert.deepEqual(seedList('0', '1'), [0]);
  assert.throws(() => seedList('-1', '3'), /--seed: expected a whole number/);
  assert.throws(() => seedList('x', '3'), /--seed:/);
  assert.throws(() => seedList('1', '0'), /--seeds: expected a whole number from 1 to 100/);
  assert.throws(() => seedList('1', '2.5'), /--seeds:/);
});

test('spread: mean, sample sd, min, max', () => {
  const s = spread([1, 2, 3, 4]);
  assert.equal(s.mean, 2.5);
  assert.ok(Math.abs(s.sd - Math.sqrt(5 / 3)) < 1e-12);
  assert.equal(s.min, 1);
  assert.equal(s.max, 4);
  assert.equal(spread([7]).sd, 0);
});

test('summarizeDemo: per-seed margins, wins, teachers beaten, single-teacher row, verdict with numbers', () => {
  const rows = [
    row('gpt2-teacher', 2023, 3.5), row('llama-teacher', 2023, 3.3),
    row('student-distilled', 1, 3.4), row('student-no-kd', 1, 3.5), row('student-best-teacher', 1, 3.45),
    row('student-distilled', 2, 3.2), row('student-no-kd', 2, 3.4),
    row('student-distilled', 3, 3.6), row('student-no-kd', 3, 3.5),
  ];
  const s = summarizeDemo(rows, { bestTeacher: 'llama-teacher' });
  assert.deepEqual(s.margins.perSeed.map((m) => m.seed), [1, 2, 3]);
  assert.deepEqual(s.margins.perSeed.map((m) => Number(m.margin.toFixed(6))), [-0.1, -0.2, 0.1]);
  assert.equal(s.margins.wins, 2);
  assert.ok(Math.abs(s.margins.spread.mean - -0.2 / 3) < 1e-12);
  assert.equal(s.margins.singleTeacher.length, 1);
  assert.ok(Math.abs(s.margins.singleTeacher[0]!.vsEnsemble - 0.05) < 1e-12);
  assert.deepEqual(s.beatsTeachers.map((b) => [b.teacher, b.seedsBeaten]), [['gpt2-teacher', 2], ['llama-teacher', 1]]);
  assert.match(s.verdict, /^The distilled student beat the student trained without distillation on only 2 of 3 seeds: mean validation loss 3\.400 against 3\.467, a margin of −0\.067 nats \(sd 0\.153\)/);
  const all = summarizeDemo(rows.filter((r) => r.seed !== 3), { bestTeacher: 'llama-teacher' });
  assert.match(all.verdict, /beat the student trained without distillation on every seed \(2 of 2\)/);
  const none = summarizeDemo([row('student-distilled', 1, 3.6), row('student-no-kd', 1, 3.5)], { bestTeacher: 'x' });
  assert.match(none.verdict, /^The distilled student did not beat/);
  assert.throws(() => summarizeDemo([row('student-distilled', 1, 3.6)], { bestTeacher: 'x' }), /seed 1 lacks a student-distilled or student-no-kd row/);
});

test('README: the Results section is what examples/lib/readme-results.ts makes of the committed results files', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const [demo, sweep, cross, untuned] = readCommittedResults(root);
  assert.ok(demo, 'docs/demo/results.json is committed');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(BEGIN), readme.indexOf(END) + END.length);
  assert.equal(section, renderResults(demo, sweep, cross, untuned), 'regenerate it: node --import tsx examples/lib/readme-results.ts');
  assert.throws(() => replaceSection('no markers', 'x'), /README\.md: no <!-- results:begin -->/);
});
