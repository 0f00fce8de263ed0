/**
 * Text metrics of DistilLlama's query evaluation (model card of HenryHHHH/DistilLlama; no script is
 * published): keyword exact match, ROUGE-L over whitespace tokens, and cosine similarity of vectors.
 * Pure functions, browser-safe.
 * @module
 */

/**
 * 1 when `keyword` occurs in `text` as a substring, else 0. Case-sensitive and exact: the card's
 * example ("Paris" in "The capital of France is Paris.") keeps the capital, and nothing on the card
 * says answers are normalized, so "paris" does not match "Paris".
 */
export function keywordMatch(keyword: string, text: string): 0 | 1 {
  return text.includes(keyword) ? 1 : 0;
}

/** Whitespace-separated tokens of `text` (Python's `str.split()`): no case folding, punctuation stays attached. */
export function whitespaceTokens(text: string): string[] {
  return text.split(/\s+/u).filter((w) => w !== '');
}

/** Length of the longest common subsequence of two token sequences (O(|a|·|b|) time, O(|b|) memory). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Uint32Array(b.length + 1);
  let cur = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length]!;
}

/** ROUGE-L of a candidate against a reference, each in [0, 1]. */
export interface RougeScore {
  /** LCS / |candidate|. */
  precision: number;
  /** LCS / |reference|. */
  recall: number;
  /** 2PR / (P + R), 0 when P + R = 0. */
  f: number;
}

/**
 * ROUGE-L over whitespace tokens ({@link whitespaceTokens}): P = LCS/|candidate|,
 * R = LCS/|reference|, F = 2PR/(P+R) (the card gives P and R; F1 as the aggregate is this
 * project's choice). All three are 0 when either text has no tokens.
 */
export function rougeL(candidate: string, reference: string): RougeScore {
  const c = whitespaceTokens(candidate);
  const r = whitespaceTokens(reference);
  if (c.length === 0 || r.length === 0) return { precision: 0, recall: 0, f: 0 };
  const lcs = lcsLength(c, r);
  const precision = lcs / c.length;
  const recall = lcs / r.length;
  const f = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f };
}

/** Cosine similarity A·B / (‖A‖‖B‖) in float64; 0 when either vector is all zeros. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`cosineSimilarity: vectors of different lengths (${a.length} vs ${b.length})`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}
