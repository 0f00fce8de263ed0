/**
 * The consumer test (`npm run test:consumer`, part of `npm test`): the packages as a user gets them.
 *
 * Builds and packs every package (`npm pack`), installs the tarballs into scratch projects under
 * the system temp folder (no workspace links, no tsx), and there:
 *  - checks each tarball: dist JavaScript and declarations, LICENSE, README; no tests, fixtures or
 *    Python; no `.ts` import paths left in the declarations; internal dependencies as ranges; no
 *    tsx and no webgpu among the dependencies (webgpu is tensor's optional peer);
 *  - runs each package README's marked example (`<!-- consumer-example: NAME ... -->` before a
 *    ```js block; the README text itself, so the two cannot drift) with plain `node`;
 *  - type-checks the same examples as `.ts` with a stock `tsc --init` project (strict, NodeNext,
 *    noUncheckedIndexedAccess, exactOptionalPropertyTypes) and skipLibCheck off: 0 errors;
 *  - runs the tensor and tokenizer examples under Deno from the installed files;
 *  - bundles each browser-safe entry with esbuild for the browser: no Node built-ins;
 *  - runs the installed `kdgpu` bin (compiled JavaScript) under Node and Deno;
 *  - `deno publish --dry-run` of the workspace (each package's deno.json: JSR name, version, exports);
 *  - installs @kdgpu/tokenizer alone: `npm ls --omit=dev` lists no webgpu and no native binaries.
 *
 * `--tarballs DIR` tests already-packed tarballs instead of building (how a deliberately broken
 * tarball was shown to fail it); `--keep` leaves the scratch folder for inspection.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGES = ['tensor', 'tokenizer', 'models', 'losses', 'train'] as const;
/** Entries that must bundle for a browser tab (the `./node` entries are Node/Deno adapters). */
const BROWSER_ENTRIES = PACKAGES.map((p) => `@kdgpu/${p}`);
/** README examples Deno runs from the installed files. */
const DENO_EXAMPLES = ['tensor', 'tokenizer'];

const args = process.argv.slice(2);
const keep = args.includes('--keep');
const given = args.includes('--tarballs') ? args[args.indexOf('--tarballs') + 1] : undefined;
const work = mkdtempSync(join(tmpdir(), 'kdgpu-consumer-'));
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' };
const started = performance.now();
let failures = 0;

function sh(cmd: string, argv: string[], opts: SpawnSyncOptions & { cwd: string }): string {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env, timeout: 300_000, ...opts });
  if (r.status !== 0) {
    throw new Error(`\`${cmd} ${argv.join(' ')}\` in ${opts.cwd} exited with ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}\n${String(r.stdout ?? '').slice(-3000)}\n${String(r.stderr ?? '').slice(-3000)}`);
  }
  return String(r.stdout ?? '');
}

async function step(name: string, fn: () => void | Promise<void>): Promise<void> {
  const t0 = performance.now();
  try {
    await fn();
    console.log(`ok   ${name} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}\n${e instanceof Error ? e.message : String(e)}`.replace(/\n/g, '\n     '));
  }
}

const npm = (argv: string[], cwd: string) => sh('npm', argv, { cwd });
const tarballs = join(work, 'tarballs');
const app = join(work, 'app');
const tarball = (p: string) => join(tarballs, `kdgpu-${p}-0.1.0.tgz`);

/** The `<!-- consumer-example: NAME ... -->` blocks of the package READMEs. */
function readmeExamples(): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of PACKAGES) {
    const text = readFileSync(join(root, 'packages', p, 'README.md'), 'utf8');
    const re = /<!-- consumer-example: ([a-z0-9-]+)[^>]*-->\n```js\n([\s\S]*?)\n```/g;
    for (const m of text.matchAll(re)) out.set(m[1]!, m[2]!);
    if (![...text.matchAll(re)].length) throw new Error(`packages/${p}/README.md has no \`<!-- consumer-example: NAME -->\` before a \`\`\`js block`);
  }
  return out;
}

