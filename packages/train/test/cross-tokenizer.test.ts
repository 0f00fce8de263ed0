/**
 * Distillation across vocabularies: a teacher whose embedding is padded (same tokenizer, more
 * rows) distils exactly as the unpadded one over the shared ids; a teacher with another tokenizer
 * is refused before any step for a same-vocabulary loss, and accepted with ULD.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cat, init, randn, tidy } from '@kdgpu/tensor';
import { createModel, tinyLlama } from '@kdgpu/models';
import { saveModel } from '@kdgpu/models/node';
import { trainBpe } from '@kdgpu/tokenizer';
import { save as saveTokenizer } from '@kdgpu/tokenizer/node';
import { buildObjective, train, trainingConfig } from '../src/index.ts';

const corpusDir = fileURLToPath(new URL('./fixtures/corpus', import.meta.url));
const text = readFileSync(join(corpusDir, 'fortunes.train'), 'utf8');

test('a padded-vocabulary teacher distils exactly as the unpadded one over the shared ids', async () => {
  await init();
  const tok = await trainBpe([text], { vocabSize: 300, showProgress: false });
  const V = tok.vocabSize;
  const ids = Int32Array.from(tok.encode(text, { addSpecialTokens: false }).ids);
  const cfg = (v: number) => tinyLlama({ vocab_size: v, max_position_embeddings: 64 });
  const teacher = createModel(cfg(V), { seed: 1 });
  const padded = createModel(cfg(V + 24), { seed: 2 });
  for (const [name, p] of padded.parameters()) {
    const src = teacher.parameters().get(name)!;
    p.assign(tidy(() => (src.shape[0] === p.shape[0] ? src.mul(1) : cat([src, randn([24, src.shape[1]], { seed: 9 })], 0))));
  }
  const config = trainingConfig({
    run: { seed: 3 }, data: { blockSize: 32, batchSize: 8 },
    distill: { loss: 'forwardKL', kdRatio: 0.5 }, train: { maxSteps: 3, logEvery: 1 }, schedule: { type: 'constant' },
  });
  const notes: string[] = [];
  const run = async (t: typeof teacher) => {
    const student = createModel(cfg(V), { seed: 5 });
    // The objective as the CLI and the web page build it: the tokenizers say the padded teacher shares the student's ids.
    const distill = buildObjective({ distill: config.distill!, student: { vocabSize: V, tokenizer: tok }, teachers: [{ kind: 'model', model: t, tokenizer: tok, name: 'teacher' }], log: (m) => notes.push(m) });
    const s = await train({ model: student, data: { train: ids }, tokenizer: tok, config, distill });
    student.dispose();
    return { logged: s.logged, shared: distill.sharedVocab };
  };
  const { logged: plain, shared: none } = await run(teacher);
  const { logged: viaPadded, shared } = await run(padded);
  assert.equal(none, undefined);
  assert.equal(shared, V);
  assert.match(notes.join('\n'), new RegExp(`padded vocabulary: distilling over the ${V} shared ids, dropping 24 teacher rows`));
  assert.equal(plain.length, 3);
  plain.forEach((r, i) => {
    assert.ok(Math.abs(r.kd - viaPadded[i].kd) <= 1e-5 * (1 + Math.abs(r.kd)), `step ${r.step}: kd ${r.kd} vs ${viaPadded[i].kd}`);
    assert.ok(Math.abs(r.loss - viaPadded[i].loss) <= 1e-5 * (1 + Math.abs(r.loss)), `step ${r.step}: loss ${r.loss} vs ${viaPadded[i].loss}`);
  });
});

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';
const bin = fileURLToPath(new URL('../bin/kdgpu.mjs', import.meta.url));
// The CLI runs in a child process of the runtime running this file (bin/kdgpu.mjs runs under both).
const runtimeArgs = isDeno ? ['run', '-A', '--no-check', '--node-modules-dir=manual'] : [];

test('a teacher with another tokenizer is refused before any step for a same-vocabulary loss, and ULD accepts it', async () => {
  await init();
  const work = mkdtempSync(join(tmpdir(), 'kdgpu-xtok-'));
  // The teacher: its own tokenizer (another vocabulary size) saved beside its model.
  const ttok = await trainBpe([text.toLowerCase()], { vocabSize: 280, showProgress: false });
  const teacherDir = join(work, 'teacher', 'final');
  const teacher = createModel(tinyLlama({ vocab_size: ttok.vocabSize, max_position_embeddings: 64 }), { seed: 1 });
  await saveModel(teacher, teacherDir);
  saveTokenizer(ttok, join(work, 'teacher', 'tokenizer.json'));
  const base = {
    run: { name: 'student', outDir: work, seed: 1 },
    data: { dir: corpusDir, blockSize: 32, batchSize: 4, maxEvalBlocks: 8 },
    tokenizer: { train: { vocabSize: 320, minFrequency: 2, specialTokens: ['<pad>', '<s>', '</s>'] } },
    model: { type: 'llama', preset: 'tinyLlama', config: { max_position_embeddings: 64 } },
    teachers: [{ path: teacherDir }],
    train: { maxSteps: 3, logEvery: 1 },
    schedule: { type: 'constant' },
  };
  const path = join(work, 'bad.json');
  writeFileSync(path, JSON.stringify({ ...base, distill: { loss: 'forwardKL' } }));
  const r = spawnSync(process.execPath, [...runtimeArgs, bin, 'distill', path, '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /different tokenizers/);
  assert.match(r.stderr, /vocabulary \d+/);
  assert.match(r.stderr, /uld/);
  const metrics = join(work, 'student', 'metrics.jsonl');
  assert.ok(!existsSync(metrics) || readFileSync(metrics, 'utf8').trim() === '', 'no step was taken');
  assert.ok(!existsSync(join(work, 'student', 'checkpoints', 'latest.json')));
  const ok = join(work, 'uld.json');
  writeFileSync(ok, JSON.stringify({ ...base, run: { ...base.run, name: 'student-uld' }, distill: { loss: 'uld', kdRatio: 0.5 } }));
  const u = spawnSync(process.execPath, [...runtimeArgs, bin, 'distill', ok, '--quiet'], { encoding: 'utf8' });
  assert.equal(u.status, 0, u.stderr);
  const logged = readFileSync(join(work, 'student-uld', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((x) => x.split === 'train');
  assert.equal(logged.length, 3);
  for (const x of logged) assert.ok(Number.isFinite(x.losses.kd) && x.losses.kd > 0, JSON.stringify(x));
  teacher.dispose();
});
