#!/usr/bin/env node
// The kdgpu command. The package ships TypeScript sources, so Node runs them through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  console.error(`kdgpu: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
// Dawn keeps the event loop alive; exit once the command is done.
setImmediate(() => process.exit(process.exitCode ?? 0));
