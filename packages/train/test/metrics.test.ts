import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatMetricsRecord, jsonlMetricsWriter, memoryMetricsWriter, type MetricsRecord, parseMetricsJsonl } from '../src/metrics.ts';
import { openMetricsFile, readMetricsFile } from '../src/metrics-node.ts';
import { createProgress, formatCount, formatDuration } from '../src/progress.ts';

test('JSONL round trip keeps non-finite values and skips a cut-off last line', () => {
  const records: MetricsRecord[] = [
    { step: 1, split: 'train', loss: 3.5, losses: { ce: 3, kd: 4 }, lr: 1e-4, gradNorm: 1.2, tokensPerSec: 5000, gpuBytes: 1024 },
    { step: 2, split: 'train', loss: NaN, gradNorm: Infinity },
    { step: 2, split: 'eval', loss: 3.4 },
  ];
  const lines: string[] = [];
  const w = jsonlMetricsWriter((l) => lines.push(l));
  for (const r of records) w.write(r);
  assert.equal(lines.length, 3);
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
  assert.equal(formatMetricsRecord({ step: 2, split: 'train', loss: NaN }), '{"step":2,"split":"train","loss":"NaN"}\n');
  const text = lines.join('');
  assert.deepEqual(parseMetricsJsonl(text), records);
  assert.deepEqual(parseMetricsJsonl(`${text}{"step":3,"spl`), records); // crash mid-line
  assert.throws(() => parseMetricsJsonl(`{"step":1}\n{oops\n{"step":2}\n`), /metrics line 2/);
  const mem = memoryMetricsWriter();
  mem.write(records[0]!);
  assert.deepEqual(mem.records, [records[0]]);
});

test('metrics file: append across writers, read back', async () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'kdgpu-metrics-'));
  try {
    const p = join(dir, 'metrics.jsonl');
    const a = openMetricsFile(p);
    a.write({ step: 1, split: 'train', loss: 2 });
    await a.close();
    const b = openMetricsFile(p); // a resumed run appends
    b.write({ step: 2, split: 'train', loss: 1 });
    await b.close();
    assert.deepEqual(readMetricsFile(p).map((r) => r.step), [1, 2]);
    assert.throws(() => b.write({ step: 3, split: 'train' }), /write after close/);
    assert.throws(() => openMetricsFile(join(dir, 'no', 'm.jsonl')), /cannot open .*m\.jsonl for writing: ENOENT/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('progress without a terminal: a plain line every N steps, no control codes', () => {
  let t = 0;
  let out = '';
  const p = createProgress({ total: 100, write: (s) => (out += s), isTTY: false, everySteps: 25, now: () => t });
  for (let step = 1; step <= 98; step++) {
    t = step * 500; // 0.5 s per step
    p.update({ step, loss: 4 - step / 100, tokensPerSec: 40960 });
  }
  p.log('eval loss 3.1');
  p.done();
  assert.ok(!/[\x1b\r]/.test(out));
  const lines = out.trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => l.split(' | ')[0]), ['step 25/100', 'step 50/100', 'step 75/100', 'eval loss 3.1', 'step 98/100']);
  // From step 1 at t=0.5s to step 25 at 12.5s: 0.5 s/step, 75 steps left -> 37.5 s -> "38s" (rounded).
  assert.equal(lines[0], 'step 25/100 | loss 3.7500 | 41.0k tok/s | eta 38s');
  assert.equal(lines[4], 'step 98/100 | loss 3.0200 | 41.0k tok/s | eta 1s');
});

test('progress with distillation shows the objective and its CE and KD terms', () => {
  let out = '';
  const p = createProgress({ total: 10, write: (s) => (out += s), isTTY: false, everySteps: 10, now: () => 0 });
  p.update({ step: 10, loss: 3.25, ce: 4, kd: 2.5 });
  assert.equal(out, 'step 10/10 | loss 3.2500 | ce 4.0000 kd 2.5000 | eta ?\n');
});

test('progress on a terminal: one line redrawn in place, fitted to the width', () => {
  let t = 0;
  let out = '';
  const p = createProgress({ total: 10, write: (s) => (out += s), isTTY: true, columns: 80, now: () => t, minIntervalMs: 1000 });
  for (let step = 1; step <= 10; step++) {
    t = step * 300;
    p.update({ step, loss: 2, lr: 3e-4 });
  }
  p.log('checkpoint saved');
  p.done();
  // Redraws: step 1, then every >= 1000 ms (steps 5 and 9), and the last step always.
  const frames = out.split('\r\x1b[2K').filter((s) => s !== '');
  assert.ok(frames.every((f) => f.replace(/\n$/, '').length <= 79), 'fits in columns - 1');
  const heads = frames.map((f) => (f.startsWith('step ') ? f.split(' ')[1] : f.trim()));
  assert.deepEqual(heads, ['1/10', '5/10', '9/10', '10/10', 'checkpoint saved', '10/10', '10/10']);
  assert.match(frames[3]!, /^step 10\/10 \[#+\] 100% \| loss 2\.0000 \| lr 3\.00e-4 \| eta 0s$/);
  assert.ok(out.endsWith('\n'));
  // A narrow terminal drops the bar, then truncates.
  let narrow = '';
  const q = createProgress({ total: 10, write: (s) => (narrow += s), isTTY: true, columns: 30, now: () => 0 });
  q.update({ step: 3, loss: 2 });
  assert.equal(narrow, '\r\x1b[2Kstep 3/10  30% | loss 2.0000 ');
  assert.equal(out.split('\n').length - 1, 2); // only the log line and the final newline
});

test('formatting helpers', () => {
  assert.equal(formatDuration(3725), '1h02m05s');
  assert.equal(formatDuration(65), '1m05s');
  assert.equal(formatDuration(7.2), '7s');
  assert.equal(formatDuration(NaN), '?');
  assert.equal(formatCount(45123), '45.1k');
  assert.equal(formatCount(2.5e6), '2.50M');
  assert.equal(formatCount(812), '812');
});

test('progress: plain lines follow the log interval, the ETA leaves out evaluation time, CE and KD shown when distilling', () => {
  let t = 0;
  let out = '';
  // As the trainer reports it: an update at each log point (logEvery 3) and the last step.
  const p = createProgress({ total: 10, write: (s) => (out += s), isTTY: false, everySteps: 3, now: () => t });
  let idle = 0;
  for (const step of [3, 6, 9, 10]) {
    t = step * 1000; // 1 s per step of training ...
    if (step >= 6) {
      idle += 20; // ... plus a 20 s evaluation before steps 6 and 9
      t += idle * 1000;
    }
    p.update({ step, loss: 3, ce: 2.5, kd: 3.5, idleSeconds: idle });
  }
  p.done();
  const lines = out.trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => l.split(' | ')[0]), ['step 3/10', 'step 6/10', 'step 9/10', 'step 10/10']);
  assert.match(lines[0]!, /loss 3\.0000 \| ce 2\.5000 kd 3\.5000/);
  // At step 6: 3 s of training over 3 steps -> 1 s/step, 4 left -> 4 s (not (3 + 20) / 3 * 4 = 31 s).
  assert.match(lines[1]!, /eta 4s$/);
});
