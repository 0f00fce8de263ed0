/**
 * Starting points and inputs: the JSON Schema ships as a file equal to the one the code validates
 * with; every ready config in examples/configs validates and points its "$schema" at that file;
 * `kdgpu init` writes a commented example that loads; configs may carry // comments; data files
 * may be .gz text or JSON Lines with a "text" field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'fflate';
import { decodeTextInput, trainConfigSchema, validateConfig } from '../src/index.ts';
import { main } from '../src/cli.ts';
import { loadConfigFile, parseConfigText, stripJsonComments } from '../src/cli/config-file.ts';
import { commentedConfig, exampleConfig, SCHEMA_FILE } from '../src/cli/commands/init.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));

test('config.schema.json is the schema the code validates with (regenerate: node --import tsx scripts/write-config-schema.ts)', () => {
  assert.equal(SCHEMA_FILE, join(root, 'packages/train/config.schema.json'));
  assert.deepEqual(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')), JSON.parse(JSON.stringify(trainConfigSchema)));
});

test('every examples/configs/*.json validates and names the schema file', () => {
  const dir = join(root, 'examples/configs');
  const files = readdirSync(dir).filter((n) => n.endsWith('.json'));
  assert.deepEqual(files.sort(), ['distill.json', 'offline-logits.json', 'teacher.json']);
  for (const f of files) {
    const raw = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const c = validateConfig(raw);
    assert.equal(resolve(dir, raw.$schema), SCHEMA_FILE, `${f}: $schema`);
    assert.ok(c.run.name && c.train.maxSteps, f);
    if (c.offlineLogits) assert.equal(c.data.randomOffset, false, `${f}: offline logits need fixed block starts`);
  }
});

test('kdgpu init writes a commented example that loads and validates; --print-config shows every default', async () => {
  const work = mkdtempSync(join(tmpdir(), 'kdgpu-init-'));
  for (const kind of ['train', 'distill'] as const) {
    const text = commentedConfig(exampleConfig(kind, 'x.json'), 'test');
    assert.ok(text.split('\n').filter((l) => l.trim().startsWith('//')).length > 20, 'commented');
    validateConfig(parseConfigText(text, 'init'));
    const path = join(work, `${kind}.json`);
    const log = console.log;
    console.log = () => {};
    try {
      assert.equal(await main(['init', path, '--kind', kind]), 0);
    } finally {
      console.log = log;
    }
    const c = loadConfigFile(path);
    assert.equal(resolve(dirname(path), c.$schema!), SCHEMA_FILE);
    assert.equal(c.distill !== undefined, kind === 'distill');
    await assert.rejects(main(['init', path]), /already exists; pass --overwrite/);
  }
  let out = '';
  const log = console.log;
  console.log = (s: string) => void (out += s);
  try {
    assert.equal(await main(['train', join(root, 'examples/configs/teacher.json'), '--print-config', 'train.logEvery=5']), 0);
  } finally {
    console.log = log;
  }
  const shown = validateConfig(parseConfigText(out, 'print-config'));
  assert.equal(shown.train.logEvery, 5);
  assert.equal(shown.optimizer.eps, 1e-8, 'defaults filled in');
  assert.match(out, /\/\/ Decoupled weight decay\./);
});

test('configs may carry comments; strings keep their slashes; errors name the file and line', () => {
  assert.equal(stripJsonComments('{"a": "http://x/*y*/", // c\n"b": 1 /* d */}'), '{"a": "http://x/*y*/", \n"b": 1        }');
  assert.throws(() => parseConfigText('{\n  "a": 1,\n  oops\n}', 'run.json'), /^KdgpuError: run\.json: not valid JSON \(line 3\)/);
  assert.throws(() => loadConfigFile('/nonexistent/run.json'), /\/nonexistent\/run\.json: no such file \(kdgpu init writes an example config\)/);
});

test('data files: .gz text and JSON Lines with a "text" field; errors name the file and line', () => {
  const text = 'one line\ntwo lines\n';
  const enc = new TextEncoder();
  assert.equal(decodeTextInput(enc.encode(text), 'a.train'), text);
  assert.equal(decodeTextInput(gzipSync(enc.encode(text)), 'a.train.gz'), text);
  const jsonl = '{"text": "first doc"}\n\n{"text": "second", "id": 2}\n';
  assert.equal(decodeTextInput(enc.encode(jsonl), 'docs.jsonl'), 'first doc\nsecond');
  assert.equal(decodeTextInput(gzipSync(enc.encode(jsonl)), 'docs.jsonl.gz'), 'first doc\nsecond');
  assert.throws(() => decodeTextInput(enc.encode('{"text": "a"}\n{"body": "b"}\n'), 'data.files[0] (docs.jsonl)', 'jsonl'), /data\.files\[0\] \(docs\.jsonl\):2: field "text" must be a string, got nothing/);
  assert.throws(() => decodeTextInput(enc.encode('{"text": "a"}\nnot json\n'), 'docs.jsonl'), /docs\.jsonl:2: not valid JSON/);
  assert.throws(() => decodeTextInput(Uint8Array.from([0x1f, 0x8b, 1, 2, 3]), 'broken.gz'), /broken\.gz: not a valid gzip file/);
  assert.ok(existsSync(join(root, 'examples/data/fortunes.train.gz')));
});
