/**
 * A small seeded fuzz harness for the file parsers: byte mutations (bit flips, truncation,
 * insertion, deletion, huge numbers), JSON mutations (hostile values, wrong types, NaN/Infinity,
 * deep nesting, `__proto__` / `constructor` keys, path-like names), and a driver that checks the
 * property every parser must have on hostile input: it returns, or throws one short error that the
 * target recognises as its own, quickly, without polluting `Object.prototype` and without
 * allocating memory in proportion to a number claimed inside the input.
 *
 * Cases per parser: `KDGPU_FUZZ_CASES` (default 2000); seed: `KDGPU_FUZZ_SEED` (default 1). A
 * failure names its case index, and `KDGPU_FUZZ_CASE=i` replays that one case alone.
 */
import assert from 'node:assert/strict';

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};

function intFromEnv(name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

/** Cases per parser (`KDGPU_FUZZ_CASES`, default 2000). */
export const FUZZ_CASES = intFromEnv('KDGPU_FUZZ_CASES', 2000);
/** Base seed (`KDGPU_FUZZ_SEED`, default 1); case `i` uses its own stream derived from it. */
export const FUZZ_SEED = intFromEnv('KDGPU_FUZZ_SEED', 1);
const ONLY_CASE = env.KDGPU_FUZZ_CASE === undefined || env.KDGPU_FUZZ_CASE === '' ? null : intFromEnv('KDGPU_FUZZ_CASE', 0);

/** A seeded random stream (sfc32). */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  bytes(n: number): Uint8Array;
}

/** A seeded random stream; equal seeds give equal streams. */
export function rng(seed: number): Rng {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 ^ Math.imul(seed, 0x85ebca6b);
  let c = 0xb7e15162;
  let d = 1;
  const u32 = (): number => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  const r: Rng = {
    next: () => u32() / 2 ** 32,
    int: (n) => Math.floor(r.next() * n),
    chance: (p) => r.next() < p,
    pick: (items) => items[r.int(items.length)]!,
    bytes: (n) => Uint8Array.from({ length: n }, () => u32() & 0xff),
  };
  return r;
}

/** Numbers that break naive size arithmetic: huge, negative, fractional, past 2^53. */
export const HUGE_NUMBERS: readonly number[] = [
  -1, -0.5, 0.5, 1e9, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 48, 2 ** 53, 2 ** 53 + 2, 1e20, 1e300, Number.MAX_VALUE, Number.MAX_SAFE_INTEGER, -(2 ** 53),
];

/** Names that must never become paths. */
export const PATH_NAMES: readonly string[] = ['../../etc/passwd', '/etc/passwd', '..', '.', '', 'a/../../b', '..\\..\\windows\\win.ini', 'C:\\evil', 'x\u0000y', '~/.ssh/id_rsa'];

/** Keys that reach `Object.prototype` through careless assignment. */
export const PROTO_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__'];

/** Nesting `depth` levels deep, as arrays or as the `Sequence` components of tokenizer.json. */
function deep(r: Rng, depth: number): unknown {
  // Built bottom-up so no recursion is needed here either.
  const key = r.pick(['normalizers', 'pretokenizers', 'decoders', 'processors', 'a']);
  let v: unknown = r.chance(0.5) ? 1 : { type: 'Lowercase' };
  for (let i = 0; i < depth; i++) v = r.chance(0.3) ? [v] : { type: 'Sequence', [key]: [v] };
  return v;
}

/**
 * A hostile JSON-able value. With `nonJson`, also NaN, ±Infinity and undefined (for parsers that
 * take parsed objects).
 */
