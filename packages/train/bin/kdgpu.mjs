#!/usr/bin/env node
// The kdgpu command, for Node and Deno (`deno run -A node_modules/@kdgpu/train/bin/kdgpu.mjs ...`).
// An installed package runs its compiled JavaScript (dist/). In this repository (the bin is not
// inside node_modules and the sources are beside it) it runs the TypeScript sources instead, so
// tests and development need no build: Deno runs them natively, Node through tsx (a dev
// dependency of the repository, not a dependency of the package).
import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = realpathSync(fileURLToPath(import.meta.url));
const sources = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const inRepo = !/[\\/]node_modules[\\/]/.test(here) && existsSync(sources);
const isDeno = typeof globalThis.Deno !== 'undefined';

let main;
if (inRepo && !isDeno) {
  const { register } = await import('tsx/esm/api');
  // The repository tsconfig maps @kdgpu/* to the sources, whatever the working directory.
  register({ tsconfig: fileURLToPath(new URL('../../../tsconfig.json', import.meta.url)) });
  ({ main } = await import('../src/cli.ts'));
} else if (inRepo) {
  ({ main } = await import('../src/cli.ts'));
} else {
  ({ main } = await import('../dist/cli.js'));
}
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  console.error(`kdgpu: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
// Dawn keeps the event loop alive; exit once the command is done.
setTimeout(() => process.exit(Number(process.exitCode ?? 0)), 0);
