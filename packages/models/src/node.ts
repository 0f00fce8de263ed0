/**
 * @kdgpu/models/node: checkpoint directories on disk, for Node and Deno (through node:fs).
 * Files are read tensor by tensor at their offsets and written tensor by tensor, so neither
 * direction holds a whole checkpoint in memory.
 *
 * ```ts
 * import { saveModel, loadModel } from '@kdgpu/models/node';
 * await saveModel(model, 'out/baby-llama');          // config.json + model.safetensors
 * const again = await loadModel('out/baby-llama');   // Llama or GPT2, from config.json
 * ```
 */
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CausalLM } from './model.ts';
import { type LoadOptions, type LoadReport, loadModelFrom, loadWeights, type ModelFiles, type ModelSink, saveModelTo, type SaveOptions } from './checkpoint.ts';
import type { ByteSource } from './safetensors.ts';

/** A ByteSource reading a file at offsets (no whole-file read). Close it when done. */
export async function fileSource(path: string): Promise<ByteSource> {
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  return {
    size,
    name: path,
    read: async (offset, length) => {
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(out, got, length - got, offset + got);
        if (bytesRead === 0) throw new Error(`${path}: unexpected end of file reading ${length} bytes at ${offset}`);
        got += bytesRead;
      }
      return out;
    },
    close: () => fh.close(),
  };
}

/** ModelFiles over a directory. */
export function dirFiles(dir: string): ModelFiles {
  return {
    readText: async (name) => {
      try {
        return await readFile(join(dir, name), 'utf8');
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') return null;
        throw e;
      }
    },
    open: (name) => fileSource(join(dir, name)),
  };
}

/** ModelSink writing into a directory (created if needed). */
export function dirSink(dir: string): ModelSink {
  return {
    create: async (name) => {
      await mkdir(dir, { recursive: true });
      const fh = await open(join(dir, name), 'w');
      return {
        write: async (b) => {
          let done = 0;
          while (done < b.byteLength) done += (await fh.write(b, done, b.byteLength - done)).bytesWritten;
        },
        close: () => fh.close(),
      };
    },
  };
}

/** Writes `config.json` + `model.safetensors` (or shards + index) into `dir`, loadable by transformers' from_pretrained. */
export async function saveModel(model: CausalLM, dir: string, opts: SaveOptions = {}): Promise<void> {
  await saveModelTo(model, dirSink(dir), opts);
}

/** Builds a Llama or GPT2 from `dir/config.json` and loads its safetensors weights (sharded or not). */
export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<CausalLM> {
  return await loadModelFrom(dirFiles(dir), opts);
}

/** Loads safetensors files from disk into an existing model (names and shapes checked). */
export async function loadWeightsFromFiles(model: CausalLM, paths: readonly string[], opts: LoadOptions = {}): Promise<LoadReport> {
  const sources: ByteSource[] = [];
  try {
    for (const p of paths) sources.push(await fileSource(p));
    return await loadWeights(model, sources, opts);
  } finally {
    for (const s of sources) await s.close?.();
  }
}
