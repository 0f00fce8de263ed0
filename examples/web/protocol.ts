/**
 * Messages between the page (main.ts) and the tokenizer worker (worker.ts). Token ids travel as
 * transferred Int32Array buffers, the tokenizer as its Hugging Face `tokenizer.json` text.
 * @module
 */

/** Page → worker: train a BPE tokenizer on `trainText` and encode both splits. */
export interface TrainTokenizerRequest {
  type: 'train';
  trainText: string;
  evalText: string;
  vocabSize: number;
}

/** Worker → page: the worker's script has loaded (sent once, at start). */
export interface WorkerLoaded {
  type: 'ready';
}

/** Worker → page: where training is (count: bytes read; merge: vocabulary size reached). */
export interface TokenizerProgress {
  type: 'progress';
  phase: 'count' | 'merge' | 'encode';
  done: number;
  total: number;
}

/** Worker → page: the trained tokenizer and the token streams (no BOS/EOS, as Baby Llama). */
export interface TokenizerDone {
  type: 'done';
  tokenizerJson: string;
  vocabSize: number;
  trainIds: Int32Array;
  evalIds: Int32Array;
  seconds: number;
}

/** Worker → page: training failed. */
export interface TokenizerFailed {
  type: 'error';
  message: string;
}

export type WorkerReply = WorkerLoaded | TokenizerProgress | TokenizerDone | TokenizerFailed;
