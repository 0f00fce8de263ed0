/**
 * The `kdgpu` command for the fault tests under Deno (`deno run -A --node-modules-dir=manual`):
 * bin/kdgpu.mjs registers tsx for Node, which Deno does not need; the command itself is the same
 * `main`, and errors and exit codes are handled as bin/kdgpu.mjs does.
 */
import { main } from '../../packages/train/src/cli.ts';

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  console.error(`kdgpu: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
// Dawn keeps the event loop alive; exit once the command is done.
setTimeout(() => process.exit(Number(process.exitCode ?? 0)), 0);
