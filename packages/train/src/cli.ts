/**
 * The `kdgpu` command line (Node/Deno only): `main(argv)` returns the exit code. The commands are
 * in `cli/commands/`, their table and the dispatcher in `cli/main.ts`, the flag grammar in
 * `cli/args.ts`.
 * @module
 */
export { COMMANDS, main, mainHelp } from './cli/main.ts';
export { type Command, commandHelp, defineCommand, type FlagSpec, type FlagValues, parseArgs, type ParsedArgs, type PositionalSpec, suggest, UsageError } from './cli/args.ts';
