/** `kdgpu generate`: text from a saved model. */

import { init, KdgpuError } from '@kdgpu/tensor';
import { generate } from '@kdgpu/models';
import { defineCommand } from '../args.ts';
import { contextLength, modelWithTokenizer } from './model-files.ts';

export const generateCommand = defineCommand({
  name: 'generate',
  summary: 'generate text from a saved model',
  description: `Continues --prompt with the model, streaming tokens as they are chosen (KV cache).
Temperature 0 is greedy. Generation stops at an end-of-sequence token, after --max-new-tokens, or at
the model's context length (with a note).`,
  flags: {
    model: { type: 'string', value: 'DIR', required: true, help: 'a saved model folder (a run\'s final/ or a checkpoint)' },
    tokenizer: { type: 'string', value: 'FILE', help: 'its tokenizer.json (default: the one in the model folder or its run)' },
    prompt: { type: 'string', value: 'TEXT', required: true, help: 'the text to continue' },
    'max-new-tokens': { type: 'integer', value: 'N', default: 50, help: 'tokens to generate at most' },
    temperature: { type: 'number', value: 'T', default: 0.8, help: 'sampling temperature; 0 is greedy' },
    'top-k': { type: 'integer', value: 'K', default: 0, help: 'sample among the K most likely tokens; 0: all' },
    'top-p': { type: 'number', value: 'P', default: 1, help: 'sample among the most likely tokens holding mass P' },
    seed: { type: 'integer', value: 'N', default: 0, help: 'sampling seed' },
  },
  async run(args) {
    const f = args.flags;
    if (f.temperature < 0) throw new KdgpuError(`--temperature must be >= 0, got ${f.temperature}`);
    if (f['max-new-tokens'] < 0) throw new KdgpuError(`--max-new-tokens must be >= 0, got ${f['max-new-tokens']}`);
    await init();
    const { model, tok } = await modelWithTokenizer(f.model, f.tokenizer, (s) => process.stderr.write(`note: ${s}\n`));
    try {
      const codec = { encode: (s: string) => ({ ids: tok.encode(s, { addSpecialTokens: false }).ids }), decode: (ids: readonly number[]) => tok.decode(ids, { skipSpecialTokens: true }) };
      const promptTokens = codec.encode(f.prompt).ids.length;
      const ctx = contextLength(model.config);
      if (promptTokens === 0) throw new KdgpuError('--prompt is empty after tokenization; give some text');
      if (promptTokens >= ctx) throw new KdgpuError(`--prompt is ${promptTokens} tokens, the model's context is ${ctx}: nothing can be generated; shorten the prompt`);
      const room = ctx - promptTokens;
      const maxNew = Math.min(f['max-new-tokens'], room);
      process.stdout.write(f.prompt);
      let made = 0;
      await generate(model, codec, {
        prompt: f.prompt,
        maxNewTokens: maxNew,
        temperature: f.temperature,
        topK: f['top-k'],
        topP: f['top-p'],
        seed: f.seed,
        eosTokenId: tok.tokenToId('</s>') ?? null,
        onToken: (e) => {
          made++;
          if (e.text) process.stdout.write(e.text);
        },
      });
      process.stdout.write('\n');
      if (maxNew < f['max-new-tokens'] && made === maxNew) {
        process.stderr.write(`note: stopped after ${made} tokens at the model's context length of ${ctx} (prompt ${promptTokens} + ${made}); --max-new-tokens asked for ${f['max-new-tokens']}\n`);
      }
      return 0;
    } finally {
      model.dispose();
    }
  },
});
