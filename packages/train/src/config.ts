/**
 * Training config validation (Ajv, all errors at once, defaults filled in) with errors as field
 * paths (`optimizer.lr: must be > 0`), and `key.sub=value` overrides typed by the schema.
 * @module
 */

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { makeSchedule, type ScheduleConfig } from './schedule.ts';
import { type TrainConfig, trainConfigSchema, type TrainingConfig } from './config-schema.ts';

export { type DistillConfig, KD_REDUCTIONS, type KdReduction, type TrainConfig, trainConfigSchema, type TrainingConfig } from './config-schema.ts';

type Json = Record<string, unknown>;

/** Keys refused anywhere in a config or override path: they would reach `Object.prototype`. */
export const FORBIDDEN_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

/** The result of {@link checkConfig}: the config with defaults, or the list of problems. */
export type ConfigCheck = { ok: true; config: TrainConfig; errors: [] } | { ok: false; errors: string[] };

let validator: ValidateFunction | undefined;
let loopValidator: ValidateFunction | undefined;

function compiled(): ValidateFunction {
  validator ??= new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true, strictTypes: false }).compile(trainConfigSchema);
  return validator;
}

/** The schema of a {@link TrainingConfig}: the whole schema with nothing required at the top and `data` defaulted. */
function compiledLoop(): ValidateFunction {
  if (!loopValidator) {
    const schema = structuredClone(trainConfigSchema) as Json & { properties: Record<string, Json> };
    delete schema.required;
    delete schema.$id;
    schema.properties.data = { ...schema.properties.data, default: {} };
    loopValidator = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true, strictTypes: false }).compile(schema);
  }
  return loopValidator;
}

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function joinPath(base: string, key: string | number): string {
  return base === '' ? String(key) : `${base}.${key}`;
}

/** Deepest nesting a config may have (a JSON bomb otherwise exhausts the stack). */
const MAX_DEPTH = 64;

function forbiddenKeys(value: unknown, path: string, out: string[]): void {
  // Iterative, so a hostile depth is reported instead of overflowing the stack.
  const stack: Array<[unknown, string, number]> = [[value, path, 0]];
  while (stack.length) {
    const [v, p, depth] = stack.pop()!;
    if ((Array.isArray(v) || isPlainObject(v)) && depth > MAX_DEPTH) {
      out.push(`${p || '(root)'}: nested more than ${MAX_DEPTH} levels deep`);
      continue;
    }
    if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push([x, joinPath(p, i), depth + 1]));
    } else if (isPlainObject(v)) {
      for (const key of Object.keys(v)) {
        if (FORBIDDEN_KEYS.includes(key)) out.push(`${joinPath(p, key)}: forbidden key "${key}"`);
        else stack.push([v[key], joinPath(p, key), depth + 1]);
      }
    }
  }
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** JSON types a schema node accepts ('number' implies 'integer'); empty = anything. */
function schemaTypes(schema: unknown): Set<string> {
  const out = new Set<string>();
  if (!isPlainObject(schema)) return out;
  const t = schema.type;
  for (const x of Array.isArray(t) ? t : t === undefined ? [] : [t]) out.add(String(x));
  if (Array.isArray(schema.enum)) for (const v of schema.enum) out.add(jsonType(v) === 'integer' ? 'number' : jsonType(v));
  if (Array.isArray(schema.anyOf)) for (const s of schema.anyOf) for (const x of schemaTypes(s)) out.add(x);
  if (out.has('number')) out.add('integer');
  return out;
}

function pointerToPath(pointer: string): string {
  return pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
}

