/**
 * Training checkpoints on disk: every file is covered by a checksum (trainer-state.json by its
 * own), so a truncated or corrupted file is detected and named; pointer files and file tables
 * cannot reach outside the checkpoint; a write error while checkpointing (a file in the way, or a
 * full disk) leaves the previous checkpoint and `latest.json` intact and says what happened.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, memoryStats, nn } from '@kdgpu/tensor';
import { type CausalLM, createModel, tinyLlama } from '@kdgpu/models';
import { crc32, type TrainerState, zeroSums } from '@kdgpu/train';
import { CheckpointError, findCheckpoint, loadCheckpoint, saveCheckpoint, STATE_FILE } from '@kdgpu/train/node';

const work = mkdtempSync(join(tmpdir(), 'kdgpu-ckpt-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const state = (step: number): TrainerState => ({ step, loader: { epoch: 0, position: step * 8 }, tokens: step * 256, bestEval: null, sums: zeroSums(), lastLogStep: step });

async function setup(): Promise<{ model: CausalLM; opt: nn.AdamW }> {
  await init();
  const model = createModel(tinyLlama({ vocab_size: 32, hidden_size: 16, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1 }), { seed: 3 });
  return { model, opt: new nn.AdamW([...model.parameters().values()], { lr: 1e-3 }) };
}

function copyDir(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) writeFileSync(join(to, f), readFileSync(join(from, f)));
}

test('each checkpoint file truncated or with one byte flipped is detected and named', async () => {
  const { model, opt } = await setup();
  const root = join(work, 'corrupt');
  const good = await saveCheckpoint(root, model, opt, state(3), { any: 'config' });
  (await loadCheckpoint(good)).model.dispose();
  const files = readdirSync(good).sort();
  assert.deepEqual(files, ['config.json', 'model.safetensors', 'optimizer.safetensors', STATE_FILE].sort());
  let n = 0;
  for (const f of files) {
    const size = statSync(join(good, f)).size;
    for (const damage of ['truncate', 'flip-start', 'flip-middle', 'flip-end'] as const) {
      const dir = join(work, `damaged-${n++}`);
      copyDir(good, dir);
      const p = join(dir, f);
      if (damage === 'truncate') truncateSync(p, Math.floor(size / 2));
      else {
        const b = readFileSync(p);
        const at = damage === 'flip-start' ? 0 : damage === 'flip-end' ? b.length - 2 : b.length >> 1;
        b[at] ^= 0x04;
        writeFileSync(p, b);
      }
      await assert.rejects(loadCheckpoint(dir), (e: Error) => {
        assert.ok(e instanceof CheckpointError, `${f} ${damage}: ${e.name}: ${e.message}`);
        assert.ok(e.message.includes(p) || (f === STATE_FILE && e.message.includes(dir)), `${f} ${damage}: names the file: ${e.message}`);
        assert.match(e.message, /truncated|corrupted|unreadable|not a kdgpu checkpoint|malformed|does not list|not \{ crc32, bytes \}/, `${f} ${damage}: says what is wrong: ${e.message}`);
        return true;
      });
    }
  }
  model.dispose();
  opt.dispose();
});

test('trainer-state.json cannot name files outside its directory, and must list the model files', async () => {
  const { model, opt } = await setup();
  const root = join(work, 'paths');
  const dir = await saveCheckpoint(root, model, opt, state(1), {});
  const meta = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8'));
  const rewrite = (m: Record<string, unknown>) => {
    // A consistent file (its own checksum recomputed), so only the content is at fault.
    const { selfCrc32: _, ...rest } = m;
    const text = JSON.stringify(rest, null, 1);
    writeFileSync(join(dir, STATE_FILE), JSON.stringify({ ...rest, selfCrc32: crc32(new TextEncoder().encode(text)).toString(16).padStart(8, '0') }, null, 1));
  };
  for (const name of ['../../etc/passwd', '/etc/passwd', '..', 'sub/file']) {
    rewrite({ ...meta, files: { ...meta.files, [name]: { crc32: '00000000', bytes: 0 } } });
    await assert.rejects(loadCheckpoint(dir), /"files" names .* not a file of the checkpoint/);
  }
  const { 'model.safetensors': _m, ...rest } = meta.files;
  rewrite({ ...meta, files: rest });
  await assert.rejects(loadCheckpoint(dir), /"files" does not list model\.safetensors/);
  rewrite({ ...meta, state: { ...meta.state, step: -1 } });
  await assert.rejects(loadCheckpoint(dir), /"state" is malformed/);
  rewrite(meta);
  (await loadCheckpoint(dir)).model.dispose();
  for (const text of ['{', 'null', '{"dir":"../../etc"}', '{"dir":"step-1/../../x"}']) {
    writeFileSync(join(root, 'latest.json'), text);
    await assert.rejects(findCheckpoint(root), (e: Error) => e instanceof CheckpointError && e.message.includes(join(root, 'latest.json')));
  }
  model.dispose();
  opt.dispose();
});

test('optimizer moments of another model are refused, and a refused checkpoint leaves no GPU memory behind', async () => {
  const { model, opt } = await setup();
  const root = join(work, 'moments');
  const dir = await saveCheckpoint(root, model, opt, state(1), {});
  await init();
  const other = createModel(tinyLlama({ vocab_size: 32, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1 }), { seed: 3 });
  const otherOpt = new nn.AdamW([...other.parameters().values()], { lr: 1e-3 });
  const otherDir = await saveCheckpoint(join(work, 'moments-other'), other, otherOpt, state(1), {});
  const bytes = readFileSync(join(otherDir, 'optimizer.safetensors'));
  writeFileSync(join(dir, 'optimizer.safetensors'), bytes);
  const meta = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8'));
  meta.files['optimizer.safetensors'] = { crc32: crc32(bytes).toString(16).padStart(8, '0'), bytes: bytes.byteLength };
  delete meta.selfCrc32;
  meta.selfCrc32 = crc32(new TextEncoder().encode(JSON.stringify(meta, null, 1))).toString(16).padStart(8, '0');
  writeFileSync(join(dir, STATE_FILE), JSON.stringify(meta, null, 1));
  const before = memoryStats().liveBytes;
  await assert.rejects(loadCheckpoint(dir), /optimizer\.safetensors: moments of model\.embed_tokens\.weight have shape \[32,8\], the parameter \[32,16\]/);
  assert.equal(memoryStats().liveBytes, before, 'the model built for the refused checkpoint was released');
  for (const x of [model, other]) x.dispose();
  for (const x of [opt, otherOpt]) x.dispose();
});

test('a write error while checkpointing (a file where the new checkpoint goes) keeps the previous one', async () => {
  const { model, opt } = await setup();
  const root = join(work, 'in-the-way');
  const first = await saveCheckpoint(root, model, opt, state(2), {});
  writeFileSync(join(root, 'step-000004'), 'not a directory');
  await assert.rejects(saveCheckpoint(root, model, opt, state(4), {}), (e: Error) => {
    assert.ok(e instanceof CheckpointError);
    assert.match(e.message, new RegExp(`^could not write checkpoint ${join(root, 'step-000004')}: .*(ENOTDIR|EEXIST|not a directory).*; the previous checkpoint is unchanged$`));
    return true;
  });
  assert.equal(await findCheckpoint(root), first);
  (await loadCheckpoint(first)).model.dispose();
  assert.deepEqual(readdirSync(root).filter((n) => n.includes('.tmp')), [], 'the temporary directory was removed');
  model.dispose();
  opt.dispose();
});

test('temporary directories left by a killed checkpoint write are removed by the next one', async () => {
  const { model, opt } = await setup();
  const root = join(work, 'stale');
  await saveCheckpoint(root, model, opt, state(1), {});
  mkdirSync(join(root, '.step-000002.tmp-1700000000000-42'));
  writeFileSync(join(root, '.step-000002.tmp-1700000000000-42', 'model.safetensors'), 'half');
  await saveCheckpoint(root, model, opt, state(2), {});
  assert.deepEqual(readdirSync(root).sort(), ['latest.json', 'step-000001', 'step-000002']);
  model.dispose();
  opt.dispose();
});

test('a checkpoint folder of the same step that is not complete is written again, not trusted; a finished one is reused', async () => {
  const { model, opt } = await setup();
  const root = join(work, 'incomplete');
  // A folder of step 3 without its state file (a second signal's cleanup raced a rename, say).
  mkdirSync(join(root, 'step-000003'), { recursive: true });
  writeFileSync(join(root, 'step-000003', 'model.safetensors'), 'half');
  const dir = await saveCheckpoint(root, model, opt, state(3), {});
  (await loadCheckpoint(dir)).model.dispose();
  const stamp = statSync(join(dir, STATE_FILE)).mtimeMs;
  // The same step again (a best checkpoint that is also the periodic one): only the pointer is written.
  await saveCheckpoint(root, model, opt, state(3), {}, ['best']);
  assert.equal(statSync(join(dir, STATE_FILE)).mtimeMs, stamp);
  assert.equal(await findCheckpoint(root, 'best'), dir);
  // The set-aside folder is removed by the next save, and no temporary folder remains.
  await saveCheckpoint(root, model, opt, state(4), {});
  assert.deepEqual(readdirSync(root).filter((n) => n.startsWith('.')), []);
  model.dispose();
  opt.dispose();
});

/** Mounts a tmpfs of `bytes` at `dir` where this process may (root, or a CI runner allowing it); false otherwise. */
function mountTmpfs(dir: string, bytes: number): boolean {
  if (process.platform !== 'linux') return false;
  mkdirSync(dir, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]).status === 0;
}

