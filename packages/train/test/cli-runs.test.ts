/**
 * The CLI as a new user meets it, end to end on the fixture corpus (each friction of issue 16 that
 * needs a real run): a re-run refuses to touch the earlier run (and --overwrite moves it aside,
 * deleting nothing); --resume with nothing to resume, or with a changed architecture or schedule,
 * is refused; --resume DIR resumes from that checkpoint; a start-up that fails writes nothing; the
 * vocabularies are checked in train and eval; eval takes the block size of the model's training
 * run; generate stops at the context length with a note; no temporary folder is left after a run;
 * keepCheckpoints rotates; plain progress follows logEvery and shows CE and KD when distilling;
 * `kdgpu plot` overlays two runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';
// The CLI runs in a child process of the runtime running this file (bin/kdgpu.mjs runs under both).
const runtimeArgs = isDeno ? ['run', '-A', '--no-check', '--node-modules-dir=manual'] : [];
const bin = fileURLToPath(new URL('../bin/kdgpu.mjs', import.meta.url));
const corpus = fileURLToPath(new URL('./fixtures/corpus', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'kdgpu-cli-runs-'));
test.after(() => rmSync(work, { recursive: true, force: true }));
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };

function cfg(name: string, extra: Record<string, unknown> = {}, file = name): string {
  const c = {
    run: { name, outDir: join(work, 'runs'), seed: 11 },
    data: { dir: corpus, blockSize: 32, batchSize: 8, maxEvalBlocks: 8 },
    tokenizer: { train: { vocabSize: 300, minFrequency: 2 } },
    model: { type: 'llama', preset: 'tinyLlama', config: { max_position_embeddings: 64 } },
    optimizer: { lr: 5e-3 },
    schedule: { type: 'cosine', warmupSteps: 1 },
    train: { maxSteps: 4, logEvery: 2, evalEvery: 2, checkpointEvery: 2 },
    ...extra,
  };
  const path = join(work, `${file}.json`);
  writeFileSync(path, JSON.stringify(c));
  return path;
}

function kdgpu(...args: string[]) {
  return spawnSync(process.execPath, [...runtimeArgs, bin, ...args], { encoding: 'utf8', env, timeout: 300_000 });
}

const runDir = (name: string) => join(work, 'runs', name);
const snapshot = (dir: string) => Object.fromEntries(['metrics.jsonl', 'checkpoints/latest.json', 'final/model.safetensors', 'config.resolved.json'].map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
const tempsIn = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('.')) : []);

test('a re-run refuses to overwrite the run, naming --resume, run.name and --overwrite; --overwrite moves it aside', () => {
  const path = cfg('base');
  const first = kdgpu('train', path, '--quiet');
  assert.equal(first.status, 0, first.stderr);
  // The friction: the last step is both an evaluation and a checkpoint; saveCheckpoint left an empty .tmp folder.
  assert.deepEqual(tempsIn(join(runDir('base'), 'checkpoints')), [], 'no temporary folder left');
  const before = snapshot(runDir('base'));
  const again = kdgpu('train', path, '--quiet');
  assert.equal(again.status, 1);
  assert.match(again.stderr, /the run folder .*base already holds a run \(checkpoints up to step 4, a final model \(final\/\), metrics\.jsonl \(\d+ records\)\); nothing was changed/);
  for (const way of ['--resume', 'run.name=base-2', '--overwrite']) assert.ok(again.stderr.includes(way), way);
  assert.deepEqual(snapshot(runDir('base')), before, 'the earlier run is byte for byte as it was');
  const moved = kdgpu('train', path, '--quiet', '--overwrite');
  assert.equal(moved.status, 0, moved.stderr);
  const aside = readdirSync(join(work, 'runs')).filter((n) => n.startsWith('base.replaced-'));
  assert.equal(aside.length, 1);
  assert.deepEqual(snapshot(join(work, 'runs', aside[0]!)), before, 'moved aside intact, not deleted');
});

test('--resume: nothing to resume is an error; a changed architecture or schedule is refused; --resume DIR resumes from DIR', () => {
  const path = cfg('base');
  const empty = kdgpu('train', cfg('never-ran'), '--resume', '--quiet');
  assert.equal(empty.status, 1);
  assert.match(empty.stderr, /--resume: nothing to resume in .*never-ran \(no checkpoints\/latest\.json\)/);
  assert.ok(!existsSync(runDir('never-ran')), 'nothing written');
  // The friction: a changed preset was ignored while config.resolved.json recorded it.
  const arch = kdgpu('train', path, '--resume', '--quiet', 'model.config.hidden_size=64');
  assert.equal(arch.status, 1);
  assert.match(arch.stderr, /--resume: the config builds a different model than the checkpoint .*step-000004 holds:\n {2}head_dim: the checkpoint has 8, the config gives 16\n {2}hidden_size: the checkpoint has 32, the config gives 64/);
  const preset = kdgpu('train', path, '--resume', '--quiet', 'model.type=gpt2', 'model.preset=tinyGPT2');
  assert.equal(preset.status, 1);
  assert.match(preset.stderr, /model_type: the checkpoint has "llama", the config gives "gpt2"/);
  // The friction: a changed maxSteps silently reshaped the schedule mid-run.
  const sched = kdgpu('train', path, '--resume', '--quiet', 'train.maxSteps=6');
  assert.equal(sched.status, 1);
  assert.match(sched.stderr, /--resume: the config changes the schedule .*\n {2}train\.maxSteps: the checkpoint's run had 4, the config has 6\n.*--allow-schedule-change/);
  const allowed = kdgpu('train', path, '--resume', '--quiet', 'train.maxSteps=6', '--allow-schedule-change');
  assert.equal(allowed.status, 0, allowed.stderr);
  assert.equal(JSON.parse(readFileSync(join(runDir('base'), 'checkpoints/latest.json'), 'utf8')).step, 6);
  // The friction: --resume=DIR ignored DIR.
  const ckpt = join(runDir('base'), 'checkpoints', 'step-000002');
  const fromDir = kdgpu('train', path, `--resume=${ckpt}`, 'train.maxSteps=6', '--allow-schedule-change');
  assert.equal(fromDir.status, 0, fromDir.stderr);
  assert.match(fromDir.stdout, new RegExp(`resuming from ${ckpt.replace(/[/.]/g, '\\$&')} \\(step 2\\)`));
});

test('a start-up that fails writes nothing, and its error names the config field', () => {
  const missing = kdgpu('train', cfg('missing-data', { data: { files: [join(work, 'nope.txt')], blockSize: 32, batchSize: 8 } }), '--quiet');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /data\.files\[0\]: .*nope\.txt does not exist/);
  const teacher = kdgpu('distill', cfg('missing-teacher', { teachers: [{ path: join(work, 'no-teacher') }], distill: { loss: 'forwardKL' } }), '--quiet');
  assert.equal(teacher.status, 1);
  assert.match(teacher.stderr, /teachers\[0\]\.path: .*no-teacher does not exist/);
  const asTokenizer = kdgpu('train', cfg('model-as-tokenizer', { tokenizer: { path: join(runDir('base'), 'final', 'config.json') } }), '--quiet');
  assert.equal(asTokenizer.status, 1);
  assert.match(asTokenizer.stderr, /tokenizer\.path: .*config\.json is a model's config\.json, not a tokenizer\.json/);
  // The friction: model.config.vocab_size=500 with a larger tokenizer trained at loss 0 and exited 0.
  const vocab = kdgpu('train', cfg('small-vocab'), '--quiet', 'model.config.vocab_size=200');
  assert.equal(vocab.status, 1);
  assert.match(vocab.stderr, /model\.config\.vocab_size has a vocabulary of 200, smaller than the 300 tokens of the tokenizer trained on data/);
  const bare = kdgpu('train', cfg('bare-type', { model: { type: 'llama' } }), '--quiet');
  assert.equal(bare.status, 1);
  assert.match(bare.stderr, /model: "type": "llama" alone gives transformers' default size .*set model\.preset to one of babyLlama58M/);
  // distill: a teacher (here one without a tokenizer beside it) with fewer rows than the student's tokenizer.
  const lonely = join(work, 'lonely-teacher');
  cpSync(join(runDir('base'), 'final'), lonely, { recursive: true });
  const smallTeacher = kdgpu('distill', cfg('small-teacher', { tokenizer: { train: { vocabSize: 400, minFrequency: 2 } }, teachers: [{ path: lonely }], distill: { loss: 'forwardKL' } }), '--quiet');
  assert.equal(smallTeacher.status, 1);
  assert.match(smallTeacher.stderr, /teacher .*lonely-teacher has a vocabulary of 300, smaller than the 400 tokens of the tokenizer trained on data.*Distil from a teacher trained with the student's tokenizer/);
  const names = ['missing-data', 'missing-teacher', 'model-as-tokenizer', 'small-vocab', 'bare-type', 'small-teacher'];
  for (const name of names) assert.ok(!existsSync(runDir(name)), `${name}: no run folder written`);
});

test('eval: the tokenizer is checked against the model, the block size comes from the training run; generate stops at the context', () => {
  const model = join(runDir('base'), 'final');
  // The frictions: `tokenizer train --out newdir/x.json` trained and then failed on the missing
  // folder; `checkpoint: config.json not found` named no folder.
  const noDir = kdgpu('tokenizer', 'train', '--out', join(work, 'newdir', 'x.json'), join(corpus, 'fortunes.train'));
  assert.equal(noDir.status, 1);
  assert.match(noDir.stderr, /--out: the folder .*newdir does not exist; create it first \(nothing was trained\)/);
  const runAsModel = kdgpu('eval', '--model', runDir('base'), join(corpus, 'fortunes.dev'));
  assert.equal(runAsModel.status, 1);
  assert.match(runAsModel.stderr, /--model: .*base has no config\.json, so it is not a model folder; it looks like a kdgpu run: its model is .*base\/final/);
  const big = join(work, 'big-tokenizer.json');
  const tok = kdgpu('tokenizer', 'train', '--out', big, '--vocab-size', '400', '--quiet', join(corpus, 'fortunes.train'));
  assert.equal(tok.status, 0, tok.stderr);
  // The friction: a larger tokenizer than the model printed "perplexity": null and exited 0.
  const mismatch = kdgpu('eval', '--model', model, '--tokenizer', big, join(corpus, 'fortunes.dev'));
  assert.equal(mismatch.status, 1);
  assert.match(mismatch.stderr, /the model .*final \(config\.json vocab_size\) has a vocabulary of 300, smaller than the 400 tokens of the tokenizer .*big-tokenizer\.json/);
  // The same check in generate, before any weights are read.
  const genMismatch = kdgpu('generate', '--model', model, '--tokenizer', big, '--prompt', 'The cat');
  assert.equal(genMismatch.status, 1);
  assert.match(genMismatch.stderr, /the model .*final \(config\.json vocab_size\) has a vocabulary of 300, smaller than the 400 tokens of the tokenizer .*big-tokenizer\.json/);
  assert.equal(genMismatch.stdout, '', 'nothing generated');
  // A model vocabulary larger than the tokenizer's (padded embeddings) is fine and reported.
  const small = join(work, 'small-tokenizer.json');
  assert.equal(kdgpu('tokenizer', 'train', '--out', small, '--vocab-size', '280', '--quiet', join(corpus, 'fortunes.train')).status, 0);
  const padded = kdgpu('eval', '--model', model, '--tokenizer', small, join(corpus, 'fortunes.dev'));
  assert.equal(padded.status, 0, padded.stderr);
  assert.match(JSON.parse(padded.stdout).notes[0], /has a vocabulary of 300, 20 more than the 280 of the tokenizer .*small-tokenizer\.json \(padded embeddings/);
  // The friction: a model's config.json given as --tokenizer failed with "model: expected an object, found undefined".
  const configAsTok = kdgpu('eval', '--model', model, '--tokenizer', join(model, 'config.json'), join(corpus, 'fortunes.dev'));
  assert.equal(configAsTok.status, 1);
  assert.match(configAsTok.stderr, /--tokenizer: .*final\/config\.json is a model's config\.json, not a tokenizer\.json; a kdgpu run keeps its tokenizer in <run>\/tokenizer\.json/);
  const ok = kdgpu('eval', '--model', model, join(corpus, 'fortunes.dev'));
  assert.equal(ok.status, 0, ok.stderr);
  const report = JSON.parse(ok.stdout);
  assert.equal(report.blockSize.value, 32);
  assert.match(report.blockSize.from, /data\.blockSize of .*config\.resolved\.json/);
  assert.ok(Number.isFinite(report.perplexity.loss));
  const gen = kdgpu('generate', '--model', model, '--prompt', 'The cat', '--max-new-tokens', '500', '--temperature', '0');
  assert.equal(gen.status, 0, gen.stderr);
  assert.match(gen.stderr, /note: stopped after \d+ tokens at the model's context length of 64 \(prompt \d+ \+ \d+\); --max-new-tokens asked for 500/);
  // The friction: `--max-tokens 5 --temp 0` gave 50 tokens at 0.8. Now the flags are honoured:
  // greedy output does not depend on the seed, and 5 new tokens are a strict prefix of 10.
  const greedy = (n: number, seed: number) => {
    const r = kdgpu('generate', '--model', model, '--prompt', 'The cat', '--max-new-tokens', String(n), '--temperature', '0', '--seed', String(seed));
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.replace(/\n$/, '');
  };
  const five = greedy(5, 1);
  const ten = greedy(10, 2);
  assert.equal(greedy(5, 3), five, '--temperature 0 is greedy whatever the seed');
  assert.ok(ten.startsWith(five) && ten.length > five.length && five.length > 'The cat'.length, `${JSON.stringify(five)} / ${JSON.stringify(ten)}`);
  assert.ok(gen.stdout.startsWith(ten), 'greedy: the longest run continues the same text');
});

test('plain progress follows logEvery and shows CE and KD when distilling; keepCheckpoints rotates; plot overlays two runs', () => {
  const teacher = join(runDir('base'), 'final');
  const r = kdgpu('distill', cfg('student', {
    tokenizer: { path: join(runDir('base'), 'tokenizer.json') },
    teachers: [{ path: teacher }],
    distill: { loss: 'forwardKL', kdRatio: 0.5, temperature: 2 },
    train: { maxSteps: 6, logEvery: 3, evalEvery: 3, checkpointEvery: 1, keepCheckpoints: 2 },
  }));
  assert.equal(r.status, 0, r.stderr);
  // The friction: without a terminal, lines came only at steps divisible by 10 whatever logEvery was.
  const lines = r.stdout.split('\n').filter((l) => /^student step \d+\/6/.test(l));
  assert.deepEqual(lines.map((l) => l.split(' | ')[0]), ['student step 3/6', 'student step 6/6']);
  assert.match(lines[0]!, /loss \d+\.\d+ \| ce \d+\.\d+ kd \d+\.\d+/);
  const ckpt = join(runDir('student'), 'checkpoints');
  const steps = readdirSync(ckpt).filter((n) => /^step-/.test(n)).sort();
  const pointed = ['latest', 'best'].map((p) => JSON.parse(readFileSync(join(ckpt, `${p}.json`), 'utf8')).dir as string);
  for (const p of pointed) assert.ok(steps.includes(p), `${p} kept`);
  assert.ok(steps.length <= 3 && steps.includes('step-000006') && steps.includes('step-000005'), steps.join(','));
  assert.deepEqual(tempsIn(ckpt), []);
  // The friction: `plot a.jsonl b.jsonl` dropped b.
  const out = join(work, 'both.svg');
  const plot = kdgpu('plot', join(runDir('base'), 'metrics.jsonl'), join(runDir('student'), 'metrics.jsonl'), '--out', out);
  assert.equal(plot.status, 0, plot.stderr);
  const svg = readFileSync(out, 'utf8');
  for (const name of ['base', 'student']) assert.ok(svg.includes(`data-series="${name}: losses train"`) && svg.includes(`>${name}</text>`), name);
  assert.ok(svg.includes('data-series="student: losses kd"') && svg.includes('<g class="axes log"'));
  assert.ok(statSync(out).size > 1000);
});

test('a diverging run exits non-zero naming the step (it used to print "done" with a loss of 0)', () => {
  // A learning rate this large sends the weights to ~1e30 after one step: every later loss overflows.
  const r = kdgpu('train', cfg('diverge', { optimizer: { lr: 1e30, clipGradNorm: 0 }, train: { maxSteps: 8, logEvery: 1, evalEvery: 100, checkpointEvery: 100, maxNonFiniteSteps: 2 } }), '--quiet');
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, /training stopped at step (\d+): steps \d+-\1 \(2 in a row\) had a non-finite loss or gradient and were skipped \(limit train\.maxNonFiniteSteps = 2\); lower optimizer\.lr/);
  assert.doesNotMatch(r.stdout, /\bdone\b/);
  assert.ok(!existsSync(join(runDir('diverge'), 'final')), 'no final model');
});
