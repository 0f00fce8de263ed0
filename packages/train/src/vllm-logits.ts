import type { SparseBlock } from './sparse-logits.ts';

/**
 * Teacher log-probabilities from vLLM's OpenAI-compatible server (`/v1/completions` with
 * `prompt_logprobs: K` and a token-id prompt), for a teacher too big to run here: the responses
 * become blocks of a sparse logits file (sparse-logits.ts). Browser-safe; streaming a JSONL file
 * is in vllm-logits-node.ts. No vLLM runs in kdgpu's tests: the fixtures follow the documented
 * response layout (train README, "Teacher logits from vLLM").
 *
 * A response's `choices[0].prompt_logprobs` has one entry per prompt token: `null` for the first
 * (nothing predicts it), then a map token id (a string) → `{ logprob, rank, decoded_token }`
 * holding the K most likely tokens at that position plus the prompt token itself when it is not
 * among them. Entry i is the distribution of token i given tokens < i; kdgpu's position t predicts
 * token t + 1, so position t of a block is entry t + 1 of a prompt holding the block and the token
 * after it (T + 1 tokens). A prompt of the block alone (the last block of a stream that ends there)
 * leaves position T − 1 without data: it gets no entries and all mass in the tail; its label is
 * −100 (nothing follows it), so no loss reads it.
 */

/** One listed token of a position. */
export interface VllmEntry {
  id: number;
  logprob: number;
  /** 1-based rank (null when absent). */
  rank: number | null;
  /** The server's text for the token (null when absent). */
  decoded: string | null;
}

/** A parsed response line. */
export interface VllmResponse {
  /** The prompt's token ids. */
  promptIds: number[];
  /** Per prompt token: its listed tokens (null for the first). */
  positions: Array<VllmEntry[] | null>;
  /** The request's `custom_id` (a `vllm run-batch` line), when present. */
  customId: string | null;
}

/** How kdgpu's tokenizer writes a token, to compare with the server's `decoded_token`. */
export interface TokenText {
  decode(ids: ArrayLike<number>): string;
  idToToken(id: number): string | undefined;
}

/** Errors of this reader start with this, then the file and line. */
export const VLLM_ERROR = 'vllm logits';

