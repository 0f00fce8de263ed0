/**
 * Reading a training config file for the CLI: JSON, with `//` and `/* *\/` comments allowed (the
 * examples `kdgpu init` writes are commented), then validated with any `key.sub=value` overrides.
 * @module
 */

import { readFileSync } from 'node:fs';
import { KdgpuError } from '@kdgpu/tensor';
import { applyOverrides, type TrainConfig } from '../config.ts';

/** Removes `//` line comments and `/* *\/` block comments outside strings, keeping line numbers. */
export function stripJsonComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '"') {
      const start = i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      out += text.slice(start, ++i);
    } else if (ch === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const body = text.slice(i, end < 0 ? text.length : end + 2);
      out += body.replace(/[^\n]/g, ' ');
      i += body.length;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/** Parses a config file's text (JSON with comments); errors name the file and the line. */
export function parseConfigText(text: string, path: string): unknown {
  const clean = stripJsonComments(text);
  try {
    return JSON.parse(clean);
  } catch (e) {
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    const line = m ? clean.slice(0, Number(m[1])).split('\n').length : null;
    throw new KdgpuError(`${path}: not valid JSON${line ? ` (line ${line})` : ''}: ${msg}`);
  }
}

/** Reads, parses and validates a config file with `overrides` applied; errors name the file. */
export function loadConfigFile(path: string, overrides: readonly string[] = []): TrainConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KdgpuError(`${path}: ${code === 'ENOENT' ? 'no such file (kdgpu init writes an example config)' : code === 'EISDIR' ? 'a folder, not a config file' : (e as Error).message}`);
  }
  const raw = parseConfigText(text, path);
  try {
    return applyOverrides(raw, overrides);
  } catch (e) {
    throw new KdgpuError(`${path}: ${(e as Error).message}`);
  }
}
