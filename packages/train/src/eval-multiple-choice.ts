/**
 * Multiple-choice scoring as lm-evaluation-harness does it (`ConfigurableTask.process_results` for
 * `output_type: multiple_choice`, at 4e7e0d4): each choice c is scored as the continuation
 * `target_delimiter + c` of the context, and
 * - `acc`      = [argmax_c ll_c == gold],
 * - `acc_norm` = [argmax_c ll_c / len(c) == gold], len(c) the character (code point) length of the
 *   choice without the delimiter,
 * with ties going to the lower index (`np.argmax`). Browser-safe.
 * @module
 */
import type { ContinuationScorer, LoglikRequest } from './eval-loglik.ts';
import { type JsonlRecord, optionalStringField, parseJsonl, stringField } from './eval-jsonl.ts';

/** One item: a context, its choices, and the index of the right one. */
export interface MultipleChoiceItem {
  context: string;
  choices: string[];
  /** Index into `choices`. */
  gold: number;
  /** Optional identifier, carried to the result. */
  id?: string;
}

/** Scores of one item. */
export interface MultipleChoiceItemResult {
  /** Summed log-likelihood of each choice (nats). */
  loglik: number[];
  /** Index picked by `acc` (argmax of `loglik`). */
  pred: number;
  /** Index picked by `acc_norm` (argmax of `loglik[i] / len(choices[i])`). */
  predNorm: number;
  acc: 0 | 1;
  accNorm: 0 | 1;
}

/** Scores of a set: per item, and the means over items. */
export interface MultipleChoiceResult {
  items: MultipleChoiceItemResult[];
  /** Mean of `acc` over items, in [0, 1]. */
  acc: number;
  /** Mean of `acc_norm` over items, in [0, 1]. */
  accNorm: number;
  n: number;
}

/** Options of {@link evaluateMultipleChoice}. */
export interface MultipleChoiceOptions {
  /** Put between the context and each choice (the harness' default `target_delimiter`, " "). */
  targetDelimiter?: string;
}

/**
 * Index of the largest value, the first one on ties (as `np.argmax`, which also returns the first
 * NaN if there is one). Throws on an empty array.
 */
export function argmaxFirst(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('argmaxFirst: empty array');
  let best = 0;
  for (let i = 0; i < xs.length; i++) {
    if (Number.isNaN(xs[i])) return i;
    if (xs[i]! > xs[best]!) best = i;
  }
  return best;
}

/** Length of a string in characters as Python's `len` counts them (Unicode code points, not UTF-16 units). */
export function charLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function checkItem(item: MultipleChoiceItem, where: string): void {
  if (item.choices.length < 1) throw new Error(`${where}: "choices" is empty; give at least one choice`);
  if (!Number.isInteger(item.gold) || item.gold < 0 || item.gold >= item.choices.length) {
    throw new Error(`${where}: "gold" must be an integer index into choices (0..${item.choices.length - 1}), got ${item.gold}`);
  }
  item.choices.forEach((c, i) => {
    // acc_norm divides by the length: an empty choice has none.
    if (typeof c !== 'string' || c === '') throw new Error(`${where}: choices[${i}] must be a non-empty string, got ${JSON.stringify(c)}`);
  });
}

/** `acc` and `acc_norm` of one item from its choices' log-likelihoods. */
export function scoreMultipleChoice(loglik: readonly number[], choices: readonly string[], gold: number): MultipleChoiceItemResult {
  if (loglik.length !== choices.length) throw new Error(`scoreMultipleChoice: ${loglik.length} log-likelihoods for ${choices.length} choices`);
  const pred = argmaxFirst(loglik);
  const predNorm = argmaxFirst(loglik.map((ll, i) => ll / charLength(choices[i]!)));
  return { loglik: [...loglik], pred, predNorm, acc: pred === gold ? 1 : 0, accNorm: predNorm === gold ? 1 : 0 };
}

/**
 * Scores every choice of every item with `scorer` (one call with all requests, so it can batch)
 * and returns `acc` / `acc_norm` per item and their means. Throws when `items` is empty.
 */
export async function evaluateMultipleChoice(scorer: ContinuationScorer, items: readonly MultipleChoiceItem[], opts: MultipleChoiceOptions = {}): Promise<MultipleChoiceResult> {
  if (items.length === 0) throw new Error('evaluateMultipleChoice: no items to evaluate');
  const delim = opts.targetDelimiter ?? ' ';
  items.forEach((it, i) => checkItem(it, `evaluateMultipleChoice: item ${i}${it.id ? ` (${it.id})` : ''}`));
  const requests: LoglikRequest[] = items.flatMap((it) => it.choices.map((c) => ({ context: it.context, continuation: delim + c })));
  const ll = await scorer(requests);
  if (ll.length !== requests.length) throw new Error(`evaluateMultipleChoice: the scorer returned ${ll.length} scores for ${requests.length} requests`);
  let k = 0;
  const results = items.map((it) => {
    const r = scoreMultipleChoice(ll.slice(k, k + it.choices.length), it.choices, it.gold);
    k += it.choices.length;
    return r;
  });
  const mean = (f: (r: MultipleChoiceItemResult) => number) => results.reduce((a, r) => a + f(r), 0) / results.length;
  return { items: results, acc: mean((r) => r.acc), accNorm: mean((r) => r.accNorm), n: results.length };
}

function toItem(rec: JsonlRecord, source: string): MultipleChoiceItem {
  const where = `${source}:${rec.line}`;
  const choices = rec.value.choices;
  if (!Array.isArray(choices) || !choices.every((c) => typeof c === 'string')) {
    throw new Error(`${where}: field "choices" must be an array of strings, got ${JSON.stringify(choices)}`);
  }
  const item: MultipleChoiceItem = {
    context: stringField(rec, 'context', source, { allowEmpty: true }),
    choices,
    gold: rec.value.gold as number,
  };
  const id = optionalStringField(rec, 'id', source);
  if (id !== undefined) item.id = id;
  checkItem(item, where);
  return item;
}

/**
 * Parses multiple-choice JSON Lines: `{"context": string, "choices": string[], "gold": int, "id"?: string}`
 * per line. Errors name `source` and the line.
 */
export function parseMultipleChoice(text: string, source = 'multiple-choice.jsonl'): MultipleChoiceItem[] {
  return parseJsonl(text, source).map((rec) => toItem(rec, source));
}
