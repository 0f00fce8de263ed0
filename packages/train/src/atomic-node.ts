/**
 * Crash-safe file writes for Node and Deno: the data goes to a temporary file in the target's
 * directory, which is flushed to disk (fsync) and then renamed over the target, and finally the
 * directory is fsynced so the rename itself is durable. A reader therefore sees either the old file
 * or the complete new one, never a prefix, even if the process or machine dies mid-write.
 * @module
 */

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode of the new file (before umask). Default 0o666. */
  mode?: number;
}

/** Options of {@link writeJsonAtomic}. */
export interface JsonWriteOptions extends AtomicWriteOptions {
  /** Indentation passed to `JSON.stringify`. Default 2. */
  space?: number | string;
}

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

function explain(path: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const dir = dirname(path);
  let why: string;
  switch (e?.code) {
    case 'ENOENT': why = `directory ${dir} does not exist (create it first)`; break;
    case 'EACCES':
    case 'EPERM':
    case 'EROFS': why = `no permission to write in ${dir} (${e.code})`; break;
    case 'EISDIR': why = `${path} is a directory`; break;
    case 'ENOTDIR': why = `a parent of ${path} is not a directory`; break;
    case 'ENOSPC': why = `no space left on the device holding ${dir}`; break;
    default: why = e instanceof Error ? e.message : String(err);
  }
  const out = new Error(`writeFileAtomic: cannot write ${path}: ${why}; the previous file, if any, is unchanged`, { cause: err });
  (out as NodeJS.ErrnoException).code = e?.code;
  return out;
}

async function fsyncDir(dir: string): Promise<void> {
  // Best effort: some platforms (Windows) cannot open a directory for fsync.
  try {
    const fh = await fsp.open(dir, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
  } catch { /* durability of the rename is best effort where unsupported */ }
}

function fsyncDirSync(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  } catch { /* see fsyncDir */ }
}

/**
 * Writes `data` to `path` atomically (temp file in the same directory, fsync, rename, fsync of the
 * directory). On failure the temp file is removed, the old file at `path` is left as it was, and the
 * error names `path` and the cause (missing directory, permissions, ...).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempPathFor(path);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'wx', opts.mode ?? 0o666);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, path);
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw explain(path, err);
  }
  await fsyncDir(dirname(path));
}

/** Synchronous {@link writeFileAtomic}, for exit handlers and other places that cannot await. */
export function writeFileAtomicSync(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): void {
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', opts.mode ?? 0o666);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) try { fs.closeSync(fd); } catch { /* already failing */ }
    try { fs.rmSync(tmp, { force: true }); } catch { /* already failing */ }
    throw explain(path, err);
  }
  fsyncDirSync(dirname(path));
}

function toJson(path: string, value: unknown, space: number | string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, null, space);
  } catch (err) {
    throw new Error(`writeJsonAtomic: cannot serialize the value for ${path}: ${(err as Error).message}; nothing was written`, { cause: err });
  }
  if (text === undefined) throw new Error(`writeJsonAtomic: the value for ${path} is not JSON-serializable (${typeof value}); nothing was written`);
  return `${text}\n`;
}

/** Writes `value` as JSON (with a final newline) atomically; serialization errors name `path`. */
export async function writeJsonAtomic(path: string, value: unknown, opts: JsonWriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, toJson(path, value, opts.space ?? 2), opts);
}

/** Synchronous {@link writeJsonAtomic}. */
export function writeJsonAtomicSync(path: string, value: unknown, opts: JsonWriteOptions = {}): void {
  writeFileAtomicSync(path, toJson(path, value, opts.space ?? 2), opts);
}