/** A value for a message: JSON, cut short (a hostile line may hold megabytes in one field). */
const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 60)}...` : s;
};
const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) < 2 ** 31;

/**
 * Parses one line: a `/v1/completions` response, or a `vllm run-batch` output line (`{custom_id,
 * response: {status_code, body}}`), with the prompt's token ids at the top level
 * (`prompt_token_ids`, added by the documented request loop) or in `choices[0].prompt_token_ids`
 * (vLLM's `return_token_ids`). Everything is checked: an error names `where` and the field.
 */
export function parseVllmLine(text: string, where: string): VllmResponse {
  const fail = (m: string): never => {
    throw new Error(`${VLLM_ERROR}: ${where}: ${m}`);
  };
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    return fail(`not JSON (${(e as Error).message.slice(0, 80)})`);
  }
  if (!isObj(j)) return fail('not a JSON object');
  let customId: string | null = typeof j.custom_id === 'string' ? j.custom_id : null;
  let body: Record<string, unknown> = j;
  if ('response' in j && !('choices' in j)) {
    // vllm run-batch: the completions response is response.body.
    if (j.error != null) fail(`the request failed: error ${show(j.error)}`);
    const r = j.response;
    if (!isObj(r) || !isObj(r.body)) return fail('response.body is missing (not a vllm run-batch output line)');
    if (r.status_code !== undefined && r.status_code !== 200) fail(`response.status_code is ${show(r.status_code)}, not 200: ${show(r.body)}`);
    body = r.body;
  }
  if ('error' in body && !('choices' in body)) fail(`the server answered an error: ${show(body.error ?? body)}`);
  const choices = body.choices;
  if (!Array.isArray(choices) || !isObj(choices[0])) return fail('choices[0] is missing (not a /v1/completions response)');
  const c = choices[0];
  const ids = j.prompt_token_ids ?? body.prompt_token_ids ?? c.prompt_token_ids;
  if (!Array.isArray(ids)) return fail('no prompt_token_ids (add them as the documented request loop does, or pass "return_token_ids": true)');
  if (!ids.every(isId)) fail('prompt_token_ids holds something other than token ids');
  const pl = c.prompt_logprobs;
  if (!Array.isArray(pl)) return fail('choices[0].prompt_logprobs is missing: send "prompt_logprobs": K with the request');
  if (pl.length !== ids.length) fail(`choices[0].prompt_logprobs has ${pl.length} entries for a prompt of ${ids.length} tokens`);
  const positions = pl.map((p, i): VllmEntry[] | null => {
    if (p === null) {
      if (i === 0) return null;
      return fail(`choices[0].prompt_logprobs[${i}] is null (only the first may be)`);
    }
    if (!isObj(p)) return fail(`choices[0].prompt_logprobs[${i}] is not a map of token id -> logprob`);
    return Object.entries(p).map(([k, v]): VllmEntry => {
      const id = Number(k);
      if (!/^\d+$/.test(k) || !isId(id)) fail(`choices[0].prompt_logprobs[${i}] has key ${show(k)}, not a token id`);
      // Older servers give the bare logprob; current ones { logprob, rank, decoded_token }.
      const e = typeof v === 'number' ? { logprob: v } : v;
      if (!isObj(e)) return fail(`choices[0].prompt_logprobs[${i}][${show(k)}] is not {logprob, rank, decoded_token}`);
      const lp = e.logprob;
      if (typeof lp !== 'number' || Number.isNaN(lp) || lp > 1e-3) fail(`choices[0].prompt_logprobs[${i}][${show(k)}].logprob is ${show(lp)}, not a log-probability`);
      const rank = e.rank === undefined || e.rank === null ? null : Number.isSafeInteger(e.rank) && (e.rank as number) >= 1 ? (e.rank as number) : fail(`choices[0].prompt_logprobs[${i}][${show(k)}].rank is ${show(e.rank)}`);
      const decoded = typeof e.decoded_token === 'string' ? e.decoded_token : null;
      return { id, logprob: Math.min(0, lp as number), rank, decoded };
    });
  });
  if (positions.length > 0 && positions[0] !== null) fail('choices[0].prompt_logprobs[0] is not null (the first prompt token has no prediction)');
  if (customId === null && typeof body.custom_id === 'string') customId = body.custom_id;
  return { promptIds: ids as number[], positions, customId };
}

/** Whether the server's text for a token agrees with kdgpu's (its decoded text or its vocabulary string). */
function sameText(server: string, id: number, tok: TokenText): boolean {
  const mine = tok.decode([id]);
  // A byte-level token that is part of a UTF-8 character decodes to U+FFFD on both sides, in ways
  // that differ between implementations: such tokens say nothing about the tokenizer.
  if (server.includes('\uFFFD') || mine.includes('\uFFFD')) return true;
  return server === mine || server === tok.idToToken(id);
}

/** Options of {@link vllmBlock}. */
export interface VllmBlockOptions {
  /** Entries kept per position (the file's topK): the K most likely of those the server listed. */
  topK: number;
  /** kdgpu's vocabulary size. */
  vocabSize: number;
  /** kdgpu's tokenizer, to check the server's tokenizer against. */
  tokenizer: TokenText;
  /** For messages: "FILE line N". */
  where: string;
  /** For messages: the block's index. */
  block: number;
}

/**
 * The sparse block of one response for the block of kdgpu token ids `block` (T ids) followed by
 * `next` (the token after it; undefined at the end of the stream). Refuses a response whose prompt
 * differs from the block (other data, other order), that lists ids outside kdgpu's vocabulary, or
 * whose `decoded_token` texts differ from kdgpu's tokenizer's (another tokenizer), naming the line,
 * the position and the fix. The tail is log(1 − Σ p) in float64 (−Infinity when the listed tokens
 * hold it all).
 */
export function vllmBlock(r: VllmResponse, block: ArrayLike<number>, next: number | undefined, o: VllmBlockOptions): SparseBlock {
  const T = block.length;
  const fail = (m: string): never => {
    throw new Error(`${VLLM_ERROR}: ${o.where}: ${m}`);
  };
  const want = next === undefined ? T : T + 1;
  if (r.promptIds.length !== want) {
    fail(`the prompt has ${r.promptIds.length} tokens; block ${o.block} needs ${want} (its ${T} tokens${next === undefined ? '' : ' and the next one'}): make the requests with \`kdgpu logits CONFIG --vllm-requests FILE\``);
  }
  for (let i = 0; i < want; i++) {
    const mine = i < T ? block[i]! : next!;
    if (r.promptIds[i] !== mine) {
      fail(
        `prompt token ${i} is id ${r.promptIds[i]}, kdgpu's block ${o.block} has ${mine}: the responses are not in the order of the requests, or were made for other data or another tokenizer; ` +
          'keep the lines in request order (vllm run-batch: sort by custom_id) and make the requests from this config with `kdgpu logits CONFIG --vllm-requests FILE`',
      );
    }
  }
  const counts = new Uint16Array(T);
  const tail = new Float32Array(T);
  const ids: number[] = [];
  const lps: number[] = [];
  for (let t = 0; t < T; t++) {
    const entries = r.positions[t + 1];
    if (!entries) {
      tail[t] = 0; // no prediction for the block's last token: everything in the tail
      continue;
    }
    const target = r.promptIds[t + 1]!;
    for (const e of entries) {
      if (e.id >= o.vocabSize) fail(`position ${t + 1} lists token id ${e.id}, outside kdgpu's vocabulary of ${o.vocabSize}: the teacher's tokenizer is not the student's; use the teacher's tokenizer (tokenizer.path) for the student`);
      if (e.id === target && e.decoded !== null && !sameText(e.decoded, e.id, o.tokenizer)) {
        fail(
          `position ${t + 1}: the server decodes token id ${e.id} as ${JSON.stringify(e.decoded)}, kdgpu's tokenizer as ${JSON.stringify(o.tokenizer.decode([e.id]))}: ` +
            "the teacher's tokenizer is not the student's, so its log-probabilities are for other tokens; use the teacher's tokenizer.json as tokenizer.path, or a teacher with the student's tokenizer",
        );
      }
    }
    const kept = [...entries].sort((a, b) => b.logprob - a.logprob || (a.rank ?? 0) - (b.rank ?? 0) || a.id - b.id).slice(0, o.topK);
    let mass = 0;
    for (const e of kept) {
      ids.push(e.id);
      lps.push(e.logprob);
      mass += Math.exp(e.logprob);
    }
    if (mass > 1 + 1e-3) fail(`position ${t + 1}: the listed probabilities sum to ${mass.toFixed(6)} > 1: these are not log-probabilities at temperature 1; serve with --logprobs-mode raw_logprobs`);
    counts[t] = kept.length;
    tail[t] = mass >= 1 ? -Infinity : Math.log1p(-mass);
  }
  return { counts, ids: Int32Array.from(ids), logProbs: Float32Array.from(lps), tail };
}

/**
 * One request line for block `b` (`prompt`: its T token ids and the next one, when there is one), in
 * `vllm run-batch`'s input layout; its `body` alone is the `/v1/completions` request.
 */
export function vllmRequestLine(model: string, b: number, prompt: ArrayLike<number>, topK: number): string {
  const body = { model, prompt: Array.from(prompt), max_tokens: 1, temperature: 0, prompt_logprobs: topK, return_token_ids: true };
  return JSON.stringify({ custom_id: `block-${b}`, method: 'POST', url: '/v1/completions', body });
}
