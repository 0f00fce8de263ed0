import { tensor } from '@kdgpu/tensor';
import { configFromJson, configToJson, type ModelConfig } from './config.ts';
import { countParameters, createModel } from './create.ts';
import type { CausalLM } from './model.ts';
import {
  type ByteSource,
  bytesSource,
  countNonFinite,
  encodeHeader,
  encodeTensor,
  readHeader,
  readTensor,
  type TensorEntry,
  type TensorInfo,
} from './safetensors.ts';

/**
 * Hugging Face checkpoint directories: `config.json` + `model.safetensors`, or shards listed in
 * `model.safetensors.index.json`. File access is abstracted (`ModelFiles` to read, `ModelSink` to
 * write) so this works in a browser; `@kdgpu/models/node` supplies a directory on disk.
 */

/** Read access to a checkpoint directory's files. */
export interface ModelFiles {
  /** A file's text, or null when it does not exist. */
  readText(name: string): Promise<string | null>;
  /** Random access to a binary file. */
  open(name: string): Promise<ByteSource>;
}

/** Write access to a checkpoint directory: one file at a time, written in order. */
export interface ModelSink {
  create(name: string): Promise<{ write(bytes: Uint8Array): Promise<void>; close(): Promise<void> }>;
}

/** Options for loading weights. */
export interface LoadOptions {
  /** Scan every tensor for NaN/Inf and reject the checkpoint, naming the tensors, when any is found. */
  checkFinite?: boolean;
}

/** What a load did besides filling parameters. */
export interface LoadReport {
  /** Checkpoint entries skipped on purpose: buffers transformers also ignores, a tied lm_head copy. */
  ignored: string[];
}

const WEIGHT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16'];

/** transformers' file names in a checkpoint directory: the config, */
export const CONFIG_FILE = 'config.json';
/** the single-file weights, */
export const WEIGHTS_FILE = 'model.safetensors';
/** and the shard index (`weight_map`: tensor name -> shard file). */
export const INDEX_FILE = 'model.safetensors.index.json';

/** Entries that are buffers, not parameters (transformers ignores them when loading too). */
function isBuffer(name: string): boolean {
  return /(^|\.)attn\.(bias|masked_bias)$/.test(name) || name.endsWith('rotary_emb.inv_freq');
}

/** Maps a checkpoint name to this package's name (original GPT-2 checkpoints lack the `transformer.` prefix). */
function canonicalName(name: string, model: CausalLM, bare: boolean): string {
  if (model.config.model_type === 'gpt2' && bare && !name.startsWith('lm_head.')) return 'transformer.' + name;
  return name;
}

function listNames(names: string[], max = 20): string {
  return names.slice(0, max).join(', ') + (names.length > max ? `, ... (${names.length - max} more)` : '');
}

/**
 * Loads weights from one or more safetensors sources (shards) into `model`'s parameters. Every
 * header is validated and every name and shape checked before any parameter changes: missing and
 * unexpected tensors are listed in the error. Values are decoded to f32 one tensor at a time.
 */
