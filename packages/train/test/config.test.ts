import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyOverrides, checkConfig, trainConfigSchema, validateConfig } from '../src/config.ts';

/** Baby Llama's student run, written as a config. */
const babyLlama = {
  run: { name: 'baby-llama-58m', seed: 0 },
  data: { dir: 'data/babylm_10M_clean', evalDir: 'data/babylm_dev_clean', batchSize: 32 },
  tokenizer: { path: 'models/gpt-clean-16000.json' },
  model: { type: 'llama', preset: 'babyLlama58M' },
  teachers: [{ path: 'models/Llama-360M' }, { path: 'models/GPT2-705M' }],
  distill: { loss: 'babyLlamaKD', temperature: 2, kdRatio: 0.5 },
  optimizer: { lr: 2.5e-4, weightDecay: 0.1 },
  schedule: { type: 'cosine', warmupSteps: 200 },
  train: { epochs: 6 },
};

test('a good config validates and gets its defaults', () => {
  const config = validateConfig(babyLlama);
  assert.equal(config.data.blockSize, 128);
  assert.equal(config.data.maxEvalBlocks, 8192);
  assert.equal(config.data.randomOffset, true);
  assert.deepEqual(config.data.clean, {});
  assert.deepEqual(config.optimizer.betas, [0.9, 0.999]);
  assert.equal(config.optimizer.clipGradNorm, 1);
  assert.equal(config.distill!.ensemble, 'logits');
  assert.equal(config.teachers[1]!.weight, 1);
  assert.equal(config.train.logEvery, 10);
  assert.equal(config.run.outDir, 'runs');
  // The input is untouched.
  assert.equal((babyLlama.data as Record<string, unknown>).blockSize, undefined);
  // Minimal config: epochs defaults to 1 only when maxSteps is absent.
  const minimal = { data: { files: ['a.train'] }, tokenizer: { train: {} }, model: { type: 'gpt2' } };
  const m = validateConfig(minimal);
  assert.equal(m.train.epochs, 1);
  assert.deepEqual(m.tokenizer.train, { vocabSize: 16000, minFrequency: 2, specialTokens: ['<pad>', '<s>', '</s>'] });
  assert.deepEqual(m.schedule, { type: 'cosine' });
  assert.equal(validateConfig({ ...minimal, train: { maxSteps: 5 } }).train.epochs, undefined);
  // The schema is plain JSON (can be written to a file for editors).
  assert.deepEqual(JSON.parse(JSON.stringify(trainConfigSchema)), trainConfigSchema);
});

test('errors are field paths, all at once', () => {
  const bad = {
    ...babyLlama,
    optimizer: { lr: 0, betas: [0.9], gradAccumulation: 1.5, momentum: 0.9 },
    model: { type: 'bert' },
    teachers: [{ weight: 2 }],
  };
  const result = checkConfig(bad);
  assert.equal(result.ok, false);
  assert.deepEqual([...result.errors].sort(), [
    'model.type: must be one of "llama", "gpt2"',
    'optimizer.betas: must NOT have fewer than 2 items',
    'optimizer.gradAccumulation: must be integer',
    'optimizer.lr: must be > 0',
    'optimizer.momentum: unknown key (valid keys under optimizer: betas, clipGradNorm, eps, gradAccumulation, lr, type, weightDecay)',
    'teachers.0.path: is required',
  ]);
  assert.throws(() => validateConfig(bad), /invalid training config:\n {2}.*optimizer\.lr: must be > 0/s);
  assert.deepEqual(checkConfig({ tokenizer: { path: 't' }, model: { type: 'llama' } }).errors, ['data: is required']);
});

test('anyOf fields report the alternative that matches the value', () => {
  const kd = (kdRatio: unknown) => checkConfig({ ...babyLlama, distill: { kdRatio } }).errors;
  assert.deepEqual(kd(2), ['distill.kdRatio: must be <= 1']);
  assert.deepEqual(kd({ type: 'ramp', from: 0 }), ['distill.kdRatio.to: is required for a "ramp" schedule']);
  assert.deepEqual(kd({ type: 'ramp', from: 0, to: 1, speed: 2 }), [
    'distill.kdRatio.speed: unknown key (valid keys under distill.kdRatio: decayFraction, decayShape, decaySteps, endStep, from, minRatio, numCycles, peak, startStep, to, totalSteps, type, value, warmupFraction, warmupSteps)',
  ]);
  assert.deepEqual(kd('high'), ['distill.kdRatio: must be number or object']);
  assert.equal(checkConfig({ ...babyLlama, distill: { kdRatio: { type: 'wsd', peak: 0.9, warmupFraction: 0.1, decayFraction: 0.01 } } }).ok, true);
});

