/**
 * The `kdgpu` command line (Node/Deno only): the table of subcommands and the dispatcher. Each
 * command declares its arguments and flags in its own file under `commands/`; adding a command is
 * one file and one row in {@link COMMANDS}.
 * @module
 */

import { type Command, commandHelp, type FlagSpec, parseArgs, suggest, UsageError } from './args.ts';
import { evalCommand } from './commands/eval.ts';
import { exportCommand } from './commands/export.ts';
import { generateCommand } from './commands/generate.ts';
import { initCommand } from './commands/init.ts';
import { logitsCommand } from './commands/logits.ts';
import { plotCommand } from './commands/plot.ts';
import { tokenizerTrainCommand } from './commands/tokenizer-train.ts';
import { tuneCommand } from './commands/tune.ts';
import { distillCommand, trainCommand } from './commands/train.ts';

/**
 * Every subcommand, in the order `kdgpu --help` lists them. (Each is typed by its own flags; the
 * table holds them at the common type, which `parseArgs` and `run` agree on at run time.)
 */
export const COMMANDS: readonly Command<Record<string, FlagSpec>>[] = [
  initCommand,
  tokenizerTrainCommand,
  trainCommand,
  distillCommand,
  evalCommand,
  generateCommand,
  logitsCommand,
  exportCommand,
  plotCommand,
  tuneCommand,
] as unknown as Command<Record<string, FlagSpec>>[];

/** `kdgpu --help`. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 3;
  return `kdgpu: knowledge distillation for language models on WebGPU

usage: kdgpu <command> [arguments] [flags]    (kdgpu <command> --help for its flags)

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}

A first run: kdgpu init my-run.json, then kdgpu train my-run.json (README: "The CLI").`;
}

/** The help of a command group (`kdgpu tokenizer --help`). */
function groupHelp(group: string): string {
  const cmds = COMMANDS.filter((c) => c.name.startsWith(`${group} `));
  return `usage: kdgpu ${group} <command> [arguments] [flags]\n\ncommands:\n${cmds.map((c) => `  ${c.name.padEnd(20)}${c.summary}`).join('\n')}`;
}

/** Runs the CLI with `argv` (without node and script). Returns the exit code; errors other than usage errors propagate. */
export async function main(argv: readonly string[]): Promise<number> {
  const [first, second] = argv;
  if (first === undefined) {
    console.error(mainHelp());
    return 2;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    console.log(mainHelp());
    return 0;
  }
  const groups = [...new Set(COMMANDS.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0]!))];
  let cmd: Command<Record<string, FlagSpec>> | undefined;
  let rest: readonly string[];
  if (groups.includes(first)) {
    if (second === undefined || second === '--help' || second === '-h') {
      (second === undefined ? console.error : console.log)(groupHelp(first));
      return second === undefined ? 2 : 0;
    }
    cmd = COMMANDS.find((c) => c.name === `${first} ${second}`);
    if (!cmd) {
      const subs = COMMANDS.filter((c) => c.name.startsWith(`${first} `)).map((c) => c.name.split(' ')[1]!);
      const s = suggest(second, subs);
      console.error(`kdgpu: unknown command "${first} ${second}"${s ? `; did you mean "${first} ${s}"?` : ''}\n\n${groupHelp(first)}`);
      return 2;
    }
    rest = argv.slice(2);
  } else {
    cmd = COMMANDS.find((c) => c.name === first);
    if (!cmd) {
      const s = suggest(first, [...COMMANDS.map((c) => c.name.split(' ')[0]!), 'help']);
      console.error(`kdgpu: unknown command "${first}"${s ? `; did you mean "${s}"?` : ''}\n\n${mainHelp()}`);
      return 2;
    }
    rest = argv.slice(1);
  }
  try {
    const args = parseArgs(cmd, rest);
    if (args === null) {
      console.log(commandHelp(cmd));
      return 0;
    }
    return await cmd.run(args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`kdgpu ${cmd.name}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
