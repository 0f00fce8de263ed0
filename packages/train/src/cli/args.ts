/**
 * The command line's grammar, declared per command: each command lists its positional arguments
 * and its flags (type, default, help); the parser accepts `--flag value` and `--flag=value`,
 * refuses unknown flags and extra arguments with a suggestion, and writes each command's `--help`
 * from the same declaration. Adding a flag is one entry in its command's `flags`.
 * @module
 */

import { KdgpuError } from '@kdgpu/tensor';

/** The value kinds a flag can take. */
export type FlagType = 'string' | 'number' | 'integer' | 'boolean' | 'list';

/** One flag of a command. */
export interface FlagSpec {
  readonly type: FlagType;
  /** One line for `--help`. */
  readonly help: string;
  /** The value when the flag is absent (shown in `--help`). */
  readonly default?: string | number | boolean | readonly string[];
  /** The value's placeholder in `--help` (`--out FILE`). Default from the type. */
  readonly value?: string;
  /** The command refuses to run without it. */
  readonly required?: boolean;
  /**
   * A string flag whose value may be left out (`--resume` or `--resume DIR`): alone it is `true`.
   * In the space form the next word is its value only when this accepts it (it never takes a flag
   * or a `key=value` override).
   */
  readonly optionalValue?: (next: string) => boolean;
  /** Allowed values of a string flag (checked; listed in `--help`). */
  readonly choices?: readonly string[];
}

/** The positional arguments of a command. */
export interface PositionalSpec {
  /** As shown in usage lines: `CONFIG.json`, `FILE`. */
  readonly name: string;
  readonly help: string;
  /** At least this many (default 0). */
  readonly min?: number;
  /** At most this many (default 1; Infinity for a list). */
  readonly max?: number;
  /** Also take `key.sub=value` words, as config overrides (collected apart). */
  readonly overrides?: boolean;
}

type ValueOf<S extends FlagSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['type'] extends 'number' | 'integer'
    ? number
    : S['type'] extends 'list'
      ? string[]
      : S extends { optionalValue: unknown }
        ? string | true
        : string;

/** The parsed flags of a command: present-or-defaulted flags typed by their spec. */
export type FlagValues<F extends Record<string, FlagSpec>> = {
  [K in keyof F]: F[K] extends { default: unknown } | { required: true } ? ValueOf<F[K]> : ValueOf<F[K]> | undefined;
};

/** A command's arguments after parsing. */
export interface ParsedArgs<F extends Record<string, FlagSpec>> {
  /** Positional arguments, in order (overrides excluded). */
  positional: string[];
  /** `key.sub=value` overrides, in order (commands whose positional takes them). */
  overrides: string[];
  flags: FlagValues<F>;
}

/** A subcommand: its grammar, its help, and what it does. */
export interface Command<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  /** `train`, or two words for a group (`tokenizer train`). */
  readonly name: string;
  /** One line for `kdgpu --help`. */
  readonly summary: string;
  /** Paragraphs after the usage line of `--help`. */
  readonly description: string;
  readonly positional?: PositionalSpec;
  readonly flags: F;
  /** Runs the command; returns the exit code. */
  run(args: ParsedArgs<F>): Promise<number>;
}

/** Declares a command (infers its flags' literal types, so `args.flags` is typed). */
export function defineCommand<const F extends Record<string, FlagSpec>>(c: Command<F>): Command<F> {
  return c;
}

/** A usage error: the CLI prints it with the command's usage line and exits with 2. */
export class UsageError extends KdgpuError {
  override name = 'UsageError';
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps), for suggestions. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest of `options` to `word` when it is close enough to be a typo (or a prefix), else null. */
export function suggest(word: string, options: readonly string[]): string | null {
  // Every part of the word among an option's parts (`max-tokens` in `max-new-tokens`): that option.
  const parts = word.split('-').filter((x) => x !== '');
  const byParts = options.filter((o) => parts.length > 1 && parts.every((p) => o.split('-').includes(p)));
  if (byParts.length === 1) return byParts[0]!;
  let best: string | null = null;
  let bestD = Infinity;
  for (const o of options) {
    const d = o.startsWith(word) || word.startsWith(o) ? Math.min(1, editDistance(word, o)) : editDistance(word, o);
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

const NUMBER_RE = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

function convert(cmd: string, name: string, spec: FlagSpec, raw: string): unknown {
  switch (spec.type) {
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) {
        const s = suggest(raw, spec.choices);
        throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}, got "${raw}"${s ? `; did you mean ${s}?` : ''}`);
      }
      return raw;
    case 'number':
    case 'integer': {
      const n = Number(raw);
      if (!NUMBER_RE.test(raw.trim()) || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${raw}"`);
      if (spec.type === 'integer' && !Number.isInteger(n)) throw new UsageError(`--${name} must be a whole number, got "${raw}"`);
      return n;
    }
    case 'boolean':
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      throw new UsageError(`--${name} takes no value (or =true / =false), got "${raw}"`);
    case 'list':
      return raw.split(',').map((x) => x.trim()).filter((x) => x !== '');
    default:
      return spec.type satisfies never;
  }
}

/** Whether a word is a flag (`--x`, `-h`); other words (`-1`, `- a list`) are values. Flags are long, so that is unambiguous. */
function isFlag(word: string): boolean {
  return (word.startsWith('--') && word.length > 2) || word === '-h';
}

const HELP_FLAG: FlagSpec = { type: 'boolean', help: 'show this help' };

