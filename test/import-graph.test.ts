/**
 * No import circles inside any package: a module must not import (directly or through others) a
 * module that imports it back. Circles make evaluation order matter, hide which layer owns what,
 * and once made `ops/elementwise.ts` and `ops/composite.ts` (and `tensor.ts` and every op) import
 * each other. Only imports that load a module at run time count: `import type` is erased.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Relative imports that load a module: `import x from`, `export ... from`, `import './x.ts'`. */
function runtimeImports(src: string): string[] {
  const out: string[] = [];
  for (const m of src.matchAll(/^(?:import|export)\s+(type\s+)?[^'";]*?\s*from\s+'(\.[^']+)'/gms)) if (!m[1]) out.push(m[2]);
  for (const m of src.matchAll(/^import\s+'(\.[^']+)'/gm)) out.push(m[1]);
  return out;
}

/** file -> the files it imports, for every .ts file under `dir`. */
function importGraph(dir: string): Map<string, string[]> {
  const g = new Map<string, string[]>();
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) g.set(p, runtimeImports(readFileSync(p, 'utf8')).map((s) => resolve(dirname(p), s)));
    }
  };
  walk(dir);
  return g;
}

/** The strongly connected components with more than one module, or a module importing itself (Tarjan). */
function circles(g: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (g.get(v) ?? []).includes(v)) found.push(scc.sort());
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return found;
}

test('the circle finder finds a circle through three modules and none in a chain', () => {
  assert.deepEqual(circles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), [['a', 'b', 'c']]);
  assert.deepEqual(circles(new Map([['a', ['b']], ['b', ['c']], ['c', []]])), []);
  assert.deepEqual(circles(new Map([['a', ['a']]])), [['a']]);
  assert.deepEqual(runtimeImports(`import type { A } from './a.ts';\nimport { b } from './b.ts';\nexport { c } from './c.ts';\nimport './d.ts';\nexport type { E } from './e.ts';`), ['./b.ts', './c.ts', './d.ts']);
});

for (const pkg of readdirSync(join(root, 'packages'))) {
  const src = join(root, 'packages', pkg, 'src');
  test(`${pkg}: no import circles in src/`, () => {
    const found = circles(importGraph(src));
    assert.deepEqual(found.map((c) => c.map((f) => relative(src, f)).join(' <-> ')), [], `import circles in packages/${pkg}/src`);
  });
}
