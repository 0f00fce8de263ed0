/**
 * DistilLlama's query evaluation (HenryHHHH/DistilLlama model card): for each
 * `{query, keyword, reference}`, greedily generate a continuation of the query and score it by
 * keyword exact match, ROUGE-L F and cosine similarity against the reference. The card names no
 * embedding model for the cosine (UNVERIFIED), so here the vectors are bags of the evaluated
 * model's own input embeddings. Browser-safe.
 * @module
 */
import { noGrad, type Tensor, tensor, tidy } from '@kdgpu/tensor';
import { type CausalLM, generate } from '@kdgpu/models';
import { type EvalTokenizer, maxPositions, prefixTokenId } from './eval-loglik.ts';
import { optionalStringField, parseJsonl, stringField } from './eval-jsonl.ts';
import { cosineSimilarity, keywordMatch, type RougeScore, rougeL } from './eval-text-metrics.ts';

/** One query: a prompt, the keyword a right answer contains, and a reference answer sentence. */
export interface QueryItem {
  query: string;
  keyword: string;
  reference: string;
  id?: string;
}

/** Scores of one query. */
export interface QueryItemResult {
  id?: string;
  query: string;
  keyword: string;
  reference: string;
  /** The generated tokens after the query (end-of-sequence tokens removed). */
  tokens: number[];
  /** The decoded continuation (without the query). */
  continuation: string;
  /** Keyword exact match (case-sensitive substring of the compared text). */
  em: 0 | 1;
  /** ROUGE-L of the compared text against the reference. */
  rougeL: RougeScore;
  /** Cosine similarity of the bag-of-embeddings vectors of the compared text and the reference. */
  cosine: number;
}

/** Scores of a query set: per item and means over items. */
export interface QueryResult {
  items: QueryItemResult[];
  /** Mean keyword exact match, in [0, 1]. */
  em: number;
  /** Mean ROUGE-L F, in [0, 1]. */
  rougeL: number;
  /** Mean cosine similarity, in [-1, 1]. */
  cosine: number;
  n: number;
}

/** Turns texts into vectors of one width (for the cosine metric). */
export type TextEmbedder = (texts: readonly string[]) => Promise<ArrayLike<number>[]>;

/** Options of {@link scoreResponses}. */
export interface ScoreResponsesOptions {
  /**
   * Compare `query + continuation` instead of the continuation alone (default false: the query
   * often restates part of the reference, which would inflate every metric).
   */
  includeQuery?: boolean;
}

/** Options of {@link evaluateQueries}. */
export interface QueryOptions extends ScoreResponsesOptions {
  /** New tokens generated per query, at most (default 32; the card does not say). */
  maxNewTokens?: number;
  /** Queries generated together, among those with equal token counts (default 8). */
  batchSize?: number;
  /** Token id(s) that end a continuation early. Default: the config's eos_token_id; null: never. */
  eosTokenId?: number | number[] | null;
  /** Put the prefix token (see `bosId`) before each query, for models trained with BOS (default false). */
  addBos?: boolean;
  /** The prefix token (default: the config's BOS, else EOS); also used for an empty query. */
  bosId?: number;
}

/** The input-embedding matrix [V, C] of a model, by its Hugging Face name. */
export function inputEmbeddings(model: CausalLM): Tensor {
  const cfg = model.config;
  let name: string;
  switch (cfg.model_type) {
    case 'llama':
      name = 'model.embed_tokens.weight';
      break;
    case 'gpt2':
      name = 'transformer.wte.weight';
      break;
    default:
      return cfg satisfies never;
  }
  const w = model.parameters().get(name);
  if (!w) throw new Error(`inputEmbeddings: the ${cfg.model_type} model has no parameter "${name}"`);
  return w;
}

/**
 * A {@link TextEmbedder} from the model's own input embeddings: each text becomes the mean of the
 * embedding rows of its tokens (encoded without special tokens), float64 [C]; a text with no
 * tokens gives the zero vector (cosine 0). All rows are gathered on the GPU and read back once per
 * call. This stands in for the card's unnamed "word embeddings", so numbers are comparable between
 * models of this project only when they share the tokenizer, and not with the card's.
 */
export function modelEmbedder(model: CausalLM, tok: EvalTokenizer): (texts: readonly string[]) => Promise<Float64Array[]> {
  return async (texts) => {
    const emb = inputEmbeddings(model);
    const [V, C] = emb.shape as [number, number];
    const lists = texts.map((t) => Array.from(tok.encode(t, { addSpecialTokens: false }).ids));
    const all = lists.flat();
    for (const id of all) {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`modelEmbedder: token id ${id} is outside the model's vocabulary of ${V}; the tokenizer does not match the model`);
    }
    let rows: Float32Array | Int32Array = new Float32Array(0);
    if (all.length > 0) {
      const picked = noGrad(() => tidy(() => emb.indexSelect(0, tensor(Int32Array.from(all), { shape: [all.length], dtype: 'i32' })))); // [N, C]
      try {
        rows = await picked.data();
      } finally {
        picked.dispose();
      }
    }
    let k = 0;
    return lists.map((ids) => {
      const v = new Float64Array(C);
      for (let i = 0; i < ids.length; i++, k++) for (let c = 0; c < C; c++) v[c] += rows[k * C + c]!;
      if (ids.length > 0) for (let c = 0; c < C; c++) v[c] /= ids.length;
      return v;
    });
  };
}