export function hostileValue(r: Rng, nonJson = false): unknown {
  const pool: Array<() => unknown> = [
    () => r.pick(HUGE_NUMBERS),
    () => r.pick(PATH_NAMES),
    () => JSON.parse(`{"${r.pick(PROTO_KEYS)}": {"polluted": true}}`),
    () => deep(r, r.pick([10, 100, 500])), // deeper nesting comes from mutateJsonText
    () => null,
    () => true,
    () => '',
    () => 'x'.repeat(r.pick([1, 100, 70_000])),
    () => '\ud800\udfff\ufffe\u0000',
    () => [],
    () => ({}),
    () => Array.from({ length: r.pick([1, 3, 1000]) }, () => r.pick(HUGE_NUMBERS)),
    () => r.int(100),
    () => r.next(),
  ];
  if (nonJson) pool.push(() => NaN, () => Infinity, () => -Infinity, () => undefined);
  return r.pick(pool)();
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Paths to every node of a JSON value (for picking where to mutate). Iterative: inputs may be deep. */
function nodes(root: unknown): Array<{ parent: unknown; key: string | number | null }> {
  const out: Array<{ parent: unknown; key: string | number | null }> = [{ parent: null, key: null }];
  const stack: unknown[] = [root];
  while (stack.length > 0 && out.length < 50_000) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      v.forEach((x, i) => { out.push({ parent: v, key: i }); stack.push(x); });
    } else if (v !== null && typeof v === 'object') {
      for (const k of Object.keys(v)) { out.push({ parent: v, key: k }); stack.push((v as Record<string, unknown>)[k]); }
    }
  }
  return out;
}

function define(obj: object, key: string | number, value: unknown): void {
  // defineProperty, not `=`: a `__proto__` key must become an own key, as JSON.parse makes it.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Returns a mutated deep copy of `value` (a parsed JSON document): 1 to 3 edits, each replacing a
 * node with a hostile value, deleting a key, adding a hostile or prototype key, or changing a
 * node's type. With `nonJson`, NaN/Infinity/undefined may appear.
 */
export function mutateJson(value: unknown, r: Rng, nonJson = false): unknown {
  const root = { v: structuredClone(value) as unknown };
  const edits = 1 + r.int(3);
  // Listed once: a later edit may land in a subtree an earlier one replaced, which is harmless.
  const all = nodes(root.v);
  for (let e = 0; e < edits; e++) {
    const { parent, key } = r.pick(all);
    const target = parent ?? root;
    const k = key ?? 'v';
    const current = (target as Record<string | number, unknown>)[k];
    switch (r.int(6)) {
      case 0:
      case 1:
        define(target, k, hostileValue(r, nonJson));
        break;
      case 2:
        if (parent !== null && !Array.isArray(parent)) delete (parent as Record<string, unknown>)[k as string];
        else if (Array.isArray(parent)) parent.splice(k as number, 1);
        break;
      case 3: {
        // A new key on the nearest object: a prototype key, a path-like key, or a plain one.
        const obj = current !== null && typeof current === 'object' && !Array.isArray(current) ? current : target;
        if (!Array.isArray(obj)) define(obj, r.pick([...PROTO_KEYS, ...PATH_NAMES, 'extra']), hostileValue(r, nonJson));
        break;
      }
      case 4: // wrong type, same "size"
        define(target, k, typeof current === 'number' ? String(current) : typeof current === 'string' ? current.length : Array.isArray(current) ? { ...current } : current !== null && typeof current === 'object' ? Object.values(current) : [current]);
        break;
      default: // a nearby number
        if (typeof current === 'number') define(target, k, r.pick([current + 1, current - 1, current * 2, -current, current * 1e6, current + 0.5]));
        else define(target, k, hostileValue(r, nonJson));
    }
  }
  return root.v;
}

/**
 * JSON text that `JSON.stringify` would not produce: truncations, stray bytes, NaN, comments, deep
 * nesting (up to `maxNesting` levels).
 */
export function mutateJsonText(text: string, r: Rng, maxNesting = 100_000): string {
  const at = r.int(text.length + 1);
  switch (r.int(6)) {
    case 0: return text.slice(0, at);
    case 1: return text.slice(0, at) + r.pick(['NaN', 'Infinity', '-Infinity', 'undefined', '//', '/*', ',', '}', ']', '"', '\\', '\u0000', '1e999', '-0']) + text.slice(at);
    case 2: return text.slice(0, at) + text.slice(at + 1 + r.int(20));
    case 3: { const n = Math.min(maxNesting, r.pick([100, 1000, 10_000, 100_000])); return '['.repeat(n) + text + ']'.repeat(r.chance(0.5) ? n : n - 1); }
    case 4: return text.replace(/"[^"]*"/, () => JSON.stringify(r.pick(PROTO_KEYS)));
    default: return `${text}${r.pick(['', ' ', '\n{}', 'x', '\u0000'])}`;
  }
}

function writeU64(bytes: Uint8Array, at: number, v: number): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (at + 8 > bytes.byteLength) return;
  dv.setUint32(at, v >>> 0, true);
  dv.setUint32(at + 4, Math.floor(v / 2 ** 32) >>> 0, true);
}

