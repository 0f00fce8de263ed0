/**
 * A config's teachers from disk (Node and Deno): their folders and tokenizers checked cheaply
 * first (config.json read, not the weights), then the models loaded, or the stored logits opened,
 * as the {@link TeacherSpec}s that `buildObjective` takes.
 * @module
 */

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KdgpuError } from '@kdgpu/tensor';
import type { CausalLM, ModelConfig } from '@kdgpu/models';
import { loadModel, readModelConfig } from '@kdgpu/models/node';
import type { Tokenizer } from '@kdgpu/tokenizer';
import type { TrainConfig } from './config-schema.ts';
import { loadTokenizerFile } from './data-node.ts';
import type { TeacherSpec } from './objective.ts';
import { offlineTeacher, readOfflineFooter, sparseOfflineTeacher } from './offline-logits-node.ts';
import { isSparseLogitsFile, SparseLogitsFile } from './sparse-logits-node.ts';
import { ggufTokenizer, isGgufPath } from './gguf-node.ts';
import { closeSync } from 'node:fs';

type TeacherEntry = TrainConfig['teachers'][number];

/** A teacher's tokenizer: `teachers[i].tokenizer`, or a tokenizer.json in or beside the model folder (a kdgpu run keeps it beside `final/`). */
export function teacherTokenizer(t: TeacherEntry, i: number): Tokenizer | null {
  if (t.tokenizer) return loadTokenizerFile(t.tokenizer, `teachers[${i}].tokenizer`);
  for (const c of [join(t.path, 'tokenizer.json'), join(dirname(resolve(t.path)), 'tokenizer.json')]) {
    if (existsSync(c)) return loadTokenizerFile(c, `teachers[${i}] (tokenizer found at ${c})`);
  }
  return null;
}

/** What a teacher is, read cheaply (no weights): its config and its tokenizer when one is found. */
export interface TeacherFacts {
  field: string;
  path: string;
  config: ModelConfig;
  tokenizer: Tokenizer | null;
}

/** Reads every teacher's config.json and tokenizer, so a wrong path fails before any long work. */
export async function inspectTeachers(c: TrainConfig): Promise<TeacherFacts[]> {
  const out: TeacherFacts[] = [];
  for (const [i, t] of c.teachers.entries()) {
    const field = `teachers[${i}].path`;
    let config: ModelConfig;
    try {
      config = await readModelConfig(t.path);
    } catch (e) {
      throw new KdgpuError(`${field}: ${(e as Error).message.replace(/^loadModel: /, '')}`);
    }
    // A .gguf teacher carries its vocabulary: it wins over a tokenizer.json beside the file, not over teachers[i].tokenizer.
    const tokenizer = isGgufPath(t.path) && !t.tokenizer ? ((await ggufTokenizer(t.path, field)) ?? teacherTokenizer(t, i)) : teacherTokenizer(t, i);
    out.push({ field, path: t.path, config, tokenizer });
  }
  return out;
}

/** Checks the stored logits file's footer (cheap), so a bad path or file fails before any long work. */
export function inspectOfflineLogits(c: TrainConfig): { vocabSize: number; blockSize: number; truncated?: { topK: number; topP: number } } | null {
  if (!c.offlineLogits) return null;
  let footer: { vocabSize: number; blockSize: number };
  // Kept tokens of a dense file; a sparse file keeps the tail mass instead, so it is never truncated.
  let kept = { topK: Infinity, topP: 1 };
  try {
    if (isSparseLogitsFile(c.offlineLogits.path)) {
      const f = new SparseLogitsFile(c.offlineLogits.path);
      footer = f.footer;
      f.close();
    } else {
      const r = readOfflineFooter(c.offlineLogits.path);
      closeSync(r.fd);
      footer = r.footer;
      // topK 0 keeps every token (as the losses' topK option).
      kept = { topK: r.footer.topK > 0 ? r.footer.topK : Infinity, topP: r.footer.topP };
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KdgpuError(`offlineLogits.path: ${code === 'ENOENT' ? `${resolve(c.offlineLogits.path)} does not exist; write it first with \`kdgpu logits CONFIG\`` : (e as Error).message}`);
  }
  if (footer.blockSize !== c.data.blockSize) {
    throw new KdgpuError(`offlineLogits.path: ${c.offlineLogits.path} holds blocks of ${footer.blockSize} tokens but data.blockSize is ${c.data.blockSize}; set data.blockSize to ${footer.blockSize} or recompute the logits`);
  }
  const truncated = kept.topK < footer.vocabSize || kept.topP < 1 ? { topK: Math.min(kept.topK, footer.vocabSize), topP: kept.topP } : undefined;
  return { vocabSize: footer.vocabSize, blockSize: footer.blockSize, ...(truncated ? { truncated } : {}) };
}

/**
 * Loads the teachers the config names as {@link TeacherSpec}s: the models (weights on the GPU,
 * with their tokenizers), or the stored logits of `offlineLogits` (check them against the token
 * stream with `checkOfflineLogitsData` once it is tokenized). `dispose()` frees the teacher models.
 */
export async function loadTeachers(c: TrainConfig, facts: readonly TeacherFacts[]): Promise<{ specs: TeacherSpec[]; dispose: () => void }> {
  if (c.offlineLogits) {
    const path = c.offlineLogits.path;
    const info = inspectOfflineLogits(c)!;
    if (isSparseLogitsFile(path)) {
      const s = sparseOfflineTeacher(path, info.vocabSize);
      return { specs: [{ kind: 'offline', vocabSize: info.vocabSize, logits: s.teacher, sparse: true, name: path }], dispose: s.close };
    }
    const logits = await offlineTeacher(path, info.vocabSize);
    return { specs: [{ kind: 'offline', vocabSize: info.vocabSize, logits, name: path, ...(info.truncated ? { truncated: info.truncated } : {}) }], dispose: () => {} };
  }
  const models: CausalLM[] = [];
  const specs: TeacherSpec[] = [];
  try {
    for (const [i, f] of facts.entries()) {
      const model = await loadModel(f.path);
      models.push(model);
      specs.push({ kind: 'model', model, tokenizer: f.tokenizer, weight: c.teachers[i]!.weight, name: f.path });
    }
  } catch (e) {
    for (const m of models) m.dispose();
    throw e;
  }
  return { specs, dispose: () => models.forEach((m) => m.dispose()) };
}
