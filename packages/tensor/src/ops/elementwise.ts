import { record } from '../autograd.ts';
import { KdgpuError } from '../errors.ts';
import { broadcastShapes } from '../shape.ts';
import type { DType } from '../storage.ts';
import type { Tensor, TensorLike } from '../tensor.ts';
import { mapElementwise } from './kernel-elementwise.ts';
import { sumTo } from './broadcast.ts';

/**
 * Elementwise primitives, each defined once: WGSL expression, backward rule, and float64
 * reference (the op test checks every row against it, and gradients against its finite
 * differences). The mapped types make a missing piece a compile error.
 */

export type UnaryName = 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'tanh' | 'sigmoid' | 'relu' | 'sin' | 'cos';
export type BinaryName = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

export interface UnaryDef {
  /** WGSL for the result given the operand expression `x`. */
  wgsl: (x: string) => string;
  /** Whether i32 inputs stay i32 (otherwise they compute in f32). */
  int: boolean;
  /** Which forward tensors the backward needs. */
  saves: 'x' | 'y' | 'xy';
  /** d(loss)/dx from x, y = f(x) and d(loss)/dy. */
  backward: (x: Tensor, y: Tensor, g: Tensor) => Tensor;
  /** float64 reference. */
  reference: (x: number) => number;
}

export interface BinaryDef {
  wgsl: (a: string, b: string) => string;
  int: boolean;
  /** Comparisons give an f32 0/1 mask and have no gradient. */
  compare: boolean;
  saves: '' | 'ab' | 'aby';
  /** Narrows `saves` to what the wanted gradients read (default: all of `saves`). */
  savesFor?: (need: readonly [boolean, boolean]) => string;
  /**
   * Gradients before reduction to the operand shapes; `a`/`b` may be scalars. `need` says which
   * are wanted: a rule must not compute the other (it would cost a full-size buffer and a pass).
   */
  backward: (a: TensorLike, b: TensorLike, y: Tensor, g: Tensor, need: readonly [boolean, boolean]) => [Tensor | null, Tensor | null];
  reference: (a: number, b: number) => number;
}

const sign = (x: Tensor) => x.gt(0).sub(x.lt(0));

export const UNARY: { readonly [K in UnaryName]: UnaryDef } = {
  neg: { wgsl: (x) => `-${x}`, int: true, saves: 'x', backward: (_x, _y, g) => g.neg(), reference: (x) => -x },
  exp: { wgsl: (x) => `exp(${x})`, int: false, saves: 'y', backward: (_x, y, g) => g.mul(y), reference: Math.exp },
  log: { wgsl: (x) => `log(${x})`, int: false, saves: 'x', backward: (x, _y, g) => g.div(x), reference: Math.log },
  sqrt: { wgsl: (x) => `sqrt(${x})`, int: false, saves: 'y', backward: (_x, y, g) => g.div(y.mul(2)), reference: Math.sqrt },
  rsqrt: {
    wgsl: (x) => `inverseSqrt(${x})`,
    int: false,
    saves: 'y',
    backward: (_x, y, g) => g.mul(y.mul(y).mul(y)).mul(-0.5),
    reference: (x) => 1 / Math.sqrt(x),
  },
  abs: { wgsl: (x) => `abs(${x})`, int: true, saves: 'x', backward: (x, _y, g) => g.mul(sign(x)), reference: Math.abs },
  // Clamped: tanh(±15) is ±1 in f32, and some drivers overflow exp() inside tanh for large |x|.
  tanh: { wgsl: (x) => `tanh(clamp(${x}, -15.0, 15.0))`, int: false, saves: 'y', backward: (_x, y, g) => g.mul(y.mul(y).neg().add(1)), reference: Math.tanh },
  sigmoid: {
    wgsl: (x) => `1.0 / (1.0 + exp(-${x}))`,
    int: false,
    saves: 'y',
    backward: (_x, y, g) => g.mul(y.mul(y.neg().add(1))),
    reference: (x) => 1 / (1 + Math.exp(-x)),
  },
  relu: { wgsl: (x) => `max(${x}, ${'0'})`, int: true, saves: 'x', backward: (x, _y, g) => g.mul(x.gt(0)), reference: (x) => Math.max(x, 0) },
  sin: { wgsl: (x) => `sin(${x})`, int: false, saves: 'x', backward: (x, _y, g) => g.mul(x.cos()), reference: Math.sin },
  cos: { wgsl: (x) => `cos(${x})`, int: false, saves: 'x', backward: (x, _y, g) => g.mul(x.sin()).neg(), reference: Math.cos },
};

