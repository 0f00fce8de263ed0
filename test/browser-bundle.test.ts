/**
 * Every package but the CLI must run in a browser tab: its public entry bundles for the browser
 * with no Node built-in (esbuild fails to resolve `node:*` imports for platform "browser").
 * Node/Deno adapters live in separate entries (`@kdgpu/<pkg>/node`) and are not checked here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const packages = ['tensor', 'tokenizer', 'models', 'losses', 'train'];

for (const pkg of packages) {
  const entry = `${root}packages/${pkg}/src/index.ts`;
  test(`@kdgpu/${pkg} bundles for the browser without Node built-ins`, async () => {
    const esbuild = await import('esbuild');
    const result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    assert.equal(result.errors.length, 0);
    const inputs = Object.keys(result.metafile!.inputs);
    const nodeish = inputs.filter((p) => p.startsWith('node:') || /(^|\/)(fs|path|os|child_process)$/.test(p));
    assert.deepEqual(nodeish, [], `Node modules in the browser bundle of @kdgpu/${pkg}`);
    const code = result.outputFiles[0].text;
    assert.ok(!/from\s+["']node:/.test(code) && !/require\(["']node:/.test(code), 'no node: import in the output');
  });
}