/**
 * Parses `argv` (the words after the command's name) by `cmd`'s declaration. Returns null when
 * `--help` / `-h` was asked for. Throws a {@link UsageError} for an unknown flag (with a
 * suggestion), a missing or malformed value, a repeated flag, or a wrong number of arguments.
 */
export function parseArgs<F extends Record<string, FlagSpec>>(cmd: Command<F>, argv: readonly string[]): ParsedArgs<F> | null {
  const values = new Map<string, unknown>();
  const positional: string[] = [];
  const overrides: string[] = [];
  const names = Object.keys(cmd.flags);
  const pos = cmd.positional;
  let onlyPositional = false;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (!onlyPositional && word === '--') {
      onlyPositional = true;
      continue;
    }
    if (onlyPositional || !isFlag(word)) {
      if (pos?.overrides && /^[A-Za-z_$][\w$]*(\.[\w$]+)*=/.test(word)) overrides.push(word);
      else positional.push(word);
      continue;
    }
    if (word === '-h' || word === '--help') return null;
    const body = word.slice(2);
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = Object.hasOwn(cmd.flags, name) ? cmd.flags[name] : undefined;
    if (!spec) {
      const s = suggest(name, [...names, 'help']);
      throw new UsageError(`unknown flag ${word.split('=')[0]}${s ? `; did you mean --${s}?` : ''} (kdgpu ${cmd.name} --help lists its flags)`);
    }
    if (values.has(name) && spec.type !== 'list') throw new UsageError(`--${name} is given twice`);
    let raw: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (raw === undefined && spec.type !== 'boolean') {
      const next = argv[i + 1];
      const takesNext = next !== undefined && !isFlag(next);
      if (spec.optionalValue) {
        if (takesNext && !/^[A-Za-z_$][\w$]*(\.[\w$]+)*=/.test(next!) && spec.optionalValue(next!)) raw = argv[++i];
      } else if (takesNext) {
        raw = argv[++i];
      } else {
        throw new UsageError(`--${name} needs a value (${spec.value ?? spec.type}); e.g. --${name} ${spec.value ?? 'VALUE'} or --${name}=${spec.value ?? 'VALUE'}`);
      }
    }
    const v = raw === undefined ? true : convert(cmd.name, name, spec, raw);
    if (spec.type === 'list') values.set(name, [...((values.get(name) as string[] | undefined) ?? []), ...(v as string[])]);
    else values.set(name, v);
  }
  const min = pos?.min ?? 0;
  const max = pos ? (pos.max ?? 1) : 0;
  if (positional.length > max) {
    const extra = positional[max]!;
    const hint = extra.startsWith('-') ? '' : extra.includes('=') && !pos?.overrides ? ' (this command takes no key=value overrides)' : '';
    throw new UsageError(`unexpected argument "${extra}"${hint}: usage: ${usageLine(cmd)}`);
  }
  if (positional.length < min) throw new UsageError(`missing ${pos!.name}: usage: ${usageLine(cmd)}`);
  const flags: Record<string, unknown> = {};
  for (const n of names) {
    const spec = cmd.flags[n]!;
    if (values.has(n)) flags[n] = values.get(n);
    else if (spec.required) throw new UsageError(`--${n} is required: usage: ${usageLine(cmd)}`);
    else if (spec.default !== undefined) flags[n] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    else flags[n] = undefined;
  }
  return { positional, overrides, flags: flags as FlagValues<F> };
}

function placeholder(spec: FlagSpec): string {
  if (spec.type === 'boolean') return '';
  const v = spec.value ?? (spec.type === 'list' ? 'A,B' : spec.type === 'string' ? 'TEXT' : 'N');
  return spec.optionalValue ? ` [${v}]` : ` ${v}`;
}

/** `kdgpu train CONFIG.json [key.sub=value ...] [flags]`. */
export function usageLine(cmd: Command<Record<string, FlagSpec>>): string {
  const p = cmd.positional;
  let args = '';
  if (p) {
    const one = p.max === Infinity ? `${p.name}...` : p.name;
    args = (p.min ?? 0) > 0 ? ` ${one}` : ` [${one}]`;
    if (p.overrides) args += ' [key.sub=value ...]';
  }
  const required = Object.entries(cmd.flags).filter(([, s]) => s.required).map(([n, s]) => ` --${n}${placeholder(s)}`).join('');
  return `kdgpu ${cmd.name}${required}${args} [flags]`;
}

function showDefault(v: FlagSpec['default']): string {
  if (v === undefined || v === false) return '';
  return ` (default: ${Array.isArray(v) ? v.join(',') : String(v)})`;
}

/** The `--help` text of a command, from its declaration. */
export function commandHelp(cmd: Command<Record<string, FlagSpec>>): string {
  const rows: [string, string][] = [];
  for (const [n, s] of Object.entries(cmd.flags)) {
    const choices = s.choices ? ` [${s.choices.join('|')}]` : '';
    rows.push([`--${n}${placeholder(s)}`, `${s.help}${choices}${s.required ? ' (required)' : showDefault(s.default)}`]);
  }
  rows.push(['-h, --help', HELP_FLAG.help]);
  const width = Math.min(28, Math.max(...rows.map(([a]) => a.length)) + 2);
  const fmt = ([a, b]: [string, string]) => `  ${a.padEnd(width)}${a.length >= width ? `\n  ${' '.repeat(width)}` : ''}${b}`;
  const parts = [`usage: ${usageLine(cmd)}`, '', cmd.description.trim()];
  if (cmd.positional) parts.push('', 'arguments:', fmt([cmd.positional.name, cmd.positional.help]));
  parts.push('', 'flags:', ...rows.map(fmt));
  return parts.join('\n');
}
