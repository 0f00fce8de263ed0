/**
 * BLiMP-style minimal pairs, scored as lm-evaluation-harness' `blimp` tasks (`_template_yaml` at
 * 4e7e0d4): a multiple-choice task with an empty context and choices `[sentence_good,
 * sentence_bad]`, gold 0, so a pair is correct when
 * `log P(" " + good | prefix) >= log P(" " + bad | prefix)` (summed over the whole sentence; a tie
 * counts as correct, as `np.argmax` picks the first maximum). Browser-safe.
 * @module
 */
import type { ContinuationScorer, LoglikRequest } from './eval-loglik.ts';
import { type JsonlRecord, optionalStringField, parseJsonl, stringField } from './eval-jsonl.ts';
import { argmaxFirst } from './eval-multiple-choice.ts';

/** One minimal pair. The optional fields are BLiMP's own (`nyu-mll/blimp`). */
export interface MinimalPair {
  sentence_good: string;
  sentence_bad: string;
  /** BLiMP's paradigm id (e.g. "anaphor_gender_agreement"); pairs are grouped by it. */
  UID?: string;
  /** BLiMP's field (morphology, syntax, semantics, syntax_semantics). */
  field?: string;
  /** BLiMP's phenomenon (e.g. "anaphor agreement"). */
  linguistics_term?: string;
  /**
   * The group the pair is reported under: `UID` when present, else the name of the file it came
   * from (set by {@link parseMinimalPairs}), else "all".
   */
  group?: string;
}

/** Score of one pair. */
export interface MinimalPairResult {
  group: string;
  /** log P(" " + sentence_good | prefix token), nats. */
  good: number;
  /** log P(" " + sentence_bad | prefix token), nats. */
  bad: number;
  correct: boolean;
}

/** Accuracy of one group (a BLiMP paradigm or one file). */
export interface MinimalPairGroup {
  name: string;
  n: number;
  correct: number;
  /** correct / n. */
  accuracy: number;
}

/** Scores of a set of pairs. */
export interface MinimalPairsResult {
  items: MinimalPairResult[];
  /** Per group, in order of first appearance. */
  groups: MinimalPairGroup[];
  /**
   * Unweighted mean of the group accuracies (one vote per paradigm or file). The harness' own group
   * aggregation may weight by size instead (the rule is unverified; for BLiMP, whose 67 paradigms
   * have 1000 pairs each, both agree), so `accuracy`, pooled over all pairs, is given too.
   */
  mean: number;
  /** Correct pairs / all pairs. */
  accuracy: number;
  n: number;
}

/** Options of {@link evaluateMinimalPairs}. */
export interface MinimalPairsOptions {
  /** Put before each sentence (the harness' default `target_delimiter`, " "). */
  targetDelimiter?: string;
}

function groupOf(p: MinimalPair): string {
  return p.UID ?? p.group ?? 'all';
}

/**
 * Scores both sentences of every pair with `scorer` (empty context, so it conditions on the prefix
 * token; one call, so it can batch) and returns per-pair results, per-group accuracy and the mean
 * over groups. Throws when `pairs` is empty.
 */
export async function evaluateMinimalPairs(scorer: ContinuationScorer, pairs: readonly MinimalPair[], opts: MinimalPairsOptions = {}): Promise<MinimalPairsResult> {
  if (pairs.length === 0) throw new Error('evaluateMinimalPairs: no pairs to evaluate');
  const delim = opts.targetDelimiter ?? ' ';
  const requests: LoglikRequest[] = pairs.flatMap((p) => [
    { context: '', continuation: delim + p.sentence_good },
    { context: '', continuation: delim + p.sentence_bad },
  ]);
  const ll = await scorer(requests);
  if (ll.length !== requests.length) throw new Error(`evaluateMinimalPairs: the scorer returned ${ll.length} scores for ${requests.length} requests`);
  const items = pairs.map((p, i): MinimalPairResult => {
    const good = ll[2 * i]!;
    const bad = ll[2 * i + 1]!;
    return { group: groupOf(p), good, bad, correct: argmaxFirst([good, bad]) === 0 };
  });
  const byName = new Map<string, MinimalPairGroup>();
  for (const it of items) {
    const g = byName.get(it.group) ?? { name: it.group, n: 0, correct: 0, accuracy: 0 };
    g.n++;
    if (it.correct) g.correct++;
    byName.set(it.group, g);
  }
  const groups = [...byName.values()].map((g) => ({ ...g, accuracy: g.correct / g.n }));
  const correct = items.filter((it) => it.correct).length;
  return {
    items,
    groups,
    mean: groups.reduce((a, g) => a + g.accuracy, 0) / groups.length,
    accuracy: correct / items.length,
    n: items.length,
  };
}

function toPair(rec: JsonlRecord, source: string, group: string | undefined): MinimalPair {
  const pair: MinimalPair = {
    sentence_good: stringField(rec, 'sentence_good', source),
    sentence_bad: stringField(rec, 'sentence_bad', source),
  };
  for (const key of ['UID', 'field', 'linguistics_term'] as const) {
    const v = optionalStringField(rec, key, source);
    if (v !== undefined) pair[key] = v;
  }
  if (group !== undefined) pair.group = group;
  return pair;
}

/**
 * Parses minimal pairs from JSON Lines: `{"sentence_good": string, "sentence_bad": string}` per
 * line, plus BLiMP's other fields (`UID`, `field`, `linguistics_term`, ...; unknown fields are
 * ignored), so BLiMP's own `.jsonl` files load as they are. Pairs without a `UID` get `group`
 * (default: `source`, so several files report one accuracy each). Errors name `source` and the line.
 */
export function parseMinimalPairs(text: string, source = 'minimal-pairs.jsonl', group: string | undefined = source): MinimalPair[] {
  return parseJsonl(text, source).map((rec) => toPair(rec, source, group));
}
