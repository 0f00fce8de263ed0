/**
 * The model work of the page, composed from the packages: a tiny LLaMA teacher trained on
 * next-token cross-entropy, a smaller LLaMA student distilled from it with a loss from the zoo,
 * and text generation. Everything happens in memory: the trainer gets token arrays and a metrics
 * writer that forwards each record to the page.
 * @module
 */
import { createLoss, lossOptionKeys, type LossName } from '@kdgpu/losses';
import { type CausalLM, createModel, generate, tinyLlama } from '@kdgpu/models';
import type { Tokenizer } from '@kdgpu/tokenizer';
import { type DistillPart, type MetricsRecord, type MetricsWriter, train, type TrainConfig, type TrainSummary, validateConfig } from '@kdgpu/train';
import type { ModelSettings, Settings } from './settings.ts';

/** Positions the models accept: training blocks plus room for a prompt and its continuation. */
export const MAX_POSITIONS = 512;

/** A LLaMA of the given width and depth over `vocabSize` tokens (head size 16, no GQA). */
export function buildModel(m: ModelSettings, vocabSize: number, seed: number): CausalLM {
  const heads = Math.max(1, Math.floor(m.width / 16));
  return createModel(
    tinyLlama({
      vocab_size: vocabSize,
      hidden_size: heads * 16,
      intermediate_size: heads * 16 * 2,
      num_hidden_layers: m.layers,
      num_attention_heads: heads,
      num_key_value_heads: heads,
      max_position_embeddings: MAX_POSITIONS,
      pad_token_id: 0,
      bos_token_id: 1,
      eos_token_id: 2,
    }),
    { seed },
  );
}

/** The loss names offered for distillation: the zoo minus plain cross-entropy (already the CE part). */
export function distillLossNames(all: readonly string[]): string[] {
  return all.filter((n) => n !== 'crossEntropy');
}

/** The trainer config of one run (paths are placeholders: the page passes data and models in memory). */
function runConfig(s: Settings, m: ModelSettings, name: string, distill: boolean): TrainConfig {
  return validateConfig({
    run: { name, outDir: '(memory)', seed: 42 },
    data: { files: ['(memory)'], blockSize: s.blockSize, batchSize: s.batchSize, maxEvalBlocks: s.maxEvalBlocks },
    tokenizer: { path: '(memory)' },
    model: { type: 'llama' },
    ...(distill ? { teachers: [{ path: '(memory)' }], distill: { loss: s.loss, kdRatio: s.kdRatio, temperature: s.temperature } } : {}),
    optimizer: { lr: m.lr, clipGradNorm: 1 },
    schedule: { type: 'cosine', warmupSteps: Math.max(1, Math.round(m.steps / 10)), minRatio: 0.1 },
    train: { maxSteps: m.steps, logEvery: Math.min(s.logEvery, m.steps), evalEvery: Math.min(s.evalEvery, m.steps) },
  });
}

/** What a run reports while it goes. */
export interface RunHooks {
  /** Every metrics record (train at log points, eval at validation points). */
  onRecord(r: MetricsRecord): void;
  /** After every optimizer step. */
  onStep(step: number): void | Promise<void>;
  shouldStop(): boolean;
}

function writer(hooks: RunHooks): MetricsWriter {
  return { write: (r) => hooks.onRecord(r), close: async () => {} };
}

/** Trains `model` as the teacher (cross-entropy only). */
export async function trainTeacher(model: CausalLM, s: Settings, trainIds: Int32Array, evalIds: Int32Array, hooks: RunHooks): Promise<TrainSummary> {
  const config = runConfig(s, s.teacher, 'teacher', false);
  return await train({ model, trainTokens: trainIds, evalTokens: evalIds, config, metrics: writer(hooks), onStep: hooks.onStep, shouldStop: hooks.shouldStop });
}

/** Distils `teacher` into `student`: (1 − kdRatio)·CE + kdRatio·KD with the chosen loss. */
export async function distilStudent(student: CausalLM, teacher: CausalLM, s: Settings, trainIds: Int32Array, evalIds: Int32Array, hooks: RunHooks): Promise<TrainSummary> {
  const config = runConfig(s, s.student, 'student', true);
  const keys = lossOptionKeys(s.loss as LossName);
  const opts: Record<string, unknown> = { reduction: 'none', ...(keys.includes('temperature') ? { temperature: s.temperature } : {}) };
  const distill: DistillPart = { loss: createLoss(s.loss, opts), teachers: { kind: 'models', models: [teacher] }, reduction: 'mean' };
  return await train({ model: student, trainTokens: trainIds, evalTokens: evalIds, config, distill, metrics: writer(hooks), onStep: hooks.onStep, shouldStop: hooks.shouldStop });
}

/**
 * Continues `s.prompt` with `model` (greedy, or sampling at temperature 0.8 / top-k 40 with a fixed
 * seed), calling `onText` with the decoded continuation after every token. The prompt is encoded
 * without BOS/EOS, as the training text was, and cut from the left to fit the positions.
 */
export async function continueText(model: CausalLM, tok: Tokenizer, s: Settings, onText: (text: string) => void): Promise<{ text: string; tokens: number }> {
  const maxNew = Math.min(s.genTokens, MAX_POSITIONS - 1);
  let promptIds = [...tok.encode(s.prompt, { addSpecialTokens: false }).ids];
  if (promptIds.length === 0) promptIds = [...tok.encode('\n', { addSpecialTokens: false }).ids];
  promptIds = promptIds.slice(-(MAX_POSITIONS - maxNew));
  const sampling = s.genMode === 'sample' ? { temperature: 0.8, topK: 40, seed: 7 } : { temperature: 0 };
  const ids: number[] = [];
  let text = '';
  await generate(model, promptIds, {
    ...sampling,
    maxNewTokens: maxNew,
    eosTokenId: null,
    onToken: (e) => {
      ids.push(e.id);
      text = tok.decode(ids, { skipSpecialTokens: true });
      onText(text);
    },
  });
  return { text, tokens: ids.length };
}
