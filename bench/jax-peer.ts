/**
 * The optional peer column of the tensor bench: the same pre-LN GPT-2 transformer block
 * forward+backward in jax-js (WebGPU backend, `jit(grad(loss))`), on the same adapter in the same
 * run, so the ratio is always measured side by side. jax-js is not a dependency of the workspace:
 * install it outside, e.g.
 *
 *   mkdir -p /work/peer/jax-js && cd /work/peer/jax-js && npm i @jax-js/jax@0.1.25
 *
 * and point `KDGPU_PEER_JAXJS` at the folder holding `node_modules` (default /work/peer/jax-js).
 * When it is absent the column is skipped with a message.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A timed peer workload: `run()` does one forward+backward and waits for the GPU. */
export interface PeerWorkload {
  name: string;
  version: string;
  run: () => Promise<void>;
}

// The subset of jax-js's API used here (the package's own types are outside the workspace).
// deno-lint-ignore no-explicit-any
type Any = any;

/** Loads jax-js on WebGPU and builds the block step, or returns why it cannot. */
export async function jaxjsBlock(B: number, T: number, d: number, heads: number, ff: number): Promise<PeerWorkload | string> {
  const root = process.env.KDGPU_PEER_JAXJS ?? '/work/peer/jax-js';
  const pkgDir = join(root, 'node_modules', '@jax-js', 'jax');
  const entry = join(pkgDir, 'dist', 'index.js');
  if (!existsSync(entry)) return `jax-js not installed at ${root} (npm i @jax-js/jax@0.1.25 there, or set KDGPU_PEER_JAXJS)`;
  const version = (JSON.parse(await import('node:fs').then((f) => f.readFileSync(join(pkgDir, 'package.json'), 'utf8'))) as { version: string }).version;
  // jax-js finds WebGPU at navigator.gpu; in Node that is Dawn's instance from the `webgpu` package.
  const nav = (globalThis as Any).navigator ?? ((globalThis as Any).navigator = {});
  // jax-js sniffs the browser from navigator.userAgent (Node 20 has no navigator).
  if (typeof nav.userAgent !== 'string') Object.defineProperty(nav, 'userAgent', { value: 'Node.js', configurable: true });
  if (!nav.gpu) {
    const dawn: Any = await import('webgpu');
    for (const [k, v] of Object.entries(dawn.globals as Record<string, unknown>)) if (!(k in globalThis)) (globalThis as Any)[k] = v;
    Object.defineProperty(nav, 'gpu', { value: dawn.create([]), configurable: true });
  }
  const jax: Any = await import(pathToFileURL(entry).href);
  const got: string[] = await jax.init('webgpu');
  if (!got.includes('webgpu')) return 'jax-js found no WebGPU device';
  jax.defaultDevice('webgpu');
  const np = jax.numpy;
  const key0 = jax.random.key(0);
  const keys = jax.random.split(key0, 8);
  const rnd = (i: number, shape: number[]) => jax.random.normal(keys.ref.slice(i), shape).mul(0.02);
  const P: Record<string, Any> = {
    ln1g: np.ones([d]), ln1b: np.zeros([d]), wqkv: rnd(0, [d, 3 * d]), bqkv: rnd(1, [3 * d]),
    wo: rnd(2, [d, d]), bo: rnd(3, [d]), ln2g: np.ones([d]), ln2b: np.zeros([d]),
    w1: rnd(4, [d, ff]), b1: rnd(5, [ff]), w2: rnd(6, [ff, d]), b2: rnd(7, [d]),
  };
  keys.dispose();
  const x = jax.random.normal(jax.random.key(13), [B, T, d]);
  const Dh = d / heads;
  const maskData = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) maskData[i * T + j] = -1e30;
  const mask = np.array(maskData).reshape([T, T]);
  // Every array argument is consumed once (jax-js's ownership rule): `.ref` for each extra use.
  const layerNorm = (v: Any, g: Any, b: Any) => jax.nn.standardize(v, -1, { epsilon: 1e-5 }).mul(g).add(b);
  const loss = (p: Record<string, Any>, xin: Any) => {
    const h = layerNorm(xin.ref, p.ln1g, p.ln1b);
    const qkv = np.matmul(h, p.wqkv).add(p.bqkv); // [B, T, 3d]
    const part = (k: number) => np.transpose(qkv.ref.slice([], [], [k * d, (k + 1) * d]).reshape([B, T, heads, Dh]), [0, 2, 1, 3]); // [B, H, T, Dh]
    const q = part(0), kk = part(1), v = part(2);
    qkv.dispose();
    // Causal attention written out (nn.dotProductAttention needs Node 22's iterator helpers).
    const s = np.matmul(q, np.transpose(kk, [0, 1, 3, 2])).mul(1 / Math.sqrt(Dh)).add(mask.ref); // [B, H, T, T]
    const y = np.transpose(np.matmul(jax.nn.softmax(s, -1), v), [0, 2, 1, 3]).reshape([B, T, d]);
    const x1 = xin.add(np.matmul(y, p.wo).add(p.bo));
    const h2 = layerNorm(x1.ref, p.ln2g, p.ln2b);
    const m = np.matmul(jax.nn.gelu(np.matmul(h2, p.w1).add(p.b1), { approximate: true }), p.w2).add(p.b2);
    return np.square(x1.add(m)).mean();
  };
  const step = jax.jit(jax.grad(loss));
  const run = async () => {
    const g = step(jax.tree.map((a: Any) => a.ref, P), x.ref);
    await jax.blockUntilReady(g);
    jax.tree.dispose(g);
  };
  return { name: 'jax-js', version, run };
}