export async function loadWeights(model: CausalLM, sources: readonly ByteSource[], opts: LoadOptions = {}): Promise<LoadReport> {
  const located = new Map<string, { src: ByteSource; info: TensorInfo }>();
  for (const src of sources) {
    const h = await readHeader(src);
    for (const info of h.tensors.values()) {
      const prev = located.get(info.name);
      if (prev) throw new Error(`checkpoint: tensor "${info.name}" appears in both ${prev.src.name} and ${src.name}`);
      located.set(info.name, { src, info });
    }
  }
  const params = model.parameters();
  const tied = model.config.tie_word_embeddings;
  const bare = model.config.model_type === 'gpt2' && !located.has('transformer.wte.weight') && located.has('wte.weight');
  const ignored: string[] = [];
  const unexpected: string[] = [];
  const plan = new Map<string, { src: ByteSource; info: TensorInfo }>();
  for (const [raw, loc] of located) {
    const name = canonicalName(raw, model, bare);
    if (params.has(name)) plan.set(name, loc);
    else if (isBuffer(raw) || (tied && name === 'lm_head.weight')) ignored.push(raw);
    else unexpected.push(raw);
  }
  const missing = [...params.keys()].filter((n) => !plan.has(n));
  if (missing.length || unexpected.length) {
    const parts = [];
    if (missing.length) parts.push(`missing ${missing.length} tensor(s): ${listNames(missing)}`);
    if (unexpected.length) parts.push(`unexpected ${unexpected.length} tensor(s): ${listNames(unexpected)}`);
    throw new Error(`checkpoint does not match the ${model.config.model_type} config: ${parts.join('; ')}. Check that config.json belongs to these weights.`);
  }
  const badShapes: string[] = [];
  for (const [name, { info }] of plan) {
    const want = params.get(name)!.shape;
    if (want.length !== info.shape.length || want.some((d, i) => d !== info.shape[i])) badShapes.push(`${name}: checkpoint [${info.shape}] vs model [${want}]`);
  }
  if (badShapes.length) throw new Error(`checkpoint shapes disagree with the config: ${listNames(badShapes)}`);
  const badTypes = [...plan].filter(([, { info }]) => !WEIGHT_DTYPES.includes(info.dtype)).map(([name, { info }]) => `${name} (${info.dtype})`);
  if (badTypes.length) throw new Error(`checkpoint: dtype cannot be loaded as model weights (supported: ${WEIGHT_DTYPES.join(', ')}): ${listNames(badTypes)}`);

  // Decode everything first when scanning, so a bad checkpoint leaves the model untouched.
  const nonFinite: string[] = [];
  if (opts.checkFinite) {
    for (const [name, { src, info }] of plan) {
      const { nan, inf } = countNonFinite(await readTensor(src, info));
      if (nan || inf) nonFinite.push(`${name} (${nan} NaN, ${inf} Inf)`);
    }
    if (nonFinite.length) throw new Error(`checkpoint has non-finite values in ${nonFinite.length} tensor(s): ${listNames(nonFinite)}`);
  }
  for (const [name, { src, info }] of plan) {
    const p = params.get(name)!;
    const t = tensor(await readTensor(src, info), { shape: p.shape });
    p.assign(t);
    t.dispose();
  }
  return { ignored };
}

/** Reads a `model.safetensors.index.json` and returns the shard file names it references, in order. */
export function shardFiles(indexJson: string): string[] {
  let idx: unknown;
  try {
    idx = JSON.parse(indexJson);
  } catch (e) {
    throw new Error(`${INDEX_FILE} is not valid JSON: ${(e as Error).message}`);
  }
  const map = idx !== null && typeof idx === 'object' ? (idx as { weight_map?: unknown }).weight_map : undefined;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) throw new Error(`${INDEX_FILE} has no "weight_map" object`);
  const files = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const f of files) {
    // Shards are files of this directory: a name must not reach outside it.
    if (typeof f !== 'string' || !/^[^/\\\0]{1,255}$/.test(f) || f === '.' || f === '..') {
      throw new Error(`${INDEX_FILE}: shard ${JSON.stringify(f)?.slice(0, 80) ?? typeof f} is not a file name in the checkpoint directory`);
    }
  }
  return files as string[];
}