await step('build and pack every package', () => {
  mkdirSync(tarballs);
  if (given) {
    for (const p of PACKAGES) sh('cp', [join(given, `kdgpu-${p}-0.1.0.tgz`), tarballs], { cwd: root });
    return;
  }
  sh('bash', ['scripts/build.sh'], { cwd: root });
  npm(['pack', '--silent', '--pack-destination', tarballs, ...PACKAGES.flatMap((p) => ['-w', `@kdgpu/${p}`])], root);
});

await step('tarballs: dist, LICENSE, README; no tests, fixtures or Python; dependencies', () => {
  const problems: string[] = [];
  for (const p of PACKAGES) {
    const files = sh('tar', ['tzf', tarball(p)], { cwd: work }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    for (const need of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts']) {
      if (!files.includes(need)) problems.push(`${p}: ${need} missing`);
    }
    for (const f of files) {
      if (/(^|\/)(test|tests|fixtures|bench)\//.test(f) || /\.(py|test\.ts)$/.test(f) || /tsconfig/.test(f)) problems.push(`${p}: ships ${f}`);
    }
    const dir = join(work, 'unpacked', p);
    mkdirSync(dir, { recursive: true });
    sh('tar', ['xzf', tarball(p), '-C', dir], { cwd: work });
    const pkg = JSON.parse(readFileSync(join(dir, 'package/package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    for (const field of ['description', 'repository', 'keywords', 'engines', 'license']) if (!pkg[field]) problems.push(`${p}: package.json has no ${field}`);
    const deps = pkg.dependencies ?? {};
    for (const [name, range] of Object.entries(deps)) {
      if (name.startsWith('@kdgpu/') && !/^[\^~]/.test(range)) problems.push(`${p}: dependency ${name} is pinned (${range}), not a range`);
    }
    if ('tsx' in deps) problems.push(`${p}: tsx is a runtime dependency`);
    if ('webgpu' in deps) problems.push(`${p}: webgpu is a dependency (it belongs in @kdgpu/tensor's optional peerDependencies)`);
    for (const f of files.filter((f) => f.endsWith('.d.ts'))) {
      const text = readFileSync(join(dir, 'package', f), 'utf8');
      if (/(from|import)\s*\(?\s*['"]\.{1,2}\/[^'"]*\.ts['"]/.test(text)) problems.push(`${p}: ${f} imports a .ts path`);
    }
  }
  if (problems.length) throw new Error(problems.join('\n'));
});

const examples = readmeExamples();

await step('install the tarballs into a scratch project (no workspace links)', () => {
  mkdirSync(join(app, 'examples'), { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'kdgpu-consumer', private: true, type: 'module' }, null, 2));
  // webgpu: the optional peer a Node user installs; @types/node: a Node TypeScript project's own.
  npm(['install', '--prefer-offline', '--no-package-lock', ...PACKAGES.map(tarball), `webgpu@${devRange('webgpu')}`, `@types/node@${devRange('@types/node')}`], app);
  if (existsSync(join(app, 'node_modules', 'tsx'))) throw new Error('tsx was installed: something still depends on it');
  for (const p of PACKAGES) {
    const link = spawnSync('test', ['-L', join(app, 'node_modules', '@kdgpu', p)]);
    if (link.status === 0) throw new Error(`node_modules/@kdgpu/${p} is a link, not an installed copy`);
  }
  for (const [name, code] of examples) writeFileSync(join(app, 'examples', `${name}.mjs`), code + '\n');
});

function devRange(name: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const r = pkg.devDependencies[name];
  if (!r) throw new Error(`package.json has no devDependency ${name}`);
  return r;
}

for (const [name] of examples) {
  await step(`node runs the ${name} README example`, () => {
    const out = sh(process.execPath, [join('examples', `${name}.mjs`)], { cwd: app });
    if (!out.trim()) throw new Error('it printed nothing');
  });
}

await step('tsc --noEmit (tsc --init: strict, NodeNext, noUncheckedIndexedAccess; skipLibCheck off) on the examples as .ts: 0 errors', () => {
  const ts = join(app, 'ts');
  mkdirSync(ts);
  for (const [name, code] of examples) writeFileSync(join(ts, `${name}.ts`), code + '\n');
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  sh(process.execPath, [tsc, '--init'], { cwd: ts });
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', '.', '--skipLibCheck', 'false', '--types', 'node'], { cwd: ts, encoding: 'utf8', env });
  if (r.status !== 0) {
    const errors = (r.stdout.match(/error TS\d+/g) ?? []).length;
    throw new Error(`${errors} errors:\n${r.stdout.slice(0, 4000)}`);
  }
});

const deno = join(root, 'node_modules/.bin/deno');
for (const name of DENO_EXAMPLES) {
  await step(`Deno runs the ${name} README example from the installed files`, () => {
    const out = sh(deno, ['run', '-A', '--node-modules-dir=manual', join('examples', `${name}.mjs`)], { cwd: app });
    if (!out.trim()) throw new Error('it printed nothing');
  });
}

await step('the installed kdgpu bin (compiled JavaScript) under Node and Deno', () => {
  const bin = join(app, 'node_modules/@kdgpu/train/bin/kdgpu.mjs');
  sh(join(app, 'node_modules/.bin/kdgpu'), ['init', 'node-run.json'], { cwd: app });
  sh(deno, ['run', '-A', '--node-modules-dir=manual', bin, 'init', 'deno-run.json'], { cwd: app });
  for (const f of ['node-run.json', 'deno-run.json']) if (!existsSync(join(app, f))) throw new Error(`kdgpu init wrote no ${f}`);
});

await step('esbuild bundles each browser-safe entry for a browser: no Node built-ins', async () => {
  const problems: string[] = [];
  for (const entry of BROWSER_ENTRIES) {
    const r = await build({
      stdin: { contents: `export * from '${entry}';`, resolveDir: app, loader: 'js' },
      bundle: true, write: false, format: 'esm', platform: 'browser', logLevel: 'silent',
    }).catch((e: Error) => e);
    if (r instanceof Error) { problems.push(`${entry}: ${r.message.split('\n').slice(0, 4).join(' ')}`); continue; }
    const js = r.outputFiles[0]!.text;
    const builtins = js.match(/(?:from|import\()\s*["'](node:[a-z_/]+|fs|path|os|child_process|crypto|url|zlib|worker_threads)["']/g);
    if (builtins) problems.push(`${entry}: the bundle imports ${[...new Set(builtins)].join(', ')}`);
  }
  if (problems.length) throw new Error(problems.join('\n'));
});

await step('deno publish --dry-run: every package publishes to JSR (no slow types)', () => {
  sh(deno, ['publish', '--dry-run', '--allow-dirty'], { cwd: root });
});

await step('@kdgpu/tokenizer alone: npm ls --omit=dev lists no webgpu and no native binaries', () => {
  const tok = join(work, 'tokenizer-only');
  mkdirSync(tok);
  writeFileSync(join(tok, 'package.json'), JSON.stringify({ name: 'kdgpu-tokenizer-only', private: true, type: 'module' }));
  npm(['install', '--prefer-offline', '--no-package-lock', tarball('tokenizer')], tok);
  const ls = npm(['ls', '--omit=dev', '--all', '--parseable'], tok);
  if (/webgpu|dawn/i.test(ls)) throw new Error(`installed:\n${ls}`);
  const natives = sh('find', ['node_modules', '-name', '*.node'], { cwd: tok }).trim();
  if (natives) throw new Error(`native binaries installed:\n${natives}`);
  const installed = readdirSync(join(tok, 'node_modules')).filter((d) => !d.startsWith('.'));
  if (installed.join() !== '@kdgpu') throw new Error(`installed more than @kdgpu/tokenizer: ${installed.join(', ')}`);
});

const seconds = ((performance.now() - started) / 1000).toFixed(0);
if (keep) console.log(`scratch folder kept: ${work}`);
else rmSync(work, { recursive: true, force: true });
console.log(failures ? `consumer test: ${failures} step(s) failed (${seconds} s)` : `consumer test: all steps passed (${seconds} s)`);
process.exit(failures ? 1 : 0);