// pow with PyTorch's semantics for negative bases and integer exponents, which WGSL's pow lacks.
const POW_HELPER = `fn kpow(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (a >= 0.0) { return select(pow(a, b), 0.0, a == 0.0 && b > 0.0); }
  if (b != floor(b)) { return bitsToF32(0x7fc00000u); }
  let m = pow(-a, b);
  return select(m, -m, abs(b % 2.0) == 1.0);
}`;

export const BINARY: { readonly [K in BinaryName]: BinaryDef } = {
  add: { wgsl: (a, b) => `${a} + ${b}`, int: true, compare: false, saves: '', backward: (_a, _b, _y, g, n) => [n[0] ? g : null, n[1] ? g : null], reference: (a, b) => a + b },
  sub: { wgsl: (a, b) => `${a} - ${b}`, int: true, compare: false, saves: '', backward: (_a, _b, _y, g, n) => [n[0] ? g : null, n[1] ? g.neg() : null], reference: (a, b) => a - b },
  mul: { wgsl: (a, b) => `${a} * ${b}`, int: true, compare: false, saves: 'ab', savesFor: (n) => (n[1] ? 'a' : '') + (n[0] ? 'b' : ''), backward: (a, b, _y, g, n) => [n[0] ? g.mul(b) : null, n[1] ? g.mul(a) : null], reference: (a, b) => a * b },
  div: {
    wgsl: (a, b) => `${a} / ${b}`,
    int: false,
    compare: false,
    saves: 'aby',
    backward: (_a, b, y, g, n) => [n[0] ? g.div(b) : null, n[1] ? g.mul(y).neg().div(b) : null],
    reference: (a, b) => a / b,
  },
  pow: {
    wgsl: (a, b) => `kpow(${a}, ${b})`,
    int: false,
    compare: false,
    saves: 'aby',
    backward: (a, b, y, g, n) => {
      const ga = !n[0] || typeof a === 'number' ? null : typeof b === 'number' ? g.mul(a.pow(b - 1)).mul(b) : g.mul(b).mul(a.pow(b.sub(1)));
      // d/db a^b = a^b log a, defined for a > 0 (PyTorch gives 0 where a == 0 and b >= 0).
      const gb = !n[1] ? null : typeof a === 'number' ? g.mul(y).mul(a > 0 ? Math.log(a) : 0) : g.mul(y).mul(a.log()).mul(a.gt(0));
      return [ga, gb];
    },
    reference: (a, b) => Math.pow(a, b),
  },
  maximum: {
    wgsl: (a, b) => `max(${a}, ${b})`,
    int: true,
    compare: false,
    saves: 'ab',
    // Ties split the gradient evenly, as PyTorch does.
    backward: (a, b, _y, g, n) => {
      const ta = typeof a === 'number' ? (b as Tensor).mul(0).add(a) : a;
      const w = ta.gt(b).add(ta.eq(b).mul(0.5));
      return [n[0] ? g.mul(w) : null, n[1] ? g.mul(w.neg().add(1)) : null];
    },
    reference: Math.max,
  },
  minimum: {
    wgsl: (a, b) => `min(${a}, ${b})`,
    int: true,
    compare: false,
    saves: 'ab',
    backward: (a, b, _y, g, n) => {
      const ta = typeof a === 'number' ? (b as Tensor).mul(0).add(a) : a;
      const w = ta.lt(b).add(ta.eq(b).mul(0.5));
      return [n[0] ? g.mul(w) : null, n[1] ? g.mul(w.neg().add(1)) : null];
    },
    reference: Math.min,
  },
  eq: cmp('==', (a, b) => +(a === b)),
  ne: cmp('!=', (a, b) => +(a !== b)),
  lt: cmp('<', (a, b) => +(a < b)),
  le: cmp('<=', (a, b) => +(a <= b)),
  gt: cmp('>', (a, b) => +(a > b)),
  ge: cmp('>=', (a, b) => +(a >= b)),
};

function cmp(op: string, reference: (a: number, b: number) => number): BinaryDef {
  return { wgsl: (a, b) => `select(0.0, 1.0, ${a} ${op} ${b})`, int: true, compare: true, saves: '', backward: () => [null, null], reference };
}

