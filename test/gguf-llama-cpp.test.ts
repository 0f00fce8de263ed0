/**
 * kdgpu's GGUF export run in the real llama.cpp (node-llama-cpp 3.21.1, its prebuilt CPU build):
 * the same greedy continuation and the same next-token log-probabilities as kdgpu, for LLaMA and
 * GPT-2 at f32, f16 and q8_0; and the file imported back into kdgpu gives equal logits.
 *
 * kdgpu's side runs the weights the file holds (f16/q8_0: the imported, dequantised model), so the
 * comparison is of the two engines, not of the rounding. Tolerances on log-probabilities (llama.cpp
 * with an f32 KV cache; the logits here span about ±30): f32 weights 5e-3, f16 1e-2 (llama.cpp's CPU
 * kernels convert activations to f16 for f16 weights and use GELU/exp approximations), q8_0 1e-1
 * (llama.cpp also quantises the activations to 8 bits in its q8_0 matmuls, so greedy decoding may
 * part ways at a near tie: allowed for q8_0 only, where kdgpu's margin is within 2x the tolerance).
 *
 * Skipped, with a message, only where node-llama-cpp cannot load its native binary.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { init, noGrad, tensor } from '@kdgpu/tensor';
import { bytesSource, type CausalLM, createModel, encodeModelGguf, type GgufExportType, loadGgufFrom, tinyGPT2, tinyLlama } from '@kdgpu/models';
import { ByteLevelPreTokenizer, tokenizerFromGguf, tokenizerToGguf, trainBpe } from '@kdgpu/tokenizer';

type NodeLlamaCpp = typeof import('node-llama-cpp');
type Llama = Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;
type Token = import('node-llama-cpp').Token;
/** kdgpu ids as node-llama-cpp's (branded) token type. */
const asTokens = (ids: readonly number[]) => ids as unknown as Token[];

let llamaPromise: Promise<Llama | string> | null = null;

/** node-llama-cpp's CPU build, or why it cannot load here. */
function llamaCpp(): Promise<Llama | string> {
  llamaPromise ??= (async () => {
    try {
      const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
      return await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    } catch (e) {
      return `node-llama-cpp cannot load on this platform (${process.platform}-${process.arch}): ${(e as Error).message.split('\n')[0]}`;
    }
  })();
  return llamaPromise;
}

const STEPS = 16;
const TOL: Record<GgufExportType, number> = { f32: 5e-3, f16: 1e-2, q8_0: 1e-1 };

/** log-softmax of kdgpu's logits for `ids`: [T * V]. */
async function logProbs(model: CausalLM, ids: number[]): Promise<Float32Array> {
  const x = tensor([ids], { dtype: 'i32' });
  const y = noGrad(() => model.forward(x).logSoftmax(-1));
  const d = (await y.data()) as Float32Array;
  x.dispose();
  y.dispose();
  return d;
}

function argmaxRow(d: Float32Array, row: number, V: number): number {
  let best = 0;
  for (let v = 1; v < V; v++) if (d[row * V + v]! > d[row * V + best]!) best = v;
  return best;
}

/** Weights scaled up so the logits are far from uniform (a random init gives near-ties, which make greedy choices fragile in any engine). */
async function sharpen(model: CausalLM, by: number): Promise<void> {
  for (const [, p] of model.parameters()) {
    if (p.shape.length !== 2) continue;
    const t = tensor(((await p.data()) as Float32Array).map((x) => x * by), { shape: p.shape });
    p.assign(t);
    t.dispose();
  }
}

const CORPUS = 'the quick brown fox jumps over the lazy dog. a stitch in time saves nine! 0123456789 '.repeat(8);

const CASES = [
  ['llama', () => tinyLlama({ vocab_size: 320, hidden_size: 64, intermediate_size: 128, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 128, rope_theta: 10000, bos_token_id: 1, eos_token_id: 2 })],
  ['gpt2', () => tinyGPT2({ vocab_size: 320, n_embd: 64, n_positions: 128 })],
] as const;