/**
 * Returns a mutated copy of `bytes`: bit flips, a truncation, inserted or deleted bytes, a chunk
 * overwritten by a huge little-endian number (u32 or u64), or a duplicated chunk. `hot` lists
 * offsets of header fields worth hitting more often (lengths, counts).
 */
export function mutateBytes(bytes: Uint8Array, r: Rng, hot: readonly number[] = []): Uint8Array {
  let b: Uint8Array = bytes.slice();
  const edits = 1 + r.int(3);
  for (let e = 0; e < edits; e++) {
    const at = Math.min(b.length, hot.length > 0 && r.chance(0.4) ? r.pick(hot) : r.int(b.length + 1));
    switch (r.int(7)) {
      case 0: // bit flips
        for (let i = 0, n = 1 + r.int(4); i < n && b.length > 0; i++) b[r.int(b.length)] ^= 1 << r.int(8);
        break;
      case 1: // truncation
        b = b.slice(0, r.chance(0.3) ? r.int(Math.min(b.length + 1, 64)) : r.int(b.length + 1));
        break;
      case 2: { // insertion
        const ins = r.bytes(1 + r.int(r.chance(0.2) ? 4096 : 16));
        const out = new Uint8Array(b.length + ins.length);
        out.set(b.subarray(0, at));
        out.set(ins, at);
        out.set(b.subarray(at), at + ins.length);
        b = out;
        break;
      }
      case 3: { // deletion
        const n = 1 + r.int(r.chance(0.2) ? 1024 : 8);
        const out = new Uint8Array(Math.max(0, b.length - n));
        out.set(b.subarray(0, Math.min(at, out.length)));
        out.set(b.subarray(Math.min(at + n, b.length)).subarray(0, out.length - Math.min(at, out.length)), Math.min(at, out.length));
        b = out;
        break;
      }
      case 4: { // a huge number where a length or count may sit
        const v = r.pick([0xffffffff, 0x7fffffff, 2 ** 32, 2 ** 40, 2 ** 53 - 1, 2 ** 60, 0, 1]);
        if (r.chance(0.5)) writeU64(b, Math.min(at, Math.max(0, b.length - 8)), v);
        else if (b.length >= 4) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(Math.min(at, b.length - 4), v >>> 0, true);
        break;
      }
      case 5: { // random bytes over a chunk
        const chunk = r.bytes(1 + r.int(32));
        for (let i = 0; i < chunk.length && at + i < b.length; i++) b[at + i] = chunk[i]!;
        break;
      }
      default: { // a chunk repeated
        const from = r.int(b.length + 1);
        const piece = b.slice(from, from + 1 + r.int(256));
        const out = new Uint8Array(b.length + piece.length);
        out.set(b.subarray(0, at));
        out.set(piece, at);
        out.set(b.subarray(at), at + piece.length);
        b = out;
      }
    }
  }
  return b;
}

/** What one fuzz case did. */
export type Outcome = 'accepted' | 'rejected';

/** Options of {@link fuzz}. */
export interface FuzzOptions<I> {
  /** Builds case `i`'s input from its own random stream. */
  input: (r: Rng, i: number) => I | Promise<I>;
  /** Parses the input; returning is acceptance, throwing is rejection. */
  run: (input: I) => unknown;
  /** Whether an error is this parser's own clear rejection (its type, or a message naming the file). */
  expected: (e: Error) => boolean;
  /** Cases (default FUZZ_CASES). */
  cases?: number;
  /** Longest a single case may take, in ms (default 2000): a slower one counts as a hang. */
  maxCaseMs?: number;
  /** Most array-buffer bytes one case may allocate beyond 64 MiB + this factor × the input's size. */
  allocFactor?: number;
  /** Size of an input in bytes (for the allocation bound). */
  sizeOf?: (input: I) => number;
  /** Longest acceptable error message (default 2000 characters). */
  maxMessage?: number;
}

/** Tally of a fuzz run. */
export interface FuzzReport {
  cases: number;
  accepted: number;
  rejected: number;
  /** Distinct error messages with their digits blanked (how varied the rejections were). */
  messages: number;
  ms: number;
}

const PROTO_BEFORE = Object.getOwnPropertyNames(Object.prototype).sort().join(',');
const mem = (globalThis as { process?: { memoryUsage?: () => { arrayBuffers?: number } } }).process?.memoryUsage;