/** Values the weight files hold (F32/F16/BF16 tensors), from their headers. */
async function storedValues(sources: readonly ByteSource[]): Promise<number> {
  let n = 0;
  for (const src of sources) for (const t of (await readHeader(src)).tensors.values()) if (WEIGHT_DTYPES.includes(t.dtype)) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

/**
 * Builds the model a checkpoint directory describes and loads its weights: `config.json` picks the
 * architecture (`model_type` / `architectures`); weights come from `model.safetensors.index.json`'s
 * shards when present, else `model.safetensors`.
 */
export async function loadModelFrom(files: ModelFiles, opts: LoadOptions = {}): Promise<CausalLM> {
  const text = await files.readText(CONFIG_FILE);
  if (text === null) throw new Error(`checkpoint: ${CONFIG_FILE} not found`);
  const config = configFromJson(text);
  const index = await files.readText(INDEX_FILE);
  const names = index !== null ? shardFiles(index) : [WEIGHTS_FILE];
  const sources: ByteSource[] = [];
  let model: CausalLM | null = null;
  try {
    for (const n of names) sources.push(await files.open(n));
    // The config's sizes are claims: check them against the weights' headers before allocating
    // the model on the GPU (every parameter needs its own tensor in the files).
    const want = countParameters(config);
    const have = await storedValues(sources);
    if (want > have) {
      throw new Error(`checkpoint: ${CONFIG_FILE} describes ${want} parameters but the weights hold ${have} values; check that ${CONFIG_FILE} belongs to these weights`);
    }
    model = createModel(config, { init: 'zeros' });
    await loadWeights(model, sources, opts);
    return model;
  } catch (e) {
    model?.dispose();
    throw e;
  } finally {
    for (const s of sources) await s.close?.();
  }
}

/** Options for saving. */
export interface SaveOptions {
  /** Element type on disk (default F32). */
  dtype?: 'F32' | 'F16';
  /**
   * Split the weights into shards of at most this many bytes (each tensor whole), named
   * `model-00001-of-0000N.safetensors`, plus `model.safetensors.index.json`, as transformers'
   * `max_shard_size`. Default: one file.
   */
  maxShardBytes?: number;
}

/**
 * Writes `config.json` and the weights (parameters read back from the GPU one at a time, so memory
 * stays at one tensor). Tied weights are written once, as transformers does.
 */
export async function saveModelTo(model: CausalLM, sink: ModelSink, opts: SaveOptions = {}): Promise<void> {
  const dtype = opts.dtype ?? 'F32';
  const config: ModelConfig = { ...model.config, torch_dtype: dtype === 'F16' ? 'float16' : 'float32' };
  await writeText(sink, CONFIG_FILE, JSON.stringify(configToJson(config), null, 2) + '\n');
  const params = model.parameters();
  const entries: TensorEntry[] = [...params].map(([name, t]) => ({ name, shape: t.shape, dtype }));
  const bytesOf = (e: TensorEntry) => e.shape.reduce((a, b) => a * b, 1) * (dtype === 'F16' ? 2 : 4);
  const shards: TensorEntry[][] = [[]];
  let size = 0;
  for (const e of entries) {
    const b = bytesOf(e);
    if (opts.maxShardBytes && size > 0 && size + b > opts.maxShardBytes) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(e);
    size += b;
  }
  const pad = (i: number) => String(i).padStart(5, '0');
  const fileOf = (i: number) => (shards.length === 1 ? WEIGHTS_FILE : `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
  for (let i = 0; i < shards.length; i++) {
    const { header } = encodeHeader(shards[i]);
    const f = await sink.create(fileOf(i));
    try {
      await f.write(header);
      for (const e of shards[i]) {
        const data = (await params.get(e.name)!.data()) as Float32Array;
        await f.write(encodeTensor(data, dtype));
      }
    } finally {
      await f.close();
    }
  }
  if (shards.length > 1) {
    const weightMap: Record<string, string> = {};
    shards.forEach((s, i) => s.forEach((e) => (weightMap[e.name] = fileOf(i))));
    const total = entries.reduce((a, e) => a + bytesOf(e), 0);
    await writeText(sink, INDEX_FILE, JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
  }
}

async function writeText(sink: ModelSink, name: string, text: string): Promise<void> {
  const f = await sink.create(name);
  await f.write(new TextEncoder().encode(text));
  await f.close();
}

/** An in-memory checkpoint directory: file name -> bytes. Read it with `memoryFiles`, fill it with `memorySink`. */
export type MemoryDir = Map<string, Uint8Array>;

/** ModelFiles over an in-memory directory (for example files picked in a browser and read as bytes). */
export function memoryFiles(dir: MemoryDir): ModelFiles {
  return {
    readText: async (name) => {
      const b = dir.get(name);
      return b ? new TextDecoder().decode(b) : null;
    },
    open: async (name) => {
      const b = dir.get(name);
      if (!b) throw new Error(`checkpoint: ${name} not found`);
      return bytesSource(b, name);
    },
  };
}

/** ModelSink collecting files into an in-memory directory (for example to offer as downloads). */
export function memorySink(dir: MemoryDir = new Map()): ModelSink & { dir: MemoryDir } {
  return {
    dir,
    create: async (name) => {
      const parts: Uint8Array[] = [];
      return {
        write: async (b) => {
          parts.push(b.slice());
        },
        close: async () => {
          const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
          let o = 0;
          for (const p of parts) {
            out.set(p, o);
            o += p.byteLength;
          }
          dir.set(name, out);
        },
      };
    },
  };
}
