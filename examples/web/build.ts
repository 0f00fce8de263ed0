/**
 * Bundles the page with esbuild into examples/web/dist/: main.js (the page), worker.js (the
 * tokenizer worker), index.html and style.css. Every package must bundle for the browser without a
 * Node built-in; the build fails, naming the module, if one slips in.
 *
 * usage: node --import tsx examples/web/build.ts [--minify]
 * @module
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The page's source folder (examples/web). */
export const WEB_DIR = fileURLToPath(new URL('.', import.meta.url));
/** Where the built page goes. */
export const DIST_DIR = join(WEB_DIR, 'dist');

const STATIC_FILES = ['index.html', 'style.css'];

/** Options of {@link buildPage}. */
export interface BuildOptions {
  /** Output folder. Default examples/web/dist. */
  outDir?: string;
  /** Minify the bundles. Default false (readable stack traces). */
  minify?: boolean;
}

/** Builds the page; returns the output folder and the bundle sizes in bytes. */
export async function buildPage(opts: BuildOptions = {}): Promise<{ outDir: string; bytes: Record<string, number> }> {
  const esbuild = await import('esbuild');
  const outDir = opts.outDir ?? DIST_DIR;
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const result = await esbuild.build({
    entryPoints: { main: join(WEB_DIR, 'main.ts'), worker: join(WEB_DIR, 'worker.ts') },
    outdir: outDir,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    loader: { '.txt': 'text' },
    sourcemap: true,
    minify: opts.minify ?? false,
    metafile: true,
    logLevel: 'silent',
  });
  const nodeish = Object.keys(result.metafile.inputs).filter((p) => p.startsWith('node:') || /(^|\/)(fs|path|os|child_process|worker_threads)$/.test(p));
  if (nodeish.length > 0) {
    throw new Error(`web build: the browser bundle pulls Node modules (${nodeish.join(', ')}); a package's browser entry must not import them`);
  }
  for (const f of STATIC_FILES) await copyFile(join(WEB_DIR, f), join(outDir, f));
  const bytes: Record<string, number> = {};
  for (const [path, out] of Object.entries(result.metafile.outputs)) if (!path.endsWith('.map')) bytes[path.split('/').pop()!] = out.bytes;
  return { outDir, bytes };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { outDir, bytes } = await buildPage({ minify: process.argv.includes('--minify') });
  const sizes = Object.entries(bytes).map(([f, b]) => `${f} ${(b / 1024).toFixed(0)} KiB`).join(', ');
  console.log(`built ${outDir} (${sizes})`);
}