test('distill.lossOptions.reduction: mean (the default), sum or batchmean; anything else is named', () => {
  const c = validateConfig({ ...babyLlama, distill: { ...babyLlama.distill, lossOptions: { reduction: 'batchmean' } } });
  assert.equal(c.distill!.lossOptions.reduction, 'batchmean');
  assert.equal(validateConfig(babyLlama).distill!.lossOptions.reduction, undefined); // the trainer's default: mean
  const bad = checkConfig({ ...babyLlama, distill: { ...babyLlama.distill, lossOptions: { reduction: 'none' } } });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors, ['distill.lossOptions.reduction: must be one of "mean", "sum", "batchmean"']);
});

test('cross-field rules', () => {
  const errors = checkConfig({
    ...babyLlama,
    data: { dir: 'a', files: ['b'] },
    tokenizer: {},
    teachers: [],
    schedule: { type: 'wsd', warmupSteps: 5, warmupFraction: 0.1 },
  }).errors;
  assert.deepEqual(errors, [
    'data: set exactly one of data.dir or data.files',
    'tokenizer: set exactly one of tokenizer.path or tokenizer.train',
    'distill: needs teachers or offlineLogits (remove distill for plain training)',
    'schedule: set warmupSteps or warmupFraction, not both',
  ]);
});

test('overrides are typed by the schema', () => {
  const c = applyOverrides(babyLlama, [
    'optimizer.lr=3e-4',
    'train.epochs=2',
    'distill.loss=reverseKL',
    'data.randomOffset=false',
    'optimizer.betas=[0.9, 0.95]',
    'teachers.1.weight=2',
    'run.name=123', // a string field keeps "123" as a string
    'model.config={"hiddenSize": 256}',
    'model.config.numLayers=4', // open object: JSON-ish value
    'distill.kdRatio={"type":"ramp","from":0,"to":0.9}',
    'distill.kdRatio.to=0.8',
    'data.clean.qed=qed',
    'offlineLogits.path=logits/',
  ]);
  assert.equal(c.optimizer.lr, 3e-4);
  assert.equal(c.train.epochs, 2);
  assert.equal(c.distill!.loss, 'reverseKL');
  assert.equal(c.data.randomOffset, false);
  assert.deepEqual(c.optimizer.betas, [0.9, 0.95]);
  assert.equal(c.teachers[1]!.weight, 2);
  assert.equal(c.run.name, '123');
  assert.deepEqual(c.model.config, { hiddenSize: 256, numLayers: 4 });
  assert.deepEqual(c.distill!.kdRatio, { type: 'ramp', from: 0, to: 0.8 });
  assert.deepEqual(c.data.clean, { qed: 'qed' });
  assert.deepEqual(c.offlineLogits, { path: 'logits/', topK: 50, topP: 0.95, sparse: false });
  assert.equal(applyOverrides(babyLlama, ['distill.kdRatio=0.9']).distill!.kdRatio, 0.9);
  // The input is untouched.
  assert.equal(babyLlama.optimizer.lr, 2.5e-4);
});

test('override errors: unknown keys list the valid ones; bad values; invalid results', () => {
  assert.throws(() => applyOverrides(babyLlama, ['optimizer.lrr=1']),
    /override optimizer\.lrr: unknown key "lrr"; valid keys under optimizer: betas, clipGradNorm, eps, gradAccumulation, lr, type, weightDecay/);
  assert.throws(() => applyOverrides(babyLlama, ['trian.epochs=1']), /unknown key "trian"; valid keys: \$schema, data, distill/);
  assert.throws(() => applyOverrides(babyLlama, ['train.epochs=two']), /override train\.epochs: expected number, got "two"/);
  assert.throws(() => applyOverrides(babyLlama, ['data.randomOffset=yes']), /expected boolean, got "yes"/);
  assert.throws(() => applyOverrides(babyLlama, ['optimizer.betas=[0.9,']), /optimizer\.betas: "\[0\.9," is not valid JSON/);
  assert.throws(() => applyOverrides(babyLlama, ['optimizer.lr']), /expected key\.sub=value/);
  assert.throws(() => applyOverrides(babyLlama, ['optimizer.lr.x=1']), /optimizer\.lr has no sub-keys/);
  assert.throws(() => applyOverrides(babyLlama, ['optimizer.lr=-1']), /optimizer\.lr: must be > 0/);
  assert.throws(() => applyOverrides(babyLlama, ['data.clean.qed=shout']), /data\.clean\.qed: must be one of .*"qed"/);
});

test('prototype pollution is refused in configs and overrides', () => {
  const polluted = JSON.parse('{"model": {"type": "llama", "config": {"__proto__": {"polluted": true}}}}');
  assert.deepEqual(checkConfig({ ...babyLlama, ...polluted }).errors, ['model.config.__proto__: forbidden key "__proto__"']);
  assert.throws(() => applyOverrides(babyLlama, ['__proto__.polluted=1']), /forbidden key "__proto__"/);
  assert.throws(() => applyOverrides(babyLlama, ['model.config.constructor=1']), /forbidden key "constructor"/);
  assert.throws(() => applyOverrides(babyLlama, ['model.config={"a":{"prototype":1}}']), /model\.config\.a\.prototype: forbidden key/);
  assert.throws(() => applyOverrides(babyLlama, ['data.clean.__proto__=qed']), /forbidden key/);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