function valueAt(data: unknown, pointer: string): unknown {
  let v = data;
  for (const seg of pointer.split('/').slice(1)) v = isPlainObject(v) || Array.isArray(v) ? (v as Json)[seg.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  return v;
}

function formatError(e: ErrorObject): string {
  const path = pointerToPath(e.instancePath);
  switch (e.keyword) {
    case 'required':
      return `${joinPath(path, String(e.params.missingProperty))}: is required`;
    case 'additionalProperties': {
      const valid = Object.keys((e.parentSchema?.properties as Json | undefined) ?? {}).sort();
      return `${joinPath(path, String(e.params.additionalProperty))}: unknown key (valid keys${path ? ` under ${path}` : ''}: ${valid.join(', ')})`;
    }
    case 'enum':
      return `${path || '(root)'}: must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${path || '(root)'}: ${e.message ?? e.keyword}`;
  }
}

/**
 * Formats Ajv errors as `field.path: problem` lines. For `anyOf` (e.g. kdRatio: number or
 * schedule), only the errors of the alternative whose type matches the value are kept.
 */
export function formatAjvErrors(errors: readonly ErrorObject[], data: unknown): string[] {
  const dropped = new Set<ErrorObject>();
  for (const e of errors) {
    if (e.keyword !== 'anyOf') continue;
    const branches = (e.schema as unknown[]) ?? [];
    const t = jsonType(valueAt(data, e.instancePath));
    const matching = branches.map((b, i) => [i, schemaTypes(b)] as const).filter(([, ts]) => ts.size === 0 || ts.has(t));
    const prefix = `${e.schemaPath}/`;
    for (const other of errors) {
      if (!other.schemaPath.startsWith(prefix)) continue;
      const branch = Number(other.schemaPath.slice(prefix.length).split('/')[0]);
      if (matching.length !== 1 || matching[0]![0] !== branch) dropped.add(other);
    }
    if (matching.length === 1) dropped.add(e);
    else e.message = `must be ${branches.map((b) => [...schemaTypes(b)].filter((x) => x !== 'integer' || !schemaTypes(b).has('number')).join(' or ')).join(' or ')}`;
  }
  return [...new Set(errors.filter((e) => !dropped.has(e)).map(formatError))];
}

function semanticErrors(c: TrainConfig, loopOnly = false): string[] {
  const errors: string[] = [];
  const tryRun = (fn: () => void): void => {
    try { fn(); } catch (err) { errors.push((err as Error).message); }
  };
  if (!loopOnly) sourceErrors(c, errors);
  // Schedules are checked now with a placeholder length when the trainer will supply it.
  const placeholder = { totalSteps: 2 ** 40 };
  tryRun(() => makeSchedule(c.schedule, placeholder, 'schedule'));
  const kd = c.distill?.kdRatio;
  if (kd !== undefined && typeof kd !== 'number') tryRun(() => makeSchedule(kd as ScheduleConfig, placeholder, 'distill.kdRatio'));
  // On-policy: the student samples the rest of each block after the prompt.
  if (c.distill && c.distill.method !== 'offPolicy' && c.distill.onPolicy.promptLength >= c.data.blockSize) {
    errors.push(`distill.onPolicy.promptLength: ${c.distill.onPolicy.promptLength} must be below data.blockSize (${c.data.blockSize}): the rest of each block is what the student samples`);
  }
  if (!loopOnly && c.distill && c.distill.method !== 'offPolicy' && c.offlineLogits) {
    errors.push(`distill.method: "${c.distill.method}" runs the teacher on the student's samples; it cannot use offlineLogits (remove one of them)`);
  }
  return errors;
}

/** Checks of the data, tokenizer and teacher fields (not part of a {@link TrainingConfig}). */
function sourceErrors(c: TrainConfig, errors: string[]): void {
  if ((c.data.dir === undefined) === (c.data.files === undefined)) errors.push('data: set exactly one of data.dir or data.files');
  if (c.data.evalDir !== undefined && c.data.evalFiles !== undefined) errors.push('data: set at most one of data.evalDir or data.evalFiles');
  if ((c.tokenizer.path === undefined) === (c.tokenizer.train === undefined)) errors.push('tokenizer: set exactly one of tokenizer.path or tokenizer.train');
  if (c.distill !== undefined && c.teachers.length === 0 && c.offlineLogits === undefined) {
    errors.push('distill: needs teachers or offlineLogits (remove distill for plain training)');
  }
}

/**
 * Validates a parsed config and fills in defaults, without throwing. `raw` is not modified.
 * Errors are `field.path: problem` lines, e.g. `optimizer.lr: must be > 0`.
 */
export function checkConfig(raw: unknown): ConfigCheck {
  const forbidden: string[] = [];
  forbiddenKeys(raw, '', forbidden);
  if (forbidden.length > 0) return { ok: false, errors: forbidden };
  let data: unknown;
  try {
    data = structuredClone(raw);
  } catch (err) {
    return { ok: false, errors: [`(root): must be plain JSON data (${(err as Error).message})`] };
  }
  const validate = compiled();
  if (!validate(data)) return { ok: false, errors: formatAjvErrors(validate.errors ?? [], data) };
  const config = data as TrainConfig;
  if (config.train.epochs === undefined && config.train.maxSteps === undefined) config.train.epochs = 1;
  const errors = semanticErrors(config);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config, errors: [] };
}

/** Validates a parsed config and fills in defaults; throws one Error listing every problem. */
export function validateConfig(raw: unknown): TrainConfig {
  const result = checkConfig(raw);
  if (!result.ok) throw configError(result.errors);
  return result.config;
}

/**
 * Validates the loop's part of a config (what `train()` reads: `run.seed`, the block and batch
 * sizes, `optimizer`, `schedule`, `train`, `distill`), filling in defaults. No data files,
 * tokenizer or model are needed: `train()` takes those as values. Throws one Error listing every
 * problem, as {@link validateConfig}.
 */
export function trainingConfig(raw: unknown): TrainingConfig {
  const forbidden: string[] = [];
  forbiddenKeys(raw, '', forbidden);
  if (forbidden.length > 0) throw configError(forbidden);
  let data: unknown;
  try {
    data = structuredClone(raw ?? {});
  } catch (err) {
    throw configError([`(root): must be plain JSON data (${(err as Error).message})`]);
  }
  const validate = compiledLoop();
  if (!validate(data)) throw configError(formatAjvErrors(validate.errors ?? [], data));
  const config = data as TrainConfig;
  if (config.train.epochs === undefined && config.train.maxSteps === undefined) config.train.epochs = 1;
  const errors = semanticErrors(config, true);
  if (errors.length > 0) throw configError(errors);
  return config;
}

