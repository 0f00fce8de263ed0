/**
 * Fuzzing training configs (validateConfig, and `key.sub=value` overrides): mutated configs are
 * validated with defaults or rejected with field-level errors, and prototype keys are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOverrides, checkConfig, validateConfig } from '@kdgpu/train';
import { assertCoverage, fuzz, hostileValue, mutateJson, mutateJsonText, PATH_NAMES, PROTO_KEYS, type Rng, summary } from './fuzz.ts';

const BASES: Record<string, unknown>[] = [
  {
    run: { name: 'plain', outDir: 'runs', seed: 11 },
    data: { dir: 'corpus', blockSize: 32, batchSize: 8, maxEvalBlocks: 16, clean: { fortunes: 'none' } },
    tokenizer: { train: { vocabSize: 300, minFrequency: 2, specialTokens: ['<pad>', '<s>', '</s>'] } },
    model: { type: 'llama', preset: 'tinyLlama', config: { max_position_embeddings: 64 } },
    optimizer: { lr: 5e-3, betas: [0.9, 0.95] },
    schedule: { type: 'cosine', warmupSteps: 2 },
    train: { maxSteps: 12, logEvery: 1, evalEvery: 6, checkpointEvery: 2 },
  },
  {
    run: { name: 'kd' },
    data: { files: ['a.train', 'b.train'], evalFiles: ['a.dev'], randomOffset: false },
    tokenizer: { path: 'tokenizer.json' },
    model: { type: 'gpt2', config: { n_layer: 2 } },
    teachers: [{ path: 'teacher-a', weight: 2 }, { path: 'teacher-b' }],
    distill: { loss: 'forwardKL', kdRatio: { type: 'linear', from: 0, to: 1, startStep: 0, endStep: 10 }, temperature: 2, ensemble: 'probs', chunks: 2 },
    offlineLogits: { path: 'logits.bin', topK: 20, topP: 0.9 },
    train: { epochs: 2 },
  },
];

const OWN = /^(invalid training config:|override )/;

/** A hostile override: a schema path (sometimes with prototype or odd segments) and a hostile value. */
function override(r: Rng): string {
  const paths = ['optimizer.lr', 'train.maxSteps', 'data.blockSize', 'teachers.0.weight', 'distill.kdRatio', 'optimizer.betas', 'run.name', 'model.config.hidden_size', 'data.clean.x', 'schedule.type', 'teachers.99.path'];
  let path = r.pick(paths);
  if (r.chance(0.3)) path = `${path}.${r.pick([...PROTO_KEYS, '', '0', 'x'])}`;
  if (r.chance(0.1)) path = r.pick([...PROTO_KEYS, ...PATH_NAMES, '.', 'a..b']);
  const value = r.chance(0.5) ? JSON.stringify(hostileValue(r)) ?? '' : r.pick(['', '1e999', 'NaN', '-1', '[1,', '{"__proto__":{"x":1}}', 'true', 'null', '0x10', ' 3 ']);
  return r.chance(0.05) ? path : `${path}=${value}`;
}

test('training configs: mutated configs validate or fail with field-level errors', async () => {
  const rep = await fuzz('training config', {
    input: (r) => {
      const base = r.pick(BASES);
      switch (r.int(4)) {
        case 0: {
          // As the CLI reads a file: JSON text, parsed (a parse error is the CLI's to report).
          try {
            // Nesting capped: deeper configs overflow the stack (see the todo test below).
            return { raw: JSON.parse(mutateJsonText(JSON.stringify(base), r, 1000)) as unknown, overrides: [] };
          } catch {
            return { raw: base, overrides: [override(r)] };
          }
        }
        case 1: return { raw: mutateJson(base, r), overrides: [] };
        case 2: return { raw: mutateJson(base, r, true), overrides: [] };
        default: return { raw: base, overrides: Array.from({ length: 1 + r.int(3) }, () => override(r)) };
      }
    },
    run: ({ raw, overrides }) => {
      const c = overrides.length > 0 ? applyOverrides(raw, overrides) : validateConfig(raw);
      // A valid config agrees with checkConfig and has its defaults.
      const again = checkConfig(raw);
      if (overrides.length === 0) assert.ok(again.ok);
      assert.equal(typeof c.optimizer.lr, 'number');
      assert.ok(c.data.blockSize >= 1);
    },
    expected: (e) => OWN.test(e.message) && !(e instanceof assert.AssertionError),
    sizeOf: () => 10_000,
    // validateConfig lists every problem, one line each: an array of 1000 bad items gives 1000 lines.
    maxMessage: 200_000,
  });
  console.log(summary('training config', rep));
  assertCoverage(rep);
});

test('training configs: __proto__ / constructor / prototype keys are refused anywhere', () => {
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    const raw = JSON.parse(`{"run":{"name":"x"},"data":{"dir":"d","clean":{"${key}":{"polluted":1}}},"tokenizer":{"path":"t"},"model":{"type":"llama"}}`);
    assert.throws(() => validateConfig(raw), new RegExp(`data\\.clean\\.${key}: forbidden key "${key}"`));
    assert.throws(() => applyOverrides(BASES[0], [`model.config.${key}.polluted=1`]), /forbidden key/);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('training configs: a config nested 100,000 levels deep is rejected with a config error', () => {
  const raw = JSON.parse(`{"model":{"type":"llama","config":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}}`);
  assert.throws(() => validateConfig(raw), /^Error: invalid training config/);
});

test('training configs: run.name is a folder name, not a path', () => {
  for (const name of ['../../etc', 'a/b', '/abs', '..']) {
    assert.throws(() => validateConfig({ ...BASES[0], run: { name } }), /run\.name/);
  }
});
