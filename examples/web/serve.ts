/**
 * Builds the page and serves examples/web/dist/ on 127.0.0.1 (a plain static server: WebGPU needs
 * a secure context, and localhost is one).
 *
 * usage: node --import tsx examples/web/serve.ts [--port 8787]      (npm run web)
 * @module
 */
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildPage, DIST_DIR } from './build.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** A running server: its address and how to stop it. */
export interface PageServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves `dir` (default examples/web/dist) on 127.0.0.1:`port` (0: any free port). */
export async function startServer(opts: { port?: number; dir?: string } = {}): Promise<PageServer> {
  const root = opts.dir ?? DIST_DIR;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
      const rel = normalize(path === '/' ? '/index.html' : path).replace(/^[/\\]+/, '');
      const file = join(root, rel);
      if (!file.startsWith(root.endsWith(sep) ? root : root + sep) || !(await stat(file).then((s) => s.isFile(), () => false))) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${path}\n`);
        return;
      }
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' }).end(body);
    })().catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${(err as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function portArg(argv: readonly string[]): number {
  const i = argv.indexOf('--port');
  const raw = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--port='))?.slice('--port='.length);
  if (raw === undefined) return 8787;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`serve: --port must be an integer in 0…65535, got ${JSON.stringify(raw)}`);
  return port;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = portArg(process.argv.slice(2));
  const { outDir } = await buildPage();
  const s = await startServer({ port });
  console.log(`kdgpu web page (built into ${outDir}) at ${s.url}`);
  console.log(`  a 1-minute smoke run: ${s.url}?smoke=1&autorun=1`);
  console.log('  Ctrl-C stops the server');
}