for (const [arch, config] of CASES) {
  for (const type of ['f32', 'f16', 'q8_0'] as const) {
    test(`llama.cpp: a kdgpu ${arch} exported as ${type} gives the same ${STEPS} greedy tokens and log-probabilities`, async (t) => {
      const llama = await llamaCpp();
      if (typeof llama === 'string') {
        console.log(`SKIP: ${llama}`);
        t.skip(llama);
        return;
      }
      await init();
      const tok = await trainBpe([CORPUS], { vocabSize: 300, showProgress: false, specialTokens: ['<pad>', '<s>', '</s>'] });
      const model = createModel(config(), { seed: 3 });
      await sharpen(model, 5);
      const bytes = await encodeModelGguf(model, { type, vocab: tokenizerToGguf(tok), name: `kdgpu-${arch}` });
      model.dispose();
      // kdgpu's side: the weights as the file holds them.
      const imported = await loadGgufFrom(bytesSource(bytes, `${arch}.gguf`));
      const kd = imported.model;
      const V = kd.config.vocab_size;
      const dir = mkdtempSync(join(tmpdir(), 'kdgpu-gguf-'));
      const path = join(dir, `${arch}-${type}.gguf`);
      writeFileSync(path, bytes);
      const lm = await llama.loadModel({ modelPath: path });
      const ctx = await lm.createContext({ contextSize: 64, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
      try {
        assert.equal(lm.tokens.bos, 1, 'BOS id from tokenizer.ggml.bos_token_id');
        // Decoding a token through llama.cpp's byte-level vocabulary gives kdgpu's text.
        const probe = tok.encode('the quick fox', { addSpecialTokens: false }).ids;
        assert.equal(lm.detokenize(asTokens(probe)), tok.decode(probe));

        const prompt = [1, ...probe];
        const seq = ctx.getSequence();
        const want = { generateNext: { probabilities: true, token: true } };
        const out = await seq.controlledEvaluate(asTokens(prompt).map((id) => [id, want] as const));
        const probs = out.map((o) => o!.next.probabilities! as unknown as Map<number, number>);
        // Greedy continuation in llama.cpp (its sampler at the default temperature-0 choice: the top token).
        const llamaTokens: number[] = [out[prompt.length - 1]!.next.token! as unknown as number];
        for (let k = 1; k < STEPS; k++) {
          const r = await seq.controlledEvaluate([[asTokens(llamaTokens)[k - 1]!, want]]);
          llamaTokens.push(r[0]!.next.token! as unknown as number);
          probs.push(r[0]!.next.probabilities! as unknown as Map<number, number>);
        }
        // kdgpu on the same sequence in one forward: the greedy sequences are equal exactly when
        // kdgpu's argmax at every step is llama.cpp's token.
        const all = [...prompt, ...llamaTokens];
        const ref = await logProbs(kd, all.slice(0, -1));
        let worst = 0;
        for (let i = 0; i < probs.length; i++) {
          assert.equal(probs[i]!.size, V, 'a probability for every token');
          for (let v = 0; v < V; v++) {
            const p = probs[i]!.get(v)!;
            // Where the probability is representable (the log of a denormal f32 is noise).
            if (p > 1e-30) worst = Math.max(worst, Math.abs(Math.log(p) - ref[i * V + v]!));
          }
        }
        let match = 0;
        for (; match < STEPS; match++) {
          const row = prompt.length - 1 + match;
          const mine = argmaxRow(ref, row, V);
          if (mine === llamaTokens[match]) continue;
          // Only q8_0 may part ways, and only at a near tie: llama.cpp quantises activations there.
          const margin = ref[row * V + mine]! - ref[row * V + llamaTokens[match]!]!;
          assert.ok(type === 'q8_0' && margin <= 2 * TOL[type], `step ${match}: kdgpu chose ${mine}, llama.cpp ${llamaTokens[match]} (log p margin ${margin})`);
          break;
        }
        console.log(`${arch} ${type}: greedy ${match}/${STEPS} tokens match${match < STEPS ? ' (then a near tie)' : ''}; max |log p diff| over ${probs.length} positions x ${V} tokens = ${worst.toExponential(2)} (tolerance ${TOL[type]})`);
        assert.ok(worst <= TOL[type], `max |log p diff| ${worst} > ${TOL[type]}`);

        // The file's vocabulary comes back as the same tokenizer.
        const tok2 = tokenizerFromGguf(imported.vocab!);
        assert.deepEqual(tok2.encode(CORPUS.slice(0, 200)).ids, tok.encode(CORPUS.slice(0, 200)).ids);
      } finally {
        await ctx.dispose();
        await lm.dispose();
        kd.dispose();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}

test('llama.cpp: f32 export imported back into kdgpu gives bit-equal logits', async () => {
  await init();
  for (const [, config] of CASES) {
    const model = createModel(config(), { seed: 4 });
    const want = await logProbs(model, [1, 5, 9, 2, 7]);
    const back = await loadGgufFrom(bytesSource(await encodeModelGguf(model), 'm.gguf'));
    assert.deepEqual([...(await logProbs(back.model, [1, 5, 9, 2, 7]))], [...want]);
    model.dispose();
    back.model.dispose();
  }
});

test('llama.cpp: a GPT-2-style kdgpu tokenizer (no normalizer, no prefix space) exported to GGUF tokenizes text as kdgpu does', async (t) => {
  const llama = await llamaCpp();
  if (typeof llama === 'string') {
    console.log(`SKIP: ${llama}`);
    t.skip(llama);
    return;
  }
  await init();
  const tok = await trainBpe([CORPUS, 'Héllo wörld — ümlauts, émojis 🙂 and tabs\tand\nnewlines   spaces. '.repeat(4)], {
    vocabSize: 400,
    showProgress: false,
    specialTokens: ['<|endoftext|>'],
    preTokenizer: new ByteLevelPreTokenizer({ addPrefixSpace: false, useRegex: true }),
  });
  const model = createModel(tinyLlama({ vocab_size: 448 }), { seed: 1 });
  const bytes = await encodeModelGguf(model, { type: 'f32', vocab: tokenizerToGguf(tok) });
  model.dispose();
  const dir = mkdtempSync(join(tmpdir(), 'kdgpu-gguf-'));
  const path = join(dir, 'vocab.gguf');
  writeFileSync(path, bytes);
  const lm = await llama.loadModel({ modelPath: path, vocabOnly: true });
  try {
    const texts = ['the quick brown fox', ' leading space and  double  spaces', 'Héllo wörld 🙂 unseen ✓ 12345 CAPS', 'tabs\tand\nnewlines\n\n  end '];
    for (const text of texts) {
      const mine = tok.encode(text, { addSpecialTokens: false }).ids;
      assert.deepEqual(lm.tokenize(text) as unknown as number[], mine, JSON.stringify(text));
      assert.equal(lm.detokenize(asTokens(mine)), tok.decode(mine), `decode ${JSON.stringify(text)}`);
    }
    console.log(`llama.cpp tokenizes ${texts.length} texts with kdgpu's ids`);
  } finally {
    await lm.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
