/**
 * Test helpers: the Hugging Face oracle (the `tokenizers` npm package, a dev dependency), fixture
 * paths, and digests. If the oracle cannot load (for example a runtime without Node-API support),
 * `oracleSkip` holds the reason and the live-oracle tests are skipped with it, while the tests
 * against the committed fixtures still run.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export type Oracle = typeof import("tokenizers");

/** Folder of the committed fixtures. */
export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures");

/** Reads a fixture as text. */
export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), "utf8");
}

/** Reads a JSON fixture. */
export function fixtureJson<T = unknown>(name: string): T {
  return JSON.parse(fixture(name)) as T;
}

/** SHA-256 of a string, hex. */
export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Canonical text of merges for digests: one `left right` per line. */
export function mergesText(merges: ReadonlyArray<readonly [string, string] | string>): string {
  return merges.map((m) => (typeof m === "string" ? m : `${m[0]} ${m[1]}`)).join("\n");
}

/** Canonical text of a vocabulary for digests: JSON of [token, id] sorted by id. */
export function vocabText(vocab: Record<string, number> | Map<string, number>): string {
  const entries = vocab instanceof Map ? [...vocab] : Object.entries(vocab);
  return JSON.stringify(entries.sort((a, b) => a[1] - b[1]));
}

let oracle: Oracle | null = null;
let reason: string | null = null;
try {
  oracle = await import("tokenizers");
  // Loading is not enough: make sure the native part runs here.
  new oracle.Tokenizer(oracle.BPE.empty());
} catch (e) {
  oracle = null;
  reason = `Hugging Face oracle (npm "tokenizers") unavailable in this runtime: ${(e as Error).message.split("\n")[0]}`;
  console.log(`[tokenizer tests] ${reason}; live-oracle tests skipped, fixture tests still run`);
}

/** The oracle module, or null. */
export const hf: Oracle | null = oracle;
/** Why the oracle is missing (a skip reason for `test(..., { skip })`), or false. */
export const oracleSkip: string | false = reason ?? false;
