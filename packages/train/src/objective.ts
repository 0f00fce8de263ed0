/**
 * The distillation objective, assembled from a config's `distill` section and the teachers given
 * as values: the loss looked up by name in `@kdgpu/losses`' registry (which checks its options),
 * the teachers (models in memory, or stored logits), ensembles and their weights, and the
 * alignment of vocabularies. Browser-safe: the CLI loads teachers from disk and calls
 * {@link buildObjective}; the in-browser demo calls it with the teacher it just trained.
 *
 * Vocabularies: a teacher reads the student's token ids, so it must share the student's tokenizer
 * (checked when both tokenizers are known) and have a row for each of its ids. Same tokenizer and
 * vocabulary: plain. Same tokenizer, padded rows (e.g. 152064 vs 151936): the loss runs over the
 * shared ids and the dropped rows are reported. Different tokenizers: refused for a loss that
 * compares distributions token id by token id; with a cross-vocabulary loss (`uld`) the teacher
 * reads the same text tokenized its own way.
 *
 * Adding a teacher source (e.g. sparse stored logits): a variant of {@link TeacherSpec}, its case
 * in `buildObjective`'s switch, and the matching {@link TeacherSource} the step reads.
 * @module
 */

import { KdgpuError, type Tensor } from '@kdgpu/tensor';
import { createLoss, lossInfo, type LossInfo, type SparseTeacher } from '@kdgpu/losses';
import type { CausalLM } from '@kdgpu/models';
import type { Tokenizer } from '@kdgpu/tokenizer';
import type { Batch } from './blocks.ts';
import { hash64 } from './checksum.ts';
import type { DistillConfig, KdReduction } from './config-schema.ts';
import type { DistillPart } from './step.ts';
import { checkVocabulary } from './vocab.ts';

/** A teacher as {@link buildObjective} takes it. */
export type TeacherSpec =
  | {
      kind: 'model';
      /** The teacher model (frozen; the objective runs it under no-grad). */
      model: CausalLM;
      /** Its tokenizer, when known: compared with the student's; needed by cross-vocabulary losses. */
      tokenizer?: Tokenizer | null;
      /** Weight in an ensemble (normalised over the teachers). Default 1. */
      weight?: number;
      /** Where it came from, for messages (a folder, a config field). */
      name: string;
    }
  | {
      kind: 'offline';
      /** The vocabulary the stored logits cover. */
      vocabSize: number;
      /**
       * Teacher logits [B, T, V] for a batch, already ensembled and truncated when stored; or, from
       * a sparse file (`sparse`), the batch's top-k ids, log-probabilities and tail.
       */
      logits: (batch: Batch) => Tensor | SparseTeacher;
      /** The file is sparse (top-k + tail): the loss takes `distill.lossOptions.missingMass`. */
      sparse?: boolean;
      /** A dense file that kept only some tokens per position (the rest stored as -inf). */
      truncated?: { topK: number; topP: number };
      name: string;
    };


/** Inputs of {@link buildObjective}. */
export interface ObjectiveOptions {
  /** The validated `distill` section of a config. */
  distill: DistillConfig;
  /** The student: its vocabulary, its tokenizer when known, and a name for messages. */
  student: { vocabSize: number; tokenizer?: Tokenizer | null; name?: string };
  teachers: readonly TeacherSpec[];
  /** Receives one-line notes (padded vocabularies, cross-tokenizer alignment). */
  log?: (message: string) => void;
}

/** What decides how a tokenizer maps text to ids: vocabulary, merges, added tokens, normalizer, pre-tokenizer. */
function tokenizerIdentity(t: Tokenizer): string {
  const j = JSON.parse(t.serialize(false));
  return JSON.stringify([j.model?.vocab, j.model?.merges, j.added_tokens?.map((x: { id: number; content: string }) => [x.id, x.content]), j.normalizer, j.pre_tokenizer]);
}

/** Whether two tokenizers map text to the same ids (same vocabulary, merges, added tokens, normalizer and pre-tokenizer). */
export function sameTokenizer(a: Tokenizer, b: Tokenizer): boolean {
  return tokenizerIdentity(a) === tokenizerIdentity(b);
}

/** A short key of what {@link sameTokenizer} compares (stored in files made for one tokenizer). */
export function tokenizerKey(t: Tokenizer): string {
  return hash64(new TextEncoder().encode(tokenizerIdentity(t)));
}

/** The loss named by `distill.loss`, with errors that name the config field. */
function lossOf(d: DistillConfig): LossInfo {
  try {
    return lossInfo(d.loss);
  } catch (e) {
    throw new KdgpuError(`distill.loss: ${(e as Error).message}`);
  }
}

