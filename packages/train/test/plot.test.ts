import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetricsRecord } from '../src/metrics.ts';
import { lossSeries, niceTicks, plotLossCurves } from '../src/plot.ts';

/** Checks that every tag is closed in order; returns the element names seen. */
function checkBalanced(svg: string): string[] {
  const stack: string[] = [];
  const names: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    if (close) assert.equal(stack.pop(), name, `</${name}> closes <${stack.at(-1)}>`);
    else if (!selfClose) stack.push(name!);
    if (!close) names.push(name!);
  }
  assert.deepEqual(stack, [], 'every tag closed');
  // Nothing outside tags looks like markup (text is escaped).
  const text = svg.replace(/<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g, '');
  assert.ok(!/[<>]/.test(text), 'no stray angle brackets');
  return names;
}

function count(svg: string, re: RegExp): number {
  return [...svg.matchAll(re)].length;
}

const records: MetricsRecord[] = [];
for (let step = 10; step <= 200; step += 10) {
  const kd = step === 70 ? NaN : 2 - step / 200; // one non-finite KD value: a gap
  records.push({ step, split: 'train', loss: 3 - step / 100, losses: { ce: 3.5 - step / 100, kd } });
  if (step % 50 === 0) records.push({ step, split: 'eval', loss: 3.2 - step / 110 });
}

test('one path and one legend entry per series; balanced tags', () => {
  const svg = plotLossCurves(records, { title: 'Baby <Llama> & co' });
  const names = checkBalanced(svg);
  assert.equal(names[0], 'svg');
  const series = ['train loss', 'train ce', 'train kd', 'validation loss'];
  assert.deepEqual(lossSeries(records).map((s) => s.name), series);
  assert.equal(count(svg, /<path class="series"/g), 4);
  assert.equal(count(svg, /<g class="legend-entry"/g), 4);
  for (const s of series) {
    assert.equal(count(svg, new RegExp(`<path class="series" data-series="${s}"`, 'g')), 1, s);
    assert.ok(svg.includes(`<text x="`) && svg.includes(`>${s}</text>`), `legend text ${s}`);
  }
  assert.ok(svg.includes('Baby &lt;Llama&gt; &amp; co'));
  assert.ok(svg.includes('>step</text>') && svg.includes('>loss</text>'));
  // The NaN at step 70 breaks the KD line: two subpaths.
  const kdPath = svg.match(/data-series="train kd" d="([^"]*)"/)![1]!;
  assert.equal(count(kdPath, /M/g), 2);
  assert.ok(!svg.includes('NaN'));
  assert.ok(svg.includes('stroke-dasharray'), 'validation is dashed');
});

test('missing components, a single point, no data', () => {
  const onlyTrain = plotLossCurves([{ step: 5, split: 'train', loss: 2.5 }]);
  checkBalanced(onlyTrain);
  assert.equal(count(onlyTrain, /<path class="series"/g), 1);
  assert.equal(count(onlyTrain, /<circle class="point"/g), 1, 'a lone point is drawn as a dot');
  assert.equal(count(onlyTrain, /<g class="legend-entry"/g), 1);
  assert.ok(!onlyTrain.includes('NaN') && !onlyTrain.includes('Infinity'));

  const empty = plotLossCurves([{ step: 1, split: 'train', loss: NaN }, { step: 2, split: 'eval' }]);
  checkBalanced(empty);
  assert.ok(empty.includes('no data'));
  assert.equal(count(empty, /<path/g), 0);

  // A resumed run repeats steps: the later record wins.
  const resumed = lossSeries([
    { step: 1, split: 'train', loss: 5 }, { step: 2, split: 'train', loss: 9 }, { step: 2, split: 'train', loss: 4 },
  ]);
  assert.deepEqual(resumed[0]!.points, [[1, 5], [2, 4]]);
});

test('nice ticks', () => {
  assert.deepEqual(niceTicks(0, 10), { ticks: [0, 2, 4, 6, 8, 10], step: 2 });
  assert.deepEqual(niceTicks(2.13, 3.97).ticks.map((t) => +t.toFixed(6)), [2.5, 3, 3.5]);
  assert.deepEqual(niceTicks(10, 200).ticks, [50, 100, 150, 200]);
});

test('several runs overlaid: losses, perplexity on a log scale and the learning rate in their own panels', async () => {
  const { plotRuns } = await import('../src/plot.ts');
  const run = (scale: number, kd: boolean): MetricsRecord[] => {
    const out: MetricsRecord[] = [];
    for (let step = 10; step <= 100; step += 10) {
      out.push({ step, split: 'train', loss: scale * (7 - step / 50), losses: kd ? { ce: 6 - step / 50, kd: 1 } : { ce: 7 - step / 50 }, lr: 1e-3 * (1 - step / 200) });
      if (step % 50 === 0) out.push({ step, split: 'eval', loss: 7.2 - step / 60, losses: { ce: 7.2 - step / 60, perplexity: Math.exp(7.2 - step / 60) } });
    }
    return out;
  };
  const svg = plotRuns([{ name: 'teacher', records: run(1, false) }, { name: 'student <kd>', records: run(1.1, true) }]);
  checkBalanced(svg);
  // The friction: validation perplexity (~1,300) shared the losses' linear axis, flattening them at 0.
  const titles = [...svg.matchAll(/<text class="panel-title"[^>]*>([^<]*)</g)].map((m) => m[1]);
  assert.deepEqual(titles, ['Losses', 'Perplexity', 'Learning rate']);
  assert.equal(count(svg, /<g class="axes log"/g), 1, 'perplexity is on a log axis');
  assert.ok(svg.includes('>1000<') || svg.includes('>500<'), 'log ticks');
  for (const name of ['teacher', 'student &lt;kd&gt;']) {
    assert.ok(svg.includes(`>${name}</text>`), `legend names ${name}`);
    for (const what of ['losses train', 'losses validation', 'perplexity train', 'perplexity validation', 'learning rate train']) {
      assert.equal(count(svg, new RegExp(`<path class="series" data-series="${name}: ${what}"`, 'g')), 1, `${name}: ${what}`);
    }
  }
  // CE and KD parts only for the distilled run; validation dashed, CE dotted, KD dash-dotted.
  assert.ok(svg.includes('data-series="student &lt;kd&gt;: losses kd"') && !svg.includes('data-series="teacher: losses kd"'));
  assert.match(svg, /data-series="teacher: losses validation" d="[^"]*" fill="none" stroke="#1f77b4" stroke-width="1.5" stroke-dasharray="6 3"/);
  assert.ok(!svg.includes('NaN'));
  // Perplexity is never drawn in the loss panel.
  assert.deepEqual(lossSeries(run(1, false)).map((s) => s.name), ['train loss', 'train ce', 'validation loss', 'validation ce']);
});
