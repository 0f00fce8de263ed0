/**
 * The tokenizer worker: trains the Baby Llama byte-level BPE tokenizer on the page's text off the
 * main thread, posting progress as it goes, then encodes the train and validation splits.
 * @module
 */
import { babyLlamaTokenizerOptions, linesOf, trainBpe } from '@kdgpu/tokenizer';
import type { TrainTokenizerRequest, WorkerReply } from './protocol.ts';

// The DOM lib types `self` as a Window; in a worker it is a DedicatedWorkerGlobalScope.
const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<TrainTokenizerRequest>) => void) | null;
  postMessage(message: WorkerReply, transfer?: Transferable[]): void;
};

const CHUNK = 64 * 1024;

/** UTF-8 chunks of `text`, so the counting phase reports progress as it reads. */
function* chunksOf(bytes: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += CHUNK) yield bytes.subarray(i, i + CHUNK);
}

/** Posts at most one progress message per 50 ms, but always the first and last of a phase. */
function progressPoster(): (phase: 'count' | 'merge' | 'encode', done: number, total: number) => void {
  let last = 0;
  let lastPhase = '';
  return (phase, done, total) => {
    const now = performance.now();
    if (phase === lastPhase && now - last < 50 && done < total) return;
    last = now;
    lastPhase = phase;
    scope.postMessage({ type: 'progress', phase, done, total });
  };
}

async function handle(req: TrainTokenizerRequest): Promise<void> {
  const t0 = performance.now();
  const post = progressPoster();
  const bytes = new TextEncoder().encode(req.trainText);
  const source = { ...linesOf(chunksOf(bytes), 'text'), size: bytes.length };
  const tok = await trainBpe(
    source,
    babyLlamaTokenizerOptions({ vocabSize: req.vocabSize, showProgress: (p) => post(p.phase, p.done, p.total) }),
  );
  // Whole texts, as the CLI's tokenizeFiles does (a prefix space only at the very start).
  const total = req.trainText.length + req.evalText.length;
  post('encode', 0, total);
  const trainIds = Int32Array.from(tok.encode(req.trainText, { addSpecialTokens: false }).ids);
  post('encode', req.trainText.length, total);
  const evalIds = Int32Array.from(tok.encode(req.evalText, { addSpecialTokens: false }).ids);
  post('encode', total, total);
  const reply: WorkerReply = {
    type: 'done',
    tokenizerJson: tok.serialize(false),
    vocabSize: tok.vocabSize,
    trainIds,
    evalIds,
    seconds: (performance.now() - t0) / 1000,
  };
  scope.postMessage(reply, [trainIds.buffer, evalIds.buffer]);
}

scope.onmessage = (ev) => {
  handle(ev.data).catch((err: unknown) => {
    scope.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  });
};
scope.postMessage({ type: 'ready' });