test('disk full while checkpointing: ENOSPC is reported, the previous checkpoint and latest.json survive', async (t) => {
  const { model, opt } = await setup();
  // One checkpoint's size, measured on the ordinary disk.
  const probe = await saveCheckpoint(join(work, 'probe'), model, opt, state(1), {});
  const used = readdirSync(probe).reduce((a, f) => a + Math.ceil(statSync(join(probe, f)).size / 4096) * 4096, 0);
  const mnt = join(work, 'small-disk');
  if (!mountTmpfs(mnt, used + Math.max(16_384, Math.floor(used / 8192) * 4096))) { // room for one and a half
    t.skip('cannot mount a small tmpfs here (needs root on Linux); the write-error path is covered by the test above');
    model.dispose();
    opt.dispose();
    return;
  }
  try {
    const first = await saveCheckpoint(mnt, model, opt, state(1), {});
    await assert.rejects(saveCheckpoint(mnt, model, opt, state(2), {}), (e: Error) => {
      assert.ok(e instanceof CheckpointError);
      assert.match(e.message, new RegExp(`^could not write checkpoint ${join(mnt, 'step-000002')}: .*(ENOSPC|[Nn]o space left on device).*; the previous checkpoint is unchanged$`));
      return true;
    });
    assert.equal(await findCheckpoint(mnt), first);
    (await loadCheckpoint(first)).model.dispose();
    assert.deepEqual(readdirSync(mnt).sort(), ['latest.json', 'step-000001'], 'nothing half-written is left');
    assert.ok(existsSync(join(first, STATE_FILE)));
  } finally {
    spawnSync('umount', [mnt]);
    model.dispose();
    opt.dispose();
  }
});
