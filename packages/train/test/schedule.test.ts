import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cosineSchedule, makeSchedule, scheduleFromValue } from '../src/schedule.ts';

function close(actual: number, expected: number, msg?: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-9, `${msg ?? ''} expected ${expected}, got ${actual}`);
}

test('cosine with warmup matches HF get_cosine_schedule_with_warmup', () => {
  // W = 10, N = 110. Warmup s/10; then p = (s-10)/100 and 0.5*(1 + cos(pi*p)).
  const f = makeSchedule({ type: 'cosine', warmupSteps: 10, totalSteps: 110 });
  close(f(0), 0); //          0/10
  close(f(5), 0.5); //        5/10
  close(f(10), 1); //         p = 0:    0.5*(1 + cos 0) = 1
  close(f(35), 0.8535533905932737); // p = 0.25: 0.5*(1 + cos(pi/4)) = 0.5*(1 + 0.70710678) = 0.85355339
  close(f(60), 0.5); //       p = 0.5:  0.5*(1 + cos(pi/2)) = 0.5
  close(f(110), 0); //        p = 1:    0.5*(1 + cos pi) = 0
  close(f(200), 0); //        past the end: held (HF would rise again to 0.975)
  // HF get_cosine_with_min_lr_schedule_with_warmup(min_lr_rate=0.1): factor*(1 - 0.1) + 0.1.
  const g = cosineSchedule({ warmupSteps: 10, totalSteps: 110, minRatio: 0.1, peak: 2 });
  close(g(5), 1); //          warmup is not floored: 2 * 5/10
  close(g(60), 2 * 0.55); //  2 * (0.5*0.9 + 0.1)
  close(g(110), 2 * 0.1);
});

test('linear with warmup matches HF get_linear_schedule_with_warmup', () => {
  // W = 10, N = 110: s/10, then max(0, (110 - s)/100).
  const f = makeSchedule({ type: 'linear', warmupSteps: 10, totalSteps: 110 });
  close(f(3), 0.3);
  close(f(10), 1);
  close(f(60), 0.5);
  close(f(85), 0.25);
  close(f(110), 0);
  close(f(120), 0);
  // No warmup: HF divides by max(1, 0) for the warmup and starts at 1.
  const g = makeSchedule({ type: 'linear', totalSteps: 4 });
  close(g(0), 1);
  close(g(1), 0.75);
});

test('WSD matches HF get_wsd_schedule (linear warmup, decay shapes, min ratio)', () => {
  // N = 100, warmup 10% = 10 steps, decay 20% = 20 steps, plateau 70 steps (10..79).
  const base = { type: 'wsd', totalSteps: 100, warmupFraction: 0.1, decayFraction: 0.2 } as const;
  const cos = makeSchedule(base);
  close(cos(5), 0.5);
  close(cos(10), 1);
  close(cos(79), 1);
  close(cos(80), 1); //     p = 0
  close(cos(90), 0.5); //   p = 0.5:  0.5*(1 + cos(pi/2))
  close(cos(95), 0.14644660940672627); // p = 0.75: 0.5*(1 + cos(3pi/4)) = 0.5*(1 - 0.70710678)
  close(cos(100), 0); //    after the decay: min_lr_ratio
  close(makeSchedule({ ...base, decayShape: 'linear' })(90), 0.5); // 1 - 0.5
  close(makeSchedule({ ...base, decayShape: '1-sqrt' })(90), 1 - Math.SQRT1_2); // 1 - sqrt(0.5) = 0.29289322
  // min_lr_ratio 0.1 lifts warmup and decay: 0.5*0.9 + 0.1 = 0.55; the plateau stays 1.
  const m = makeSchedule({ ...base, minRatio: 0.1, peak: 0.9 }); // WSD-alpha for KD with alpha_max 0.9
  close(m(5), 0.9 * 0.55);
  close(m(50), 0.9);
  close(m(90), 0.9 * 0.55);
  close(m(100), 0.9 * 0.1);
  // Steps instead of fractions.
  close(makeSchedule({ type: 'wsd', totalSteps: 100, warmupSteps: 10, decaySteps: 20 })(90), 0.5);
});

test('constant and ramp (KD ratio increase / decrease)', () => {
  const c = makeSchedule({ type: 'constant', warmupSteps: 4, value: 0.5 });
  close(c(1), 0.125); // 0.5 * 1/4 (HF get_constant_schedule_with_warmup)
  close(c(4), 0.5);
  close(c(1e9), 0.5);
  const up = makeSchedule({ type: 'ramp', from: 0, to: 0.9 }, { totalSteps: 100 });
  close(up(0), 0);
  close(up(50), 0.45);
  close(up(150), 0.9);
  const down = makeSchedule({ type: 'ramp', from: 0.9, to: 0, startStep: 20, endStep: 60 });
  close(down(0), 0.9);
  close(down(30), 0.675); // 0.9 - 0.9 * 10/40
  close(down(60), 0);
  close(scheduleFromValue(0.5)(123), 0.5);
  close(scheduleFromValue({ type: 'ramp', from: 1, to: 0, endStep: 10 })(5), 0.5);
});

test('makeSchedule rejects bad descriptions with field paths', () => {
  assert.throws(() => makeSchedule({ type: 'cosine', warmupSteps: 10 }), /schedule\.totalSteps: is required/);
  assert.throws(() => makeSchedule({ type: 'cosine', warmupSteps: 200, totalSteps: 100 }), /schedule\.warmupSteps: must be in \[0, 100\], got 200/);
  assert.throws(() => makeSchedule({ type: 'cosine', totalSteps: 10, minRatio: 2 }), /schedule\.minRatio: must be in \[0, 1\]/);
  assert.throws(() => makeSchedule({ type: 'wsd', totalSteps: 10, warmupFraction: 0.6, decayFraction: 0.6 }), /exceed totalSteps/);
  assert.throws(() => makeSchedule({ type: 'wsd', totalSteps: 10, warmupSteps: 1, warmupFraction: 0.1 }), /not both/);
  assert.throws(() => makeSchedule({ type: 'nope' } as never), /schedule\.type: must be one of constant, cosine, linear, wsd, ramp/);
  assert.throws(() => makeSchedule({ type: 'ramp', to: 1 } as never, {}, 'distill.kdRatio'), /distill\.kdRatio\.from: is required/);
});
