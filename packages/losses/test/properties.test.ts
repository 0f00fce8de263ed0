import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { init, noGrad, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import {
  forwardKL,
  generalizedJSD,
  jsDivergence,
  LOSSES,
  lossInfo,
  lossNames,
  type LossName,
  reverseKL,
  skewForwardKL,
  skewReverseKL,
  symmetricKL,
} from '../src/index.ts';
import { closeness } from './helpers.ts';

/** Deterministic pseudo-random logits (mulberry32 + Box-Muller), with optional -inf entries. */
function logits(shape: number[], seed: number, scale = 2, infEvery = 0): Float32Array {
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const n = shape.reduce((x, y) => x * y, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd()) * scale;
    if (infEvery > 0 && i % infEvery === 3) out[i] = -Infinity;
  }
  return out;
}

const SHAPE = [2, 7, 13];
const DIVERGENCES: LossName[] = ['forwardKL', 'reverseKL', 'symmetricKL', 'jsDivergence', 'generalizedJSD', 'skewForwardKL', 'skewReverseKL', 'totalVariation', 'logitMSE'];

function labels(shape: number[]): Tensor {
  const n = shape[0] * shape[1];
  return tensor(Int32Array.from({ length: n }, (_, i) => (i % 5 === 4 ? -100 : i % shape[2])), { shape: shape.slice(0, 2) });
}

async function valueAndGrad(fn: (s: Tensor) => Tensor, data: Float32Array, shape: number[]): Promise<{ value: number[]; grad: Float32Array }> {
  const s = tensor(data, { shape, requiresGrad: true });
  const loss = fn(s);
  tidy(() => (loss.size === 1 ? loss : loss.mul(tensor(Float32Array.from({ length: loss.size }, (_, i) => 1 + i / 10), { shape: loss.shape })).sum())).backward();
  const out = { value: Array.from(await loss.data()), grad: (await s.grad!.data()) as Float32Array };
  s.dispose();
  loss.dispose();
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, atol = 1e-5, rtol = 1e-4): void {
  const c = closeness(actual, expected, atol, rtol);
  assert.ok(c.worst <= 1, `${what}: element ${c.at}: ${actual[c.at]} vs ${expected[c.at]}`);
}

