import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { test } from 'node:test';
import { writeFileAtomic, writeFileAtomicSync, writeJsonAtomic, writeJsonAtomicSync } from '../src/atomic-node.ts';

function withDir(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'kdgpu-atomic-'));
    try {
      await fn(dir);
    } finally {
      fs.chmodSync(dir, 0o755);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('writes and replaces files and JSON; no temp files remain', withDir(async (dir) => {
  const p = join(dir, 'state.json');
  await writeJsonAtomic(p, { step: 1 });
  assert.equal(fs.readFileSync(p, 'utf8'), '{\n  "step": 1\n}\n');
  await writeJsonAtomic(p, { step: 2 }, { space: 0 });
  assert.equal(fs.readFileSync(p, 'utf8'), '{"step":2}\n');
  writeJsonAtomicSync(p, [3]);
  assert.deepEqual(JSON.parse(fs.readFileSync(p, 'utf8')), [3]);
  const b = join(dir, 'w.bin');
  await writeFileAtomic(b, new Uint8Array([1, 2, 3]));
  writeFileAtomicSync(b, new Uint8Array([4]));
  assert.deepEqual(Array.from(fs.readFileSync(b)), [4]);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['state.json', 'w.bin']);
}));

test('a missing directory is named in the error', withDir(async (dir) => {
  const p = join(dir, 'nope', 'x.json');
  await assert.rejects(writeJsonAtomic(p, {}), (e: Error) => e.message.includes(p) && e.message.includes(`directory ${join(dir, 'nope')} does not exist`));
  assert.throws(() => writeFileAtomicSync(p, 'x'), /cannot write .*nope.*x\.json: directory .* does not exist/);
}));

test('a failed rename removes the temp file and keeps what was there', withDir(async (dir) => {
  // The target is a non-empty directory: rename fails after the temp file was written.
  const target = join(dir, 'ckpt');
  fs.mkdirSync(target);
  fs.writeFileSync(join(target, 'keep.txt'), 'old');
  await assert.rejects(writeFileAtomic(target, 'new'), /cannot write .*ckpt/);
  assert.throws(() => writeFileAtomicSync(target, 'new'), /cannot write .*ckpt/);
  assert.equal(fs.readFileSync(join(target, 'keep.txt'), 'utf8'), 'old');
  assert.deepEqual(fs.readdirSync(dir), ['ckpt']);
}));

test('a value JSON cannot serialize leaves the old file intact', withDir(async (dir) => {
  const p = join(dir, 'c.json');
  await writeJsonAtomic(p, { ok: true });
  await assert.rejects(writeJsonAtomic(p, { n: 1n }), /cannot serialize the value for .*c\.json.*nothing was written/);
  assert.throws(() => writeJsonAtomicSync(p, undefined), /not JSON-serializable/);
  assert.deepEqual(JSON.parse(fs.readFileSync(p, 'utf8')), { ok: true });
}));

// Root ignores directory permissions, so this case only means something for other users.
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
test('a read-only directory: error names the path, old file intact', { skip: isRoot ? 'running as root, which bypasses directory permissions' : false }, withDir(async (dir) => {
  const p = join(dir, 'c.json');
  await writeJsonAtomic(p, { v: 1 });
  fs.chmodSync(dir, 0o555);
  await assert.rejects(writeJsonAtomic(p, { v: 2 }), /cannot write .*c\.json: no permission to write in/);
  fs.chmodSync(dir, 0o755);
  assert.deepEqual(JSON.parse(fs.readFileSync(p, 'utf8')), { v: 1 });
  assert.deepEqual(fs.readdirSync(dir), ['c.json']);
}));