function configError(errors: string[]): Error {
  const err = new Error(`invalid training config:\n  ${errors.join('\n  ')}`);
  (err as Error & { errors: string[] }).errors = errors;
  return err;
}

/** The schema node for a child key/index of `node` (descending into an anyOf's object/array branch). */
function childSchema(node: unknown, seg: string, path: string): unknown {
  if (!isPlainObject(node)) return {};
  const isIndex = /^(0|[1-9][0-9]*)$/.test(seg);
  if (Array.isArray(node.anyOf)) {
    const branch = node.anyOf.find((b) => schemaTypes(b).has(isIndex ? 'array' : 'object'));
    if (branch === undefined) throw new Error(`override ${path}: ${path.split('.').slice(0, -1).join('.')} has no sub-keys`);
    return childSchema(branch, seg, path);
  }
  const types = schemaTypes(node);
  if (types.has('array') && !types.has('object')) {
    if (!isIndex) throw new Error(`override ${path}: "${seg}" is not an array index`);
    return node.items ?? {};
  }
  const props = isPlainObject(node.properties) ? node.properties : {};
  if (Object.hasOwn(props, seg)) return props[seg];
  if (isPlainObject(node.additionalProperties)) return node.additionalProperties;
  if (node.additionalProperties === false) {
    const parent = path.split('.').slice(0, -1).join('.');
    throw new Error(`override ${path}: unknown key "${seg}"; valid keys${parent ? ` under ${parent}` : ''}: ${Object.keys(props).sort().join(', ')}`);
  }
  if (types.size > 0 && !types.has('object')) throw new Error(`override ${path}: ${path.split('.').slice(0, -1).join('.')} has no sub-keys`);
  return {};
}

/** Parses an override's text as the type(s) its schema node allows. */
function coerce(raw: string, schema: unknown, path: string): unknown {
  const types = schemaTypes(schema);
  const text = raw.trim();
  const asJson = (): unknown => {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new Error(`override ${path}: "${raw}" is not valid JSON (${(err as Error).message})`);
    }
  };
  if (types.size === 0) {
    try { return JSON.parse(text); } catch { return raw; }
  }
  if ((types.has('object') || types.has('array')) && /^[[{]/.test(text)) return asJson();
  if (types.has('number') && text !== '' && Number.isFinite(Number(text))) return Number(text);
  if (types.has('integer') && text !== '' && Number.isFinite(Number(text))) return Number(text);
  if (types.has('boolean') && (text === 'true' || text === 'false')) return text === 'true';
  if (types.has('null') && text === 'null') return null;
  if (types.has('string')) return raw;
  const expected = [...types].filter((t) => t !== 'integer' || !types.has('number')).join(' or ');
  throw new Error(`override ${path}: expected ${expected}, got ${JSON.stringify(raw)}`);
}

/**
 * Applies `key.sub=value` overrides (e.g. `optimizer.lr=3e-4`, `train.epochs=2`,
 * `distill.loss=reverseKL`, `optimizer.betas=[0.9,0.95]`, `teachers.0.weight=2`) to a parsed config
 * and validates the result (defaults filled in). Values are parsed as the schema's type at that key:
 * numbers, booleans, strings, JSON for arrays and objects. Throws for a malformed override, an
 * unknown key (listing the valid keys at that level), a forbidden key, or an invalid result.
 * `config` is not modified.
 */
export function applyOverrides(config: unknown, overrides: readonly string[]): TrainConfig {
  const forbidden: string[] = [];
  forbiddenKeys(config, '', forbidden);
  if (forbidden.length > 0) throw configError(forbidden);
  const root: Json = isPlainObject(config) ? (structuredClone(config) as Json) : {};
  for (const override of overrides) {
    const eq = override.indexOf('=');
    if (eq <= 0) throw new Error(`override "${override}": expected key.sub=value`);
    const path = override.slice(0, eq).trim();
    const segs = path.split('.');
    if (segs.some((s) => s === '')) throw new Error(`override "${override}": empty key segment in "${path}"`);
    const bad = segs.find((s) => FORBIDDEN_KEYS.includes(s));
    if (bad !== undefined) throw new Error(`override ${path}: forbidden key "${bad}"`);
    let schema: unknown = trainConfigSchema;
    for (let i = 0; i < segs.length; i++) schema = childSchema(schema, segs[i]!, segs.slice(0, i + 1).join('.'));
    const value = coerce(override.slice(eq + 1), schema, path);
    const nested: string[] = [];
    forbiddenKeys(value, path, nested);
    if (nested.length > 0) throw configError(nested);
    let target: Json = root;
    for (let i = 0; i < segs.length - 1; i++) {
      const seg = segs[i]!;
      const next = target[seg];
      if (!isPlainObject(next) && !Array.isArray(next)) target[seg] = /^(0|[1-9][0-9]*)$/.test(segs[i + 1]!) ? [] : {};
      target = target[seg] as Json;
    }
    target[segs.at(-1)!] = value;
  }
  return validateConfig(root);
}