describe('properties', () => {
  before(async () => {
    await init();
  });

  test('every divergence is 0 when q == p, including with -inf entries', async () => {
    const data = logits(SHAPE, 1, 3, 11);
    for (const name of DIVERGENCES) {
      for (const temperature of [1, 2]) {
        const v = tidy(() => {
          const s = tensor(data, { shape: SHAPE });
          return LOSSES[name](s, tensor(data, { shape: SHAPE }), labels(SHAPE), (name === 'logitMSE' ? {} : { temperature }) as never);
        });
        const x = await v.item();
        v.dispose();
        assert.ok(Math.abs(x) < 1e-6, `${name} at τ=${temperature}: ${x}`);
      }
    }
  });

  test('lossInfo().exactOnTruncatedTeacher: those losses give a truncated teacher (-inf) the value of a near-zero tail; the others do not', async () => {
    const sd = logits(SHAPE, 7, 2);
    const td = logits(SHAPE, 8, 2);
    const cut = td.map((x, i) => (i % 4 === 1 ? -Infinity : x));
    const far = td.map((x, i) => (i % 4 === 1 ? -80 : x)); // exp(-80) ~ 2e-35: no mass in f32
    const names = lossNames().filter((n) => lossInfo(n).needsTeacher && !lossInfo(n).crossVocabulary);
    assert.ok(names.filter((n) => lossInfo(n).exactOnTruncatedTeacher).length >= 3);
    for (const name of names) {
      const run = async (t: Float32Array) => {
        const v = tidy(() => LOSSES[name](tensor(sd, { shape: SHAPE }), tensor(t, { shape: SHAPE }), labels(SHAPE), { reduction: 'none' } as never));
        const out = Array.from(await v.data());
        v.dispose();
        return out;
      };
      const [a, b] = [await run(cut), await run(far)];
      const gap = Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
      if (lossInfo(name).exactOnTruncatedTeacher) assert.ok(gap < 1e-4, `${name} is marked exact on truncated teachers, but differs by ${gap}`);
      else assert.ok(gap > 1e-2, `${name} is not marked exact on truncated teachers, yet ignores nothing (differs by ${gap})`);
    }
  });

  // With ±inf logits the zeroed terms (the sources' rule) can make a token's sum negative: e.g. reverse
  // KL drops q(v)·log(q(v)/0) where only the teacher is -inf. So this holds for finite logits.
  test('every divergence is >= 0 on random finite logits', async () => {
    for (const seed of [2, 3, 4]) {
      const sd = logits(SHAPE, seed, seed === 4 ? 20 : 3);
      const td = logits(SHAPE, seed + 100, seed === 4 ? 20 : 3);
      for (const name of DIVERGENCES) {
        const v = tidy(() => LOSSES[name](tensor(sd, { shape: SHAPE }), tensor(td, { shape: SHAPE }), labels(SHAPE), { reduction: 'none' } as never));
        const per = await v.data();
        v.dispose();
        for (const x of per) assert.ok(x >= -1e-6, `${name} (seed ${seed}) has a negative token loss ${x}`);
      }
    }
  });

  test("forwardKL's cross-entropy form is KL + H(p)", async () => {
    const sd = logits(SHAPE, 5);
    const td = logits(SHAPE, 6);
    const [kl, ce, h] = tidy((): Tensor[] => {
      const s = tensor(sd, { shape: SHAPE });
      const t = tensor(td, { shape: SHAPE });
      const o = { reduction: 'none' as const, temperature: 2, scaleByTemperatureSquared: false };
      const p = t.div(2).softmax(-1);
      return [forwardKL(s, t, null, o), forwardKL(s, t, null, { ...o, form: 'crossEntropy' }), p.mul(p.log()).sum(-1).neg()];
    });
    const hh = await h.data();
    assertClose(await ce.data(), Array.from(await kl.data()).map((x, i) => x + hh[i]), 'cross-entropy form = KL + H(p)');
    for (const t of [kl, ce, h]) t.dispose();
  });

  test('skew KL at alpha = 0 equals the plain KL (values and gradients)', async () => {
    const sd = logits(SHAPE, 7, 2, 13);
    const td = logits(SHAPE, 8, 2, 17);
    const t = tensor(td, { shape: SHAPE });
    const l = labels(SHAPE);
    const pairs: Array<[string, (s: Tensor) => Tensor, (s: Tensor) => Tensor]> = [
      ['forward', (s) => skewForwardKL(s, t, l, { alpha: 0, temperature: 2 }), (s) => forwardKL(s, t, l, { temperature: 2 })],
      ['forward, cross-entropy form', (s) => skewForwardKL(s, t, l, { alpha: 0, form: 'crossEntropy' }), (s) => forwardKL(s, t, l, { form: 'crossEntropy' })],
      ['reverse', (s) => skewReverseKL(s, t, l, { alpha: 0 }), (s) => reverseKL(s, t, l)],
    ];
    for (const [what, skew, plain] of pairs) {
      const a = await valueAndGrad(skew, sd, SHAPE);
      const b = await valueAndGrad(plain, sd, SHAPE);
      assertClose(a.value, b.value, `${what} value`);
      assertClose(a.grad, b.grad, `${what} gradient`);
    }
    t.dispose();
    l.dispose();
  });

  test('GJSD: beta = 0.5 is JSD, the ends are forward and reverse KL; symmetric KL ends likewise', async () => {
    const sd = logits(SHAPE, 9);
    const t = tensor(logits(SHAPE, 10), { shape: SHAPE });
    const same = async (f: (s: Tensor) => Tensor, g: (s: Tensor) => Tensor, what: string) => {
      const a = await valueAndGrad(f, sd, SHAPE);
      const b = await valueAndGrad(g, sd, SHAPE);
      assertClose(a.value, b.value, `${what} value`);
      assertClose(a.grad, b.grad, `${what} gradient`);
    };
    await same((s) => generalizedJSD(s, t, null, { beta: 0.5 }), (s) => jsDivergence(s, t, null), 'beta 0.5');
    await same((s) => generalizedJSD(s, t, null, { beta: 0 }), (s) => forwardKL(s, t, null), 'beta 0');
    await same((s) => generalizedJSD(s, t, null, { beta: 1 }), (s) => reverseKL(s, t, null), 'beta 1');
    await same((s) => symmetricKL(s, t, null, { ratio: 1 }), (s) => forwardKL(s, t, null), 'ratio 1');
    await same((s) => symmetricKL(s, t, null, { ratio: 0 }), (s) => reverseKL(s, t, null), 'ratio 0');
    t.dispose();
  });

  // Chunking is an option of the same-vocabulary losses (ULD has no `chunks`; createLoss refuses it).
  test('chunked equals unchunked for every same-vocabulary loss, every reduction, non-leaf students and uneven splits', async () => {
    const sd = logits(SHAPE, 11, 3, 23);
    const t = tensor(logits(SHAPE, 12, 3, 19), { shape: SHAPE });
    const l = labels(SHAPE);
    for (const name of lossNames().filter((n) => lossInfo(n).options.includes('chunks'))) {
      for (const reduction of ['mean', 'none'] as const) {
        // The student is computed from the leaf (×1.5), so the chunked path must backpropagate through a graph.
        const run = (chunks: number) => valueAndGrad((s) => LOSSES[name](s.mul(1.5), t, l, { reduction, chunks, ...(name === 'logitMSE' || name === 'crossEntropy' ? {} : { temperature: 2, topK: name === 'nllSoft' ? 5 : 0 }) } as never), sd, SHAPE);
        const whole = await run(1);
        for (const chunks of [2, 3, 9]) {
          const part = await run(chunks);
          assertClose(part.value, whole.value, `${name} ${reduction} value, ${chunks} chunks`, 1e-6, 1e-5);
          assertClose(part.grad, whole.grad, `${name} ${reduction} gradient, ${chunks} chunks`, 1e-6, 1e-5);
        }
      }
    }
    // Without gradients (evaluation) the chunked path only computes values.
    const v = noGrad(() => forwardKL(tensor(sd, { shape: SHAPE }), t, l, { chunks: 3 }));
    const w = noGrad(() => forwardKL(tensor(sd, { shape: SHAPE }), t, l));
    assertClose([await v.item()], [await w.item()], 'noGrad chunked value');
    for (const x of [t, l, v, w]) x.dispose();
  });

  test('labels = null counts every position; batchmean divides by the batch size', async () => {
    const s = tensor(logits(SHAPE, 13), { shape: SHAPE });
    const t = tensor(logits(SHAPE, 14), { shape: SHAPE });
    const [mean, sum, bm] = tidy(() => [forwardKL(s, t, null), forwardKL(s, t, null, { reduction: 'sum' }), forwardKL(s, t, null, { reduction: 'batchmean' })]);
    const m = await mean.item();
    assertClose([await sum.item()], [m * 14], 'sum = mean × B·T');
    assertClose([await bm.item()], [m * 7], 'batchmean = sum / B');
    for (const x of [s, t, mean, sum, bm]) x.dispose();
  });

  test('a logit ensemble is the loss against the mean logits (Baby Llama)', async () => {
    const s = tensor(logits(SHAPE, 15), { shape: SHAPE });
    const t1 = tensor(logits(SHAPE, 16), { shape: SHAPE });
    const t2 = tensor(logits(SHAPE, 17), { shape: SHAPE });
    const [a, b] = tidy(() => [forwardKL(s, [t1, t2], null, { temperature: 2 }), forwardKL(s, t1.add(t2).div(2), null, { temperature: 2 })]);
    assertClose([await a.item()], [await b.item()], 'ensemble');
    for (const x of [s, t1, t2, a, b]) x.dispose();
  });
});
