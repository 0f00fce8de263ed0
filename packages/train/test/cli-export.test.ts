/** `kdgpu export --format gguf`: a saved model folder with its tokenizer becomes a GGUF file that loads back. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, noGrad, tensor } from '@kdgpu/tensor';
import { createModel, tinyLlama } from '@kdgpu/models';
import { fileSource, loadGguf, loadModel, readModelConfig, saveModel } from '@kdgpu/models/node';
import { readGgufHeader } from '@kdgpu/models';
import { tokenizerFromGguf, trainBpe } from '@kdgpu/tokenizer';
import { main } from '../src/cli.ts';
import { inspectTeachers } from '../src/teachers-node.ts';
import type { TrainConfig } from '../src/config-schema.ts';

test('kdgpu export --format gguf writes a GGUF with the tokenizer that imports with equal logits; refuses to overwrite', async () => {
  await init();
  const dir = mkdtempSync(join(tmpdir(), 'kdgpu-export-'));
  try {
    const tok = await trainBpe(['hello world, hello there. the cat sat on the mat. '.repeat(10)], { vocabSize: 60, showProgress: false, specialTokens: ['<pad>', '<s>', '</s>'] });
    const model = createModel(tinyLlama({ vocab_size: 64 }), { seed: 9 });
    const modelDir = join(dir, 'final');
    await saveModel(model, modelDir);
    writeFileSync(join(modelDir, 'tokenizer.json'), tok.serialize());
    const out = join(dir, 'm.gguf');
    assert.equal(await main(['export', modelDir, '--format', 'gguf', '--out', out, '--type', 'f32']), 0);
    const src = await fileSource(out);
    const h = await readGgufHeader(src);
    await src.close?.();
    assert.equal(h.metadata.get('general.architecture')!.value, 'llama');
    assert.equal((h.metadata.get('tokenizer.ggml.tokens')!.value as string[]).length, 64, 'vocabulary padded to vocab_size');
    const back = await loadGguf(out);
    const x = tensor([[1, 5, 9, 3]], { dtype: 'i32' });
    const a = (await noGrad(() => model.forward(x)).data()) as Float32Array;
    const b = (await noGrad(() => back.model.forward(x)).data()) as Float32Array;
    assert.deepEqual([...b], [...a]);
    // A .gguf file is accepted where a model folder is (teachers, --model).
    assert.equal((await readModelConfig(out)).vocab_size, 64);
    const viaLoadModel = await loadModel(out);
    assert.deepEqual([...((await noGrad(() => viaLoadModel.forward(x)).data()) as Float32Array)], [...a]);
    viaLoadModel.dispose();
    // ... with its vocabulary as the tokenizer: a teacher, and `kdgpu generate --model file.gguf`.
    const [facts] = await inspectTeachers({ teachers: [{ path: out }] } as unknown as TrainConfig);
    assert.deepEqual(facts!.tokenizer!.encode('hello the cat').ids, tok.encode('hello the cat').ids);
    assert.equal(await main(['generate', '--model', out, '--prompt', 'hello', '--max-new-tokens', '3', '--temperature', '0']), 0);
    const tok2 = tokenizerFromGguf(back.vocab!);
    assert.deepEqual(tok2.encode('hello the cat').ids, tok.encode('hello the cat').ids);
    await assert.rejects(main(['export', modelDir, '--out', out]), /exists; pass --overwrite/);
    assert.deepEqual(readdirSync(dir).sort(), ['final', 'm.gguf'], 'no temporary file left');
    assert.equal(await main(['export', modelDir, '--out', out, '--overwrite', '--type', 'bogus']), 2, 'an unknown --type is a usage error');
    assert.ok(existsSync(out));
    model.dispose();
    back.model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
