/**
 * The distillation objective as the CLI and the web page build it (`buildObjective`): the loss by
 * name with its options checked by the losses registry (ULD included), the teacher kinds each loss
 * can use, and every vocabulary checked before a step, with errors that name the config field; and
 * the student's config from a preset name (a bare type is refused, listing the presets).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, tensor } from '@kdgpu/tensor';
import { createModel, tinyLlama } from '@kdgpu/models';
import { trainBpe } from '@kdgpu/tokenizer';
import { buildObjective, checkVocabulary, studentModelConfig, trainingConfig } from '../src/index.ts';

const text = 'the cat sat on the mat. the dog sat on the log. a cat and a dog. '.repeat(20);
const distill = (d: Record<string, unknown>) => trainingConfig({ distill: d }).distill!;

test('buildObjective: loss options checked by the registry, config fields named', async () => {
  await init();
  const tok = await trainBpe([text], { vocabSize: 120, showProgress: false });
  const V = tok.vocabSize;
  const teacher = createModel(tinyLlama({ vocab_size: V }), { seed: 1 });
  const spec = { kind: 'model' as const, model: teacher, tokenizer: tok, name: 'runs/t/final' };
  const student = { vocabSize: V, tokenizer: tok };
  const ok = buildObjective({ distill: distill({ loss: 'reverseKL', temperature: 2 }), student, teachers: [spec] });
  assert.equal(ok.teachers.kind, 'models');
  assert.equal(ok.reduction, 'mean');
  assert.throws(() => buildObjective({ distill: distill({ loss: 'kl' }), student, teachers: [spec] }), /^KdgpuError: distill\.loss: unknown loss "kl"; known: crossEntropy, forwardKL/);
  assert.throws(() => buildObjective({ distill: distill({ loss: 'forwardKL', lossOptions: { temprature: 2 } }), student, teachers: [spec] }), /distill\.lossOptions: forwardKL has no option "temprature"; its options are/);
  assert.throws(() => buildObjective({ distill: distill({ loss: 'skewForwardKL', lossOptions: { alpha: 3 } }), student, teachers: [spec] }), /alpha must be in \[0, 1\]/);
  assert.throws(() => buildObjective({ distill: distill({ loss: 'crossEntropy' }), student, teachers: [spec] }), /compares no teacher/);
  assert.throws(() => buildObjective({ distill: distill({ loss: 'forwardKL' }), student, teachers: [] }), /no teacher/);
  // ULD is in the same registry: one teacher model with its tokenizer; no ensemble.
  const uld = buildObjective({ distill: distill({ loss: 'uld', lossOptions: { temperature: 2 } }), student, teachers: [spec] });
  assert.ok(uld.teachers.kind === 'models' && uld.teachers.retokenize);
  assert.throws(() => buildObjective({ distill: distill({ loss: 'uld' }), student, teachers: [spec, spec] }), /exactly one teacher/);
  assert.throws(() => buildObjective({ distill: distill({ loss: 'uld', lossOptions: { topK: 3 } }), student, teachers: [spec] }), /distill\.lossOptions: uld has no option "topK"/);
  assert.throws(() => buildObjective({ distill: distill({ loss: 'uld' }), student, teachers: [{ ...spec, tokenizer: null }] }), /teacher's tokenizer is needed/);
  // Stored logits: their vocabulary must be the student's; they stand alone.
  const logits = () => tensor([0]);
  assert.throws(() => buildObjective({ distill: distill({ loss: 'forwardKL' }), student, teachers: [{ kind: 'offline', vocabSize: V + 5, logits, name: 'teacher.logits' }] }), new RegExp(`offline logits teacher\\.logits cover a vocabulary of ${V + 5}, the student has ${V}`));
  assert.throws(() => buildObjective({ distill: distill({ loss: 'forwardKL' }), student, teachers: [spec, { kind: 'offline', vocabSize: V, logits, name: 'x' }] }), /give them alone/);
  // Truncated stored logits: a warning for the losses that then ignore the student's mass outside
  // the kept tokens (the loss sweep saw reverse KL go negative), none for those exact on them.
  const notes = (loss: string, truncated?: { topK: number; topP: number }) => {
    const said: string[] = [];
    buildObjective({ distill: distill({ loss }), student, teachers: [{ kind: 'offline', vocabSize: V, logits, name: 'top.logits', ...(truncated ? { truncated } : {}) }], log: (m) => said.push(m) });
    return said.filter((m) => m.startsWith('warning:'));
  };
  for (const loss of ['reverseKL', 'symmetricKL', 'skewReverseKL', 'jsDivergence', 'generalizedJSD', 'totalVariation']) {
    const w = notes(loss, { topK: 8, topP: 1 });
    assert.equal(w.length, 1, loss);
    assert.match(w[0]!, new RegExp(`top\\.logits keeps the top 8 of ${V} tokens per position and "${loss}" counts 0 .*\\(offlineLogits\\.topK = ${V}`));
    assert.deepEqual(notes(loss), [], `${loss}, whole vocabulary`);
  }
  for (const loss of ['forwardKL', 'skewForwardKL']) assert.deepEqual(notes(loss, { topK: 8, topP: 1 }), [], loss);
  teacher.dispose();
});

test('buildObjective: vocabularies: another tokenizer refused (ULD suggested), a teacher smaller than the tokenizer refused', async () => {
  await init();
  const tok = await trainBpe([text], { vocabSize: 120, showProgress: false });
  const other = await trainBpe([text.toUpperCase()], { vocabSize: 110, showProgress: false });
  const V = tok.vocabSize;
  const student = { vocabSize: V, tokenizer: tok, name: 'the student' };
  const foreign = createModel(tinyLlama({ vocab_size: other.vocabSize }), { seed: 2 });
  assert.throws(() => buildObjective({ distill: distill({ loss: 'forwardKL' }), student, teachers: [{ kind: 'model', model: foreign, tokenizer: other, name: 'runs/other/final' }] }), (e: Error) => {
    assert.match(e.message, /teacher runs\/other\/final \(vocabulary \d+, tokenizer of \d+ tokens\) and the student .* use different tokenizers/);
    assert.match(e.message, /distill\.loss = "uld"/);
    return true;
  });
  const small = createModel(tinyLlama({ vocab_size: V - 10 }), { seed: 3 });
  assert.throws(() => buildObjective({ distill: distill({ loss: 'forwardKL' }), student, teachers: [{ kind: 'model', model: small, tokenizer: tok, name: 'runs/small/final' }] }), new RegExp(`teacher runs/small/final has a vocabulary of ${V - 10}, smaller than the ${V} tokens of the student's tokenizer`));
  foreign.dispose();
  small.dispose();
});

test('checkVocabulary: equal is silent, a padded model is reported, a smaller one refused with both numbers and names', () => {
  assert.equal(checkVocabulary({ model: { vocabSize: 300, name: 'm' }, tokenizer: { vocabSize: 300, name: 't' } }), null);
  assert.match(checkVocabulary({ model: { vocabSize: 320, name: 'model runs/a/final' }, tokenizer: { vocabSize: 300, name: 'tokenizer runs/a/tokenizer.json' } })!, /model runs\/a\/final has a vocabulary of 320, 20 more than the 300 of tokenizer runs\/a\/tokenizer\.json \(padded/);
  assert.throws(() => checkVocabulary({ model: { vocabSize: 2000, name: 'model m/final' }, tokenizer: { vocabSize: 4000, name: 'tokenizer t.json' } }), /model m\/final has a vocabulary of 2000, smaller than the 4000 tokens of tokenizer t\.json: ids 2000-3999 would have no embedding/);
});

test('the student config: presets by name, a bare type refused listing the presets, model.config.vocab_size checked', () => {
  const tok = { vocabSize: 300, bos: 1, eos: 2, pad: 0, name: 'runs/x/tokenizer.json' };
  const c = studentModelConfig({ type: 'llama', preset: 'tinyLlama' }, tok);
  assert.equal(c.vocab_size, 300);
  assert.equal(c.model_type, 'llama');
  // The friction: {"type": "llama"} alone built LLaMA-7B and failed with "use smaller batches".
  assert.throws(() => studentModelConfig({ type: 'llama' }, tok), /"type": "llama" alone gives transformers' default size .* set model\.preset to one of babyLlama58M \(llama, 58\.3M parameters\), llama360M/);
  assert.throws(() => studentModelConfig({ type: 'gpt2', preset: 'tinyLlama' }, tok), /preset tinyLlama builds a llama; gpt2 presets: gpt2_705M, tinyGPT2/);
  assert.throws(() => studentModelConfig({ type: 'llama', preset: 'tinyLama' }, tok), /model\.preset: unknown preset "tinyLama"; presets: babyLlama58M/);
  // The friction: model.config.vocab_size=500 with a 2,000-token tokenizer trained at loss 0.
  assert.throws(() => studentModelConfig({ type: 'llama', preset: 'tinyLlama', config: { vocab_size: 200 } }, tok), /model\.config\.vocab_size has a vocabulary of 200, smaller than the 300 tokens of runs\/x\/tokenizer\.json/);
  const notes: string[] = [];
  assert.equal(studentModelConfig({ type: 'llama', preset: 'tinyLlama', config: { vocab_size: 320 } }, tok, (n) => notes.push(n)).vocab_size, 320);
  assert.match(notes[0]!, /20 more than the 300/);
});

test('examples/web and the CLI build the distillation objective through the same exported buildObjective; only it creates the loss', async () => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const read = (p: string) => readFileSync(root + p, 'utf8');
  /** The names a file imports from `from`. */
  const imports = (text: string, from: string) =>
    [...text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'([^']+)'/g)].filter((m) => m[2] === from).flatMap((m) => m[1]!.split(',').map((n) => n.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!)).filter(Boolean);
  const web = readdirSync(root + 'examples/web').filter((f) => f.endsWith('.ts')).map((f) => [`examples/web/${f}`, read(`examples/web/${f}`)] as const);
  const cli = read('packages/train/src/run-node.ts');
  assert.ok(web.some(([, t]) => imports(t, '@kdgpu/train').includes('buildObjective') && /buildObjective\(\{/.test(t)), 'the web page calls @kdgpu/train buildObjective');
  assert.ok(imports(cli, './objective.ts').includes('buildObjective') && /buildObjective\(\{/.test(cli), 'the CLI calls the same function');
  const { buildObjective: exported } = await import('../src/index.ts');
  const { buildObjective: internal } = await import('../src/objective.ts');
  assert.equal(exported, internal, 'one function');
  // Neither side can assemble a loss of its own: from @kdgpu/losses they take only names and
  // descriptions for menus and checks, never createLoss or a loss function.
  const descriptive = new Set(['lossNames', 'lossOptionKeys', 'lossInfo', 'LossName', 'LossInfo']);
  for (const [file, text] of [...web, ['packages/train/src/run-node.ts', cli] as const]) {
    const extra = imports(text, '@kdgpu/losses').filter((n) => !descriptive.has(n));
    assert.deepEqual(extra, [], `${file} imports ${extra.join(', ')} from @kdgpu/losses`);
  }
  const creators = readdirSync(root + 'packages/train/src', { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts') && /\bcreateLoss\(/.test(read(`packages/train/src/${f}`)));
  assert.deepEqual(creators, ['objective.ts']);
});
