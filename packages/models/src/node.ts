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
import { existsSync, statSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type GgufExportOptions, saveGgufTo } from './gguf-export.ts';
import { configFromGguf, type GgufLoadOptions, type GgufModel, loadGgufFrom } from './gguf-import.ts';
import { readGgufHeader } from './gguf-read.ts';
import type { CausalLM } from './model.ts';
import { CONFIG_FILE, type LoadOptions, type LoadReport, loadModelFrom, loadWeights, type ModelFiles, type ModelSink, saveModelTo, type SaveOptions } from './checkpoint.ts';
import { configFromJson, type ModelConfig } from './config.ts';
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

/** Why `dir` is not a model directory (null when it has a config.json), with where models usually are. */
function notAModel(dir: string): string | null {
  let st;
  try {
    st = statSync(dir);
  } catch {
    return `${dir} does not exist`;
  }
  if (!st.isDirectory()) return `${dir} is a file, not a model folder (a folder with config.json and model.safetensors)`;
  if (existsSync(join(dir, CONFIG_FILE))) return null;
  const hints = ['final', 'checkpoints'].filter((n) => existsSync(join(dir, n)));
  return `${dir} has no ${CONFIG_FILE}, so it is not a model folder` +
    (hints.includes('final') ? `; it looks like a kdgpu run: its model is ${join(dir, 'final')}` : hints.includes('checkpoints') ? `; it looks like a kdgpu run: its checkpoints are in ${join(dir, 'checkpoints')}` : '');
}

/** The config of the model in `dir` (its `config.json`), without loading weights. Errors name the folder. */
export async function readModelConfig(dir: string): Promise<ModelConfig> {
  if (isGgufFile(dir)) {
    const src = await fileSource(dir);
    try {
      return configFromGguf(await readGgufHeader(src), dir);
    } finally {
      await src.close?.();
    }
  }
  const why = notAModel(dir);
  if (why) throw new Error(`loadModel: ${why}`);
  try {
    return configFromJson(await readFile(join(dir, CONFIG_FILE), 'utf8'));
  } catch (e) {
    throw new Error(`${join(dir, CONFIG_FILE)}: ${(e as Error).message}`, { cause: e });
  }
}

/** Builds a Llama or GPT2 from `dir/config.json` and loads its safetensors weights (sharded or not). Errors name the folder. */
export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<CausalLM> {
  // A .gguf file stands for a model folder (its vocabulary: `loadGguf`).
  if (isGgufFile(dir)) return (await loadGguf(dir, opts)).model;
  const why = notAModel(dir);
  if (why) throw new Error(`loadModel: ${why}`);
  try {
    return await loadModelFrom(dirFiles(dir), opts);
  } catch (e) {
    // Name the folder, keeping the error's class (callers tell out-of-memory from bad files by it).
    if (e instanceof Error && !e.message.includes(dir)) e.message = `${dir}: ${e.message}`;
    throw e;
  }
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

/** Whether `path` is a `.gguf` file (accepted wherever a model folder is). */
function isGgufFile(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf') && existsSync(path) && statSync(path).isFile();
}

/**
 * Writes `model` as a GGUF file at `path` (through `path.tmp-<pid>`, renamed when complete, so an
 * interrupted export leaves no half-written file under the final name).
 */
export async function saveGguf(model: CausalLM, path: string, opts: GgufExportOptions = {}): Promise<number> {
  await mkdir(dirname(path) || '.', { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  let size: number;
  try {
    size = await saveGgufTo(model, {
      write: async (b) => {
        let done = 0;
        while (done < b.byteLength) done += (await fh.write(b, done, b.byteLength - done)).bytesWritten;
      },
    }, opts);
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
  await rename(tmp, path);
  return size;
}

/** Loads a GGUF file (LLaMA or GPT-2) as a kdgpu model, with its vocabulary (see `tokenizerFromGguf`). */
export async function loadGguf(path: string, opts: GgufLoadOptions = {}): Promise<GgufModel> {
  const src = await fileSource(path);
  try {
    return await loadGgufFrom(src, opts);
  } finally {
    await src.close?.();
  }
}
