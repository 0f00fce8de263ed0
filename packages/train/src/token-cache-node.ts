/**
 * The token cache on disk (Node and Deno): tokenize a corpus file once, reuse the ids while the
 * text and tokenizer are unchanged, rebuild when either changes or the cache is damaged.
 * @module
 */

import * as fsp from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { writeFileAtomic } from './atomic-node.ts';
import { hash64 } from './checksum.ts';
import { decodeTokenCache, encodeTokenCache, tokenCacheKey } from './token-cache.ts';

/** How {@link cachedTokenize} got the ids. */
export type CacheStatus = 'hit' | 'built' | 'rebuilt-stale' | 'rebuilt-damaged';

/** The result of {@link cachedTokenize}. */
export interface CachedTokens {
  /** The token ids (u16 when the vocabulary fits, else u32). */
  ids: Uint16Array | Uint32Array;
  /** The cache file. */
  path: string;
  status: CacheStatus;
  /** Why the cache was rebuilt (the decode error for a damaged one). */
  reason?: string;
}

/** Options of {@link cachedTokenize}. */
export interface CachedTokenizeOptions {
  /** Vocabulary size: picks u16/u32 storage and bounds-checks ids. Default: from the largest id. */
  vocabSize?: number;
  /** Called with a one-line message when a cache is rebuilt (e.g. to log it). */
  onRebuild?: (message: string) => void;
  /** Turns the file's bytes into text (e.g. un-gzips, or reads JSON Lines). Default: UTF-8. */
  readText?: (bytes: Uint8Array) => string;
  /** Names the file in errors (e.g. `data.files[0] (corpus/a.txt)`). Default: the path. */
  name?: string;
}

/** The cache file for `textPath` in `cacheDir`: the text's base name plus a hash of its absolute path. */
export function tokenCachePath(textPath: string, cacheDir: string): string {
  const tag = hash64(new TextEncoder().encode(resolve(textPath))).slice(0, 8);
  return join(cacheDir, `${basename(textPath)}.${tag}.tokens`);
}

/**
 * Tokenizes the UTF-8 file at `textPath` with `tokenize`, through a cache in `cacheDir` (created if
 * missing). The cache is reused when its key matches `tokenCacheKey(text bytes, tokenizerKey)`;
 * otherwise, or when it is damaged, the text is tokenized again and the cache rewritten atomically
 * (temp file, fsync, rename), so a crash never leaves a half-written cache.
 *
 * `tokenizerKey` must change whenever the ids would: pass the tokenizer JSON, plus the cleaner name
 * and options if `tokenize` cleans the text first.
 */
export async function cachedTokenize(
  textPath: string,
  tokenizerKey: string | Uint8Array,
  tokenize: (text: string) => ArrayLike<number> | Promise<ArrayLike<number>>,
  cacheDir: string,
  opts: CachedTokenizeOptions = {},
): Promise<CachedTokens> {
  const bytes = await fsp.readFile(textPath).catch((err: NodeJS.ErrnoException) => {
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'a directory, not a file' : (err.code ?? err.message);
    throw new Error(`${opts.name ?? textPath}: cannot read ${textPath} (${why})`, { cause: err });
  });
  const textBytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const key = tokenCacheKey(textBytes, tokenizerKey);
  const path = tokenCachePath(textPath, cacheDir);

  let status: CacheStatus = 'built';
  let reason: string | undefined;
  const cached = await fsp.readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new Error(`cachedTokenize: cannot read cache ${path}: ${err.code ?? err.message}`, { cause: err });
  });
  if (cached !== undefined) {
    try {
      const ids = decodeTokenCache(new Uint8Array(cached.buffer, cached.byteOffset, cached.byteLength), key, path);
      if (ids !== null) return { ids, path, status: 'hit' };
      status = 'rebuilt-stale';
      reason = `${path}: written for a different text or tokenizer`;
    } catch (err) {
      status = 'rebuilt-damaged';
      reason = (err as Error).message;
    }
    opts.onRebuild?.(`token cache ${status === 'rebuilt-stale' ? 'stale' : 'damaged'}, rebuilding: ${reason}`);
  }

  const ids = await tokenize(opts.readText ? opts.readText(textBytes) : new TextDecoder().decode(textBytes));
  const encoded = encodeTokenCache(ids, { key, vocabSize: opts.vocabSize });
  await fsp.mkdir(cacheDir, { recursive: true });
  await writeFileAtomic(path, encoded);
  const decoded = decodeTokenCache(encoded, key, path)!;
  return reason === undefined ? { ids: decoded, path, status } : { ids: decoded, path, status, reason };
}