function checkLive(op: string, t: TensorLike): void {
  if (typeof t !== 'number') t._assertLive(op);
}

/** Applies a unary primitive. */
export function unary(name: UnaryName, x: Tensor): Tensor {
  x._assertLive(name);
  const def = UNARY[name];
  const T: DType = def.int && x.dtype === 'i32' ? 'i32' : 'f32';
  const y = mapElementwise(name, [x], x.shape, T, T, def.wgsl('v0'));
  return record(y, name, [x], def.saves === 'y' ? [y] : def.saves === 'x' ? [x] : [x, y], (g, s) => {
    // Only the saved side is meaningful to the rule; the other argument is a placeholder.
    const xs = s[0];
    const ys = def.saves === 'xy' ? s[1] : s[0];
    return [def.backward(xs, ys, g)];
  });
}

/** Applies a binary primitive with NumPy broadcasting; either side may be a number. */
export function binary(name: BinaryName, a: TensorLike, b: TensorLike): Tensor {
  checkLive(name, a);
  checkLive(name, b);
  if (typeof a === 'number' && typeof b === 'number') throw new KdgpuError(`${name}: at least one operand must be a tensor`);
  const def = BINARY[name];
  const sa = typeof a === 'number' ? [] : a.shape;
  const sb = typeof b === 'number' ? [] : b.shape;
  const shape = broadcastShapes(name, sa, sb);
  const allInt = (typeof a === 'number' ? Number.isInteger(a) : a.dtype === 'i32') && (typeof b === 'number' ? Number.isInteger(b) : b.dtype === 'i32');
  const T: DType = def.int && allInt ? 'i32' : 'f32';
  const outT: DType = def.compare ? 'f32' : T;
  const y = mapElementwise(name, [a, b], shape, T, outT, def.wgsl('v0', 'v1'), name === 'pow' ? POW_HELPER : '');
  if (def.compare) return y;
  const ta = typeof a === 'number' ? null : a;
  const tb = typeof b === 'number' ? null : b;
  const need: [boolean, boolean] = [!!ta?.requiresGrad, !!tb?.requiresGrad];
  // Save only what the wanted gradients read: x.mul(mask) keeps the mask, not x.
  const saves = def.savesFor ? def.savesFor(need) : def.saves;
  const saved: Tensor[] = [];
  if (saves.includes('a') && ta) saved.push(ta);
  if (saves.includes('b') && tb) saved.push(tb);
  if (saves.includes('y')) saved.push(y);
  return record(y, name, [ta, tb], saved, (g, s) => {
    let k = 0;
    const av: TensorLike = saves.includes('a') && ta ? s[k++] : (a as TensorLike);
    const bv: TensorLike = saves.includes('b') && tb ? s[k++] : (b as TensorLike);
    const yv = saves.includes('y') ? s[k++] : y;
    const [ga, gb] = def.backward(av, bv, yv, g, need);
    return [ga && ta ? sumTo(ga, ta.shape) : null, gb && tb ? sumTo(gb, tb.shape) : null];
  });
}

/** `cond ? a : b` elementwise with broadcasting (cond is nonzero = true). */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  cond._assertLive('where');
  checkLive('where', a);
  checkLive('where', b);
  const sa = typeof a === 'number' ? [] : a.shape;
  const sb = typeof b === 'number' ? [] : b.shape;
  let shape = broadcastShapes('where', cond.shape, sa);
  shape = broadcastShapes('where', shape, sb);
  const allInt = (typeof a === 'number' ? Number.isInteger(a) : a.dtype === 'i32') && (typeof b === 'number' ? Number.isInteger(b) : b.dtype === 'i32');
  const T: DType = allInt ? 'i32' : 'f32';
  // mapElementwise converts every operand to T, the condition included.
  const y = mapElementwise('where', [cond, a, b], shape, T, T, `select(v2, v1, ${T === 'f32' ? 'v0 != 0.0' : 'v0 != 0'})`);
  const ta = typeof a === 'number' ? null : a;
  const tb = typeof b === 'number' ? null : b;
  return record(y, 'where', [null, ta, tb], [cond], (g, s) => [
    null,
    ta ? sumTo(where(s[0], g, 0), ta.shape) : null,
    tb ? sumTo(where(s[0], 0, g), tb.shape) : null,
  ]);
}

