/**
 * A tiny float64 n-d array for reference computations in tests: every GPU op is checked against
 * these plain loops, and gradients against their finite differences.
 */
export interface Nd {
  shape: number[];
  data: Float64Array;
}

export const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
export const nd = (shape: number[], data?: ArrayLike<number>): Nd => ({ shape, data: data ? Float64Array.from(data) : new Float64Array(numel(shape)) });

export function strides(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const c = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return c;
}

/** Seeded uniform floats in [lo, hi) (mulberry32). */
export function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function broadcastShape(...shapes: number[][]): number[] {
  const n = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: n }, (_, i) => Math.max(...shapes.map((s) => s[s.length - n + i] ?? 1)));
}

function at(x: Nd, coord: number[]): number {
  const st = strides(x.shape);
  let o = 0;
  const lead = coord.length - x.shape.length;
  for (let d = 0; d < x.shape.length; d++) o += (x.shape[d] === 1 ? 0 : coord[lead + d]) * st[d];
  return x.data[o];
}

/** Elementwise map with NumPy broadcasting. */
export function map(f: (...v: number[]) => number, ...xs: Nd[]): Nd {
  const shape = broadcastShape(...xs.map((x) => x.shape));
  const out = nd(shape);
  for (let i = 0; i < out.data.length; i++) {
    const c = unravel(i, shape);
    out.data[i] = f(...xs.map((x) => at(x, c)));
  }
  return out;
}

/** Reduction over `axes` (all when undefined). */
export function reduce(x: Nd, f: (v: number[]) => number, axes?: number[], keepdim = false): Nd {
  const ax = (axes ?? x.shape.map((_, i) => i)).map((a) => (a < 0 ? a + x.shape.length : a));
  const keepShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const groups = new Map<number, number[]>();
  for (let i = 0; i < x.data.length; i++) {
    const c = unravel(i, x.shape).map((v, d) => (ax.includes(d) ? 0 : v));
    const key = c.reduce((o, v, d) => o + v * strides(keepShape)[d], 0);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(x.data[i]);
  }
  const out = nd(keepdim ? keepShape : x.shape.filter((_, i) => !ax.includes(i)));
  for (let k = 0; k < out.data.length; k++) out.data[k] = f(groups.get(k) ?? []);
  return out;
}

export function permute(x: Nd, dims: number[]): Nd {
  const shape = dims.map((d) => x.shape[d]);
  const out = nd(shape);
  const st = strides(x.shape);
  for (let i = 0; i < out.data.length; i++) {
    const c = unravel(i, shape);
    let o = 0;
    dims.forEach((d, k) => (o += c[k] * st[d]));
    out.data[i] = x.data[o];
  }
  return out;
}

export function matmul(a: Nd, b: Nd): Nd {
  const M = a.shape.at(-2)!, K = a.shape.at(-1)!, N = b.shape.at(-1)!;
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const out = nd([...batch, M, N]);
  const nb = numel(batch);
  for (let bi = 0; bi < nb; bi++) {
    const c = unravel(bi, batch);
    const sub = (x: Nd) => {
      const bs = x.shape.slice(0, -2);
      const lead = batch.length - bs.length;
      let idx = 0;
      for (let d = 0; d < bs.length; d++) idx = idx * bs[d] + (bs[d] === 1 ? 0 : c[lead + d]);
      return idx * x.shape.at(-2)! * x.shape.at(-1)!;
    };
    const ao = sub(a), bo = sub(b);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a.data[ao + m * K + k] * b.data[bo + k * N + n];
        out.data[bi * M * N + m * N + n] = s;
      }
  }
  return out;
}

export function slice(x: Nd, axis: number, start: number, end: number): Nd {
  const shape = x.shape.map((d, i) => (i === axis ? end - start : d));
  const out = nd(shape);
  const st = strides(x.shape);
  for (let i = 0; i < out.data.length; i++) {
    const c = unravel(i, shape);
    c[axis] += start;
    out.data[i] = x.data[c.reduce((o, v, d) => o + v * st[d], 0)];
  }
  return out;
}

export function cat(xs: Nd[], axis: number): Nd {
  const shape = xs[0].shape.map((d, i) => (i === axis ? xs.reduce((s, x) => s + x.shape[axis], 0) : d));
  const out = nd(shape);
  const st = strides(shape);
  let off = 0;
  for (const x of xs) {
    for (let i = 0; i < x.data.length; i++) {
      const c = unravel(i, x.shape);
      c[axis] += off;
      out.data[c.reduce((o, v, d) => o + v * st[d], 0)] = x.data[i];
    }
    off += x.shape[axis];
  }
  return out;
}

export function gather(x: Nd, axis: number, idx: Nd): Nd {
  const out = nd(idx.shape);
  const st = strides(x.shape);
  for (let i = 0; i < out.data.length; i++) {
    const c = unravel(i, idx.shape);
    c[axis] = idx.data[i];
    out.data[i] = x.data[c.reduce((o, v, d) => o + v * st[d], 0)];
  }
  return out;
}

export function scatterAdd(shape: number[], axis: number, idx: Nd, src: Nd): Nd {
  const out = nd(shape);
  const st = strides(shape);
  for (let i = 0; i < src.data.length; i++) {
    const c = unravel(i, src.shape);
    c[axis] = idx.data[i];
    out.data[c.reduce((o, v, d) => o + v * st[d], 0)] += src.data[i];
  }
  return out;
}