function arrayBufferBytes(): number {
  try {
    return mem?.().arrayBuffers ?? 0;
  } catch {
    return 0;
  }
}

function describeInput(input: unknown): string {
  if (input instanceof Uint8Array) return `${input.byteLength} bytes`;
  try {
    const s = JSON.stringify(input);
    return s === undefined ? String(input) : s.length > 300 ? `${s.slice(0, 300)}... (${s.length} chars)` : s;
  } catch (e) {
    return `(unprintable: ${(e as Error).message})`;
  }
}

/**
 * Runs `cases` seeded cases through `run` and asserts, for each: it returns or throws an error
 * `expected` accepts, whose message is non-empty and short (`maxMessage`); it takes under
 * `maxCaseMs`; it leaves `Object.prototype` unchanged; and it does not allocate far more
 * array-buffer memory than the input's size. Fails with the case index and seed.
 */
export async function fuzz<I>(name: string, o: FuzzOptions<I>): Promise<FuzzReport> {
  const cases = o.cases ?? FUZZ_CASES;
  const maxMs = o.maxCaseMs ?? 2000;
  const factor = o.allocFactor ?? 64;
  const report: FuzzReport = { cases: 0, accepted: 0, rejected: 0, messages: 0, ms: 0 };
  const seen = new Set<string>();
  const start = performance.now();
  for (let i = 0; i < cases; i++) {
    if (ONLY_CASE !== null && i !== ONLY_CASE) continue;
    const where = `${name}: case ${i} (replay: KDGPU_FUZZ_SEED=${FUZZ_SEED} KDGPU_FUZZ_CASE=${i})`;
    const r = rng(FUZZ_SEED * 1_000_003 + i);
    const input = await o.input(r, i);
    const size = o.sizeOf?.(input) ?? (input instanceof Uint8Array ? input.byteLength : 0);
    const memBefore = arrayBufferBytes();
    const t0 = performance.now();
    let err: unknown = null;
    try {
      await o.run(input);
    } catch (e) {
      err = e;
    }
    const ms = performance.now() - t0;
    const grew = arrayBufferBytes() - memBefore;
    assert.ok(ms < maxMs, `${where}: took ${ms.toFixed(0)} ms (limit ${maxMs}); input ${describeInput(input)}`);
    assert.ok(grew < 64 * 2 ** 20 + factor * size, `${where}: allocated ${grew} bytes of array buffers for a ${size}-byte input`);
    assert.equal(Object.getOwnPropertyNames(Object.prototype).sort().join(','), PROTO_BEFORE, `${where}: Object.prototype was modified`);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, `${where}: Object.prototype.polluted is set`);
    report.cases++;
    if (err === null) {
      report.accepted++;
      continue;
    }
    report.rejected++;
    if (!(err instanceof Error)) assert.fail(`${where}: threw a non-Error ${String(err)}; input ${describeInput(input)}`);
    const ok = o.expected(err) && err.message.length > 0 && err.message.length < (o.maxMessage ?? 2000);
    if (!ok) {
      assert.fail(`${where}: unexpected ${err.name}: ${err.message.slice(0, 600)}\ninput ${describeInput(input)}\n${err.stack?.split('\n').slice(1, 6).join('\n') ?? ''}`);
    }
    seen.add(err.message.replace(/[0-9]+/g, '#').slice(0, 120));
  }
  report.messages = seen.size;
  report.ms = performance.now() - start;
  return report;
}

/** The report as one log line. */
export function summary(name: string, r: FuzzReport): string {
  return `${name}: ${r.cases} cases in ${(r.ms / 1000).toFixed(1)} s, ${r.accepted} accepted, ${r.rejected} rejected (${r.messages} distinct messages)`;
}

/**
 * Checks that a run exercised both sides: some inputs were accepted and many were rejected, with
 * varied messages (so the mutations reach past the first check). Skipped when replaying one case.
 */
export function assertCoverage(r: FuzzReport, minRejected = 0.2, minMessages = 5): void {
  if (ONLY_CASE !== null || r.cases < 200) return;
  assert.ok(r.rejected >= r.cases * minRejected, `only ${r.rejected} of ${r.cases} cases were rejected`);
  assert.ok(r.messages >= minMessages, `only ${r.messages} distinct error messages`);
}

export type { Json };
