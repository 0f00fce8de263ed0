// After tsc: makes the declarations portable for consumers.
// - tsc rewrites `.ts` to `.js` in emitted JavaScript (rewriteRelativeImportExtensions) but keeps
//   `.ts` in the declarations' relative imports (written and inferred `import("./x.ts")`), which a
//   consumer's tsc without allowImportingTsExtensions rejects; they become `.js` here.
// - @kdgpu/tensor's entry declarations reference
//   @webgpu/types (its dependency), so the WebGPU types (GPUDevice, GPUBuffer) reach every consumer
//   of it and of the packages built on it (they import it) with no tsconfig change.
import { readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const USES_WEBGPU = new Set(['tensor']);
const REF = '/// <reference types="@webgpu/types" />\n';

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else yield p;
  }
}

for (const pkg of process.argv.slice(2)) {
  const dist = join('packages', pkg, 'dist');
  let n = 0;
  for (const file of walk(dist)) {
    if (!file.endsWith('.d.ts')) continue;
    const src = readFileSync(file, 'utf8');
    let out = src.replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1$2.js$3');
    if (USES_WEBGPU.has(pkg) && (file === join(dist, 'index.d.ts') || file === join(dist, 'node.d.ts'))) out = REF + out;
    if (out !== src) { writeFileSync(file, out); n++; }
  }
  console.log(`build: ${pkg}: ${n} declaration files adjusted`);
}
