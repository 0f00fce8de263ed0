/**
 * Training input. Hugging Face trains on files read line by line, each line (with its `\n`) being
 * one sequence, or on an iterator whose items are sequences. Both are offered here without
 * holding a whole file: byte chunks are decoded as they stream in and cut at line ends.
 */

/** The content of one file, read line by line (see {@link linesOf}). */
export interface LineSource {
  readonly kind: "lines";
  /** Chunks of the file: UTF-8 bytes, or already decoded text. */
  readonly chunks: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;
  /** Name for error messages (a path). */
  readonly name: string;
  /** Size in bytes when known, for progress. */
  readonly size?: number;
}

/**
 * What `trainBpe` reads: strings (each one sequence, like HF's `train_from_iterator`), a byte
 * stream of a file (read line by line, like HF's `train(files)`), or a {@link LineSource}.
 */
export type TrainingSource =
  | Iterable<string>
  | AsyncIterable<string>
  | ReadableStream<Uint8Array>
  | LineSource;

/**
 * Marks content to be read as a file is: split into lines that keep their `\n` (and `\r`), each
 * line one training sequence. Pass a whole text, or its chunks (bytes or text) in order.
 */
export function linesOf(
  content: string | Uint8Array | Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string> | ReadableStream<Uint8Array>,
  name = "(text)",
): LineSource {
  if (typeof content === "string" || content instanceof Uint8Array) return { kind: "lines", chunks: [content], name };
  if (isReadableStream(content)) return { kind: "lines", chunks: streamChunks(content), name };
  return { kind: "lines", chunks: content, name };
}

/** A unit of work for the word counter: whole lines of one file, or some sequences. */
export type Batch =
  | { lines: true; text: string; progress: number }
  | { lines: false; seqs: string[]; progress: number };

function isReadableStream(x: unknown): x is ReadableStream<Uint8Array> {
  return typeof x === "object" && x !== null && typeof (x as ReadableStream).getReader === "function";
}

async function* streamChunks(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Batches of whole lines, decoded strictly (invalid UTF-8 is an error, as in HF). */
async function* lineBatches(src: LineSource, progressBase: number): AsyncIterable<Batch> {
  // `ignoreBOM` keeps a leading U+FEFF as text, as Rust's reader does.
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let carry = "";
  let bytes = 0;
  const decode = (chunk: Uint8Array | string, stream: boolean): string => {
    if (typeof chunk === "string") return chunk;
    try {
      return decoder.decode(chunk, { stream });
    } catch {
      throw new TypeError(`trainBpe: ${src.name} is not valid UTF-8 (near byte ${bytes}); Hugging Face rejects such files too`);
    }
  };
  for await (const chunk of src.chunks as AsyncIterable<Uint8Array | string>) {
    const text = carry + decode(chunk, true);
    bytes += typeof chunk === "string" ? chunk.length : chunk.byteLength;
    const cut = text.lastIndexOf("\n") + 1;
    if (cut > 0) {
      yield { lines: true, text: text.slice(0, cut), progress: progressBase + bytes };
      carry = text.slice(cut);
    } else {
      carry = text;
    }
  }
  carry += decode(new Uint8Array(0), false);
  if (carry.length > 0) yield { lines: true, text: carry, progress: progressBase + bytes };
}

/** Turns sources into batches, one source after another. */
export async function* batchesOf(sources: readonly TrainingSource[]): AsyncIterable<Batch> {
  let base = 0;
  let sequences = 0;
  for (const src of sources) {
    if (typeof src === "string") {
      throw new TypeError("trainBpe: got a string; pass [text] to train on a text, linesOf(text) to read it as a file, or use trainBpeFromFiles for paths");
    }
    if ((src as LineSource).kind === "lines") {
      let last = base;
      for await (const b of lineBatches(src as LineSource, base)) {
        last = b.progress;
        yield b;
      }
      base = last;
    } else if (isReadableStream(src)) {
      let last = base;
      for await (const b of lineBatches(linesOf(src, "(stream)"), base)) {
        last = b.progress;
        yield b;
      }
      base = last;
    } else if (Symbol.iterator in (src as object)) {
      // Sync iterables are handed over in groups: one await per item would dominate small items.
      let seqs: string[] = [];
      let chars = 0;
      for (const s of src as Iterable<string>) {
        seqs.push(checkSequence(s, sequences++));
        chars += s.length;
        if (seqs.length >= 4096 || chars >= 1 << 20) {
          yield { lines: false, seqs, progress: sequences };
          seqs = [];
          chars = 0;
        }
      }
      if (seqs.length) yield { lines: false, seqs, progress: sequences };
    } else {
      for await (const s of src as AsyncIterable<string>) {
        yield { lines: false, seqs: [checkSequence(s, sequences++)], progress: sequences };
      }
    }
  }
}

function checkSequence(s: unknown, i: number): string {
  if (typeof s !== "string") throw new TypeError(`trainBpe: sequence ${i} is ${typeof s}, not a string`);
  return s;
}