/**
 * Scores given continuations of `items` (same order): keyword exact match, ROUGE-L and the cosine
 * of `embed`'s vectors of the compared text and the reference (`embed` is called once, with all
 * texts). Throws when `items` is empty.
 */
export async function scoreResponses(items: readonly QueryItem[], continuations: readonly string[], embed: TextEmbedder, opts: ScoreResponsesOptions = {}, tokens?: readonly number[][]): Promise<QueryResult> {
  if (items.length === 0) throw new Error('scoreResponses: no queries to score');
  if (continuations.length !== items.length) throw new Error(`scoreResponses: ${continuations.length} continuations for ${items.length} queries`);
  const compared = items.map((it, i) => (opts.includeQuery ? it.query + continuations[i]! : continuations[i]!));
  const vecs = await embed([...compared, ...items.map((it) => it.reference)]);
  const results = items.map((it, i): QueryItemResult => ({
    ...(it.id !== undefined ? { id: it.id } : {}),
    query: it.query,
    keyword: it.keyword,
    reference: it.reference,
    tokens: [...(tokens?.[i] ?? [])],
    continuation: continuations[i]!,
    em: keywordMatch(it.keyword, compared[i]!),
    rougeL: rougeL(compared[i]!, it.reference),
    cosine: cosineSimilarity(vecs[i]!, vecs[items.length + i]!),
  }));
  const mean = (f: (r: QueryItemResult) => number) => results.reduce((a, r) => a + f(r), 0) / results.length;
  return { items: results, em: mean((r) => r.em), rougeL: mean((r) => r.rougeL.f), cosine: mean((r) => r.cosine), n: results.length };
}

/**
 * Greedy continuations (temperature 0) of each query, up to `maxNewTokens` tokens, stopping at an
 * end-of-sequence token, which is dropped. Queries are encoded without special tokens (with the
 * prefix token first when `addBos`), left-truncated so prompt + new tokens fit the model, and
 * generated in batches of equal prompt length.
 */
export async function generateContinuations(model: CausalLM, tok: EvalTokenizer, queries: readonly string[], opts: QueryOptions = {}): Promise<{ tokens: number[][]; text: string[] }> {
  const maxNewTokens = opts.maxNewTokens ?? 32;
  const batchSize = opts.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`generateContinuations: batchSize must be a positive integer, got ${batchSize}`);
  const room = maxPositions(model.config) - maxNewTokens;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1 || room < 1) {
    throw new Error(`generateContinuations: maxNewTokens must be an integer in [1, ${maxPositions(model.config) - 1}] (the model's max positions minus one for the prompt), got ${maxNewTokens}`);
  }
  const eosOpt = opts.eosTokenId === undefined ? model.config.eos_token_id : opts.eosTokenId;
  const eos = new Set(eosOpt === null ? [] : Array.isArray(eosOpt) ? eosOpt : [eosOpt]);
  const prompts = queries.map((q) => {
    const ids = Array.from(tok.encode(q, { addSpecialTokens: false }).ids);
    if (!opts.addBos && ids.length > 0) return ids.slice(-room);
    // The prefix token stays first when the query is cut.
    return [prefixTokenId(model.config, opts.bosId), ...(room > 1 ? ids.slice(-(room - 1)) : [])];
  });
  const byLength = new Map<number, number[]>();
  prompts.forEach((p, i) => byLength.set(p.length, [...(byLength.get(p.length) ?? []), i]));
  const tokens: number[][] = prompts.map(() => []);
  for (const rows of byLength.values()) {
    for (let s = 0; s < rows.length; s += batchSize) {
      const chunk = rows.slice(s, s + batchSize);
      const out = await generate(model, chunk.map((i) => prompts[i]!), { maxNewTokens, temperature: 0, eosTokenId: eosOpt });
      chunk.forEach((i, b) => (tokens[i] = out.tokens[b]!.filter((id) => !eos.has(id))));
    }
  }
  return { tokens, text: tokens.map((t) => tok.decode(t)) };
}

/**
 * DistilLlama's query metrics: greedy continuations ({@link generateContinuations}), then keyword
 * exact match (case-sensitive), ROUGE-L F over whitespace tokens, and the cosine similarity of
 * bag-of-embeddings vectors made from the model's own input embeddings ({@link modelEmbedder};
 * the card's embedding model is unverified), per item and averaged. By default the continuation
 * alone is compared with the reference (`includeQuery` to prepend the query).
 */
export async function evaluateQueries(model: CausalLM, tok: EvalTokenizer, items: readonly QueryItem[], opts: QueryOptions = {}): Promise<QueryResult> {
  if (items.length === 0) throw new Error('evaluateQueries: no queries to evaluate');
  const gen = await generateContinuations(model, tok, items.map((it) => it.query), opts);
  return scoreResponses(items, gen.text, modelEmbedder(model, tok), opts, gen.tokens);
}

/**
 * Parses query JSON Lines: `{"query": string, "keyword": string, "reference": string, "id"?: string}`
 * per line. Errors name `source` and the line.
 */
export function parseQueries(text: string, source = 'queries.jsonl'): QueryItem[] {
  return parseJsonl(text, source).map((rec) => {
    const item: QueryItem = {
      query: stringField(rec, 'query', source),
      keyword: stringField(rec, 'keyword', source),
      reference: stringField(rec, 'reference', source),
    };
    const id = optionalStringField(rec, 'id', source);
    if (id !== undefined) item.id = id;
    return item;
  });
}
