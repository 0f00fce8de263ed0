/**
 * Small readers for `tokenizer.json` fields. Every failure names the field by its path
 * (`model.merges[12]`), says what was expected, and what was found, so a malformed file can be fixed
 * without reading our source.
 */

/** A JSON object as parsed, before validation. */
export type JsonObject = { [key: string]: unknown };

/** Error thrown for a malformed or unsupported `tokenizer.json`; `field` is the offending path. */
export class TokenizerJsonError extends Error {
  /** Path of the offending field, such as `model.vocab` or `pre_tokenizer.type`. */
  readonly field: string;
  constructor(field: string, message: string) {
    // Fields and messages quote the file, whose keys and strings can be arbitrarily long.
    super(`tokenizer.json: ${clip(field, 200)}: ${clip(message, 600)}`);
    this.name = "TokenizerJsonError";
    this.field = field;
  }
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Short description of a JSON value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

/** `value` as an object, or an error naming `path`. */
export function asObject(value: unknown, path: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TokenizerJsonError(path, `expected an object, found ${describe(value)}`);
  }
  return value as JsonObject;
}

/** `value` as an array, or an error naming `path`. */
export function asArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new TokenizerJsonError(path, `expected an array, found ${describe(value)}`);
  return value;
}

/** `value` as a string, or an error naming `path`. */
export function asString(value: unknown, path: string): string {
  if (typeof value !== "string") throw new TokenizerJsonError(path, `expected a string, found ${describe(value)}`);
  return value;
}

/** `value` as a boolean; `fallback` when absent (older files omit some flags). */
export function asBool(value: unknown, path: string, fallback?: boolean): boolean {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== "boolean") throw new TokenizerJsonError(path, `expected true or false, found ${describe(value)}`);
  return value;
}

/** `value` as a non-negative integer, or an error naming `path`. */
export function asIndex(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new TokenizerJsonError(path, `expected a non-negative integer, found ${describe(value)}`);
  }
  return value;
}

/** `value` as a string or null (absent counts as null). */
export function asOptString(value: unknown, path: string): string | null {
  return value === undefined || value === null ? null : asString(value, path);
}

/** The `type` field of a component, checked against the supported ones. */
export function typeOf<T extends string>(obj: JsonObject, path: string, supported: readonly T[]): T {
  const type = asString(obj["type"], `${path}.type`) as T;
  if (!supported.includes(type)) {
    throw new TokenizerJsonError(
      `${path}.type`,
      `${JSON.stringify(type)} is not supported by @kdgpu/tokenizer (supported: ${supported.join(", ")})`,
    );
  }
  return type;
}