/** Binds the loss's options; unknown or invalid ones are reported as config fields. */
function bind(d: DistillConfig, options: Record<string, unknown>) {
  try {
    return createLoss(d.loss, options);
  } catch (e) {
    throw new KdgpuError(`distill.lossOptions: ${(e as Error).message.replace(/^createLoss: /, '')}`);
  }
}

/** The options the config's own fields contribute (temperature, ensemble, chunks), where the loss takes them. */
function configOptions(info: LossInfo, d: DistillConfig, weights: number[] | null): Record<string, unknown> {
  const keys = new Set(info.options);
  const out: Record<string, unknown> = {};
  if (keys.has('temperature')) out.temperature = d.temperature;
  if (keys.has('ensemble') && weights && weights.length > 1) {
    out.ensemble = d.ensemble;
    out.teacherWeights = weights;
  }
  if (keys.has('chunks')) out.chunks = d.chunks;
  return out;
}

/**
 * The distillation part of the objective (`train()`'s `distill` option) from a config's `distill`
 * section and the teachers. Checks, before any step: the loss name and options (by the losses
 * registry), the teacher kinds the loss can use, and every vocabulary (teacher against the
 * student's tokenizer and vocabulary). Errors name the config field or the teacher, and the fix.
 */
export function buildObjective(o: ObjectiveOptions): DistillPart {
  const d = o.distill;
  const info = lossOf(d);
  const say = o.log ?? (() => {});
  // The loss gives per-position values; the step reduces them over the optimizer window as
  // `reduction` says (step.ts), so the gradient does not depend on how a window is split.
  const { reduction: asked, ...lossOptions } = d.lossOptions as Record<string, unknown>;
  const reduction = (asked ?? 'mean') as KdReduction; // the schema allows only KD_REDUCTIONS
  const perPosition = { ...lossOptions, reduction: 'none' };
  if (!info.needsTeacher) throw new KdgpuError(`distill.loss: "${d.loss}" compares no teacher (it is the plain cross-entropy term); choose a distillation loss, e.g. forwardKL`);
  if (o.teachers.length === 0) throw new KdgpuError('distill: no teacher: give teachers (saved models) or offlineLogits');
  const studentName = o.student.name ?? 'the student';
  const Vs = o.student.vocabSize;
  const studentTok = o.student.tokenizer ?? null;
  const offline = o.teachers.filter((t) => t.kind === 'offline');
  const models = o.teachers.filter((t) => t.kind === 'model');
  if (offline.length > 0 && (offline.length > 1 || models.length > 0)) {
    throw new KdgpuError('distill: stored teacher logits (offlineLogits) already hold the ensemble; give them alone, without teachers run live');
  }

  if (info.crossVocabulary) {
    const t = o.teachers[0]!;
    if (o.teachers.length !== 1 || t.kind !== 'model') {
      throw new KdgpuError(`distill.loss "${d.loss}": cross-tokenizer distillation takes exactly one teacher model (no ensemble, no offline logits)`);
    }
    if (!studentTok) throw new KdgpuError(`distill.loss "${d.loss}": the student's tokenizer is needed to decode the training text`);
    const tt = t.tokenizer;
    if (!tt) throw new KdgpuError(`distill.loss "${d.loss}": the teacher's tokenizer is needed to tokenize the text its way; set teachers[0].tokenizer (none found for ${t.name})`);
    const note = checkVocabulary({ model: { vocabSize: t.model.config.vocab_size, name: `teacher ${t.name}` }, tokenizer: { vocabSize: tt.vocabSize, name: "the teacher's tokenizer" } });
    if (note) say(note);
    const cfg = t.model.config;
    const maxPos = cfg.model_type === 'llama' ? cfg.max_position_embeddings : cfg.n_positions;
    // The same text for the teacher: each student row decoded, then encoded with the teacher's
    // tokenizer; rows cut to the shortest (positions are compared up to the shorter side).
    const retokenize = (batch: Batch) => {
      const [B, T] = batch.shape;
      const rows = Array.from({ length: B }, (_, r) => tt.encode(studentTok.decode(Array.from(batch.ids.subarray(r * T, (r + 1) * T))), { addSpecialTokens: false }).ids);
      const n = Math.max(1, Math.min(maxPos, ...rows.map((x) => x.length)));
      const ids = new Int32Array(B * n);
      rows.forEach((x, r) => ids.set(x.slice(0, n), r * n));
      return { ids, shape: [B, n] as [number, number] };
    };
    say(`distillation across tokenizers (${d.loss}): teacher vocabulary ${cfg.vocab_size}, student ${Vs}`);
    const loss = bind(d, { ...configOptions(info, d, null), ...perPosition });
    return { loss, teachers: { kind: 'models', models: [t.model], retokenize }, reduction };
  }

  const first = o.teachers[0]!;
  switch (first.kind) {
    case 'offline': {
      if (first.vocabSize !== Vs) {
        throw new KdgpuError(`offline logits ${first.name} cover a vocabulary of ${first.vocabSize}, ${studentName} has ${Vs}: compute them again with \`kdgpu logits\` for this student's tokenizer`);
      }
      // The stored logits are already truncated and ensembled: the loss must not do it again.
      const { topK: _k, topP: _p, ensemble: _e, teacherWeights: _w, ...rest } = { ...configOptions(info, d, null), ...perPosition } as Record<string, unknown>;
      if (!first.sparse && rest.missingMass !== undefined) {
        throw new KdgpuError(`distill.lossOptions.missingMass: applies to sparse stored logits only, and ${first.name} holds truncated logits; remove missingMass, or write a sparse file with \`kdgpu logits CONFIG --top-k K\``);
      }
      // The losses own which of them a truncated teacher leaves exact (`lossInfo().exactOnTruncatedTeacher`).
      if (first.truncated && !info.exactOnTruncatedTeacher) {
        const kept = first.truncated.topK < Vs ? `the top ${first.truncated.topK} of ${Vs} tokens` : `top-p ${first.truncated.topP}`;
        say(`warning: ${first.name} keeps ${kept} per position and "${d.loss}" counts 0 wherever the teacher has no logit, so the student's mass outside the kept tokens is not penalised (its KD term can go negative); for this loss keep the whole vocabulary (offlineLogits.topK = ${Vs}, topP = 1) or write a sparse file with a tail (\`kdgpu logits CONFIG --top-k K\`)`);
      }
      if (first.sparse && d.loss === 'logitMSE') {
        throw new KdgpuError(`distill.loss "logitMSE" compares raw teacher logits, which the sparse file ${first.name} does not hold; choose a divergence (e.g. forwardKL), or use dense offline logits`);
      }
      return { loss: bind(d, rest), teachers: { kind: 'offline', logits: first.logits }, reduction };
    }
    case 'model': {
      const teachers = models as Extract<TeacherSpec, { kind: 'model' }>[];
      let shared: number | undefined;
      for (const t of teachers) {
        const Vt = t.model.config.vocab_size;
        const tt = t.tokenizer ?? null;
        const same = tt && studentTok ? sameTokenizer(tt, studentTok) : null;
        const describe = `teacher ${t.name} (vocabulary ${Vt}${tt ? `, tokenizer of ${tt.vocabSize} tokens` : ', tokenizer unknown'}) and ${studentName} (vocabulary ${Vs}${studentTok ? `, tokenizer of ${studentTok.vocabSize} tokens` : ''})`;
        if (same === false) {
          throw new KdgpuError(
            `${describe} use different tokenizers: "${d.loss}" compares the two distributions token id by token id, which would train on wrong log-probabilities. ` +
              'Use a cross-tokenizer loss (distill.loss = "uld", Universal Logit Distillation), or distil from a teacher trained with the student\'s tokenizer.',
          );
        }
        // The teacher reads the student's ids: it needs a row for each.
        if (studentTok) checkVocabulary({ model: { vocabSize: Vt, name: `teacher ${t.name}` }, tokenizer: { vocabSize: studentTok.vocabSize, name: "the student's tokenizer" }, fix: "Distil from a teacher trained with the student's tokenizer" });
        if (Vt !== Vs) {
          if (same === null) {
            throw new KdgpuError(`${describe} differ in vocabulary size and the tokenizers cannot be compared: set teachers[].tokenizer to the teacher's tokenizer.json (if it is the student's, the padded rows are dropped), or use distill.loss = "uld"`);
          }
          const n = Math.min(Vt, Vs);
          if (shared !== undefined && shared !== n) throw new KdgpuError('teachers: padded vocabularies of different sizes in one ensemble are not supported');
          shared = n;
          say(`same tokenizer, padded vocabulary: distilling over the ${n} shared ids, dropping ${Math.abs(Vt - Vs)} ${Vt > Vs ? 'teacher' : 'student'} rows`);
        }
      }
      const weights = teachers.map((t) => t.weight ?? 1);
      const loss = bind(d, { ...configOptions(info, d, weights), ...perPosition });
      return { loss, teachers: { kind: 'models', models: teachers.map((t) => t.model) }, reduction, sharedVocab: shared };
    }
    default:
      return first satisfies never;
  }
}
