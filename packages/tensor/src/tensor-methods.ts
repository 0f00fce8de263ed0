import { fullLike } from './ops/broadcast.ts';
import * as cmp from './ops/composite.ts';
import * as ew from './ops/elementwise.ts';
import { matmul } from './ops/matmul.ts';
import * as mv from './ops/movement.ts';
import * as red from './ops/reduce.ts';
import { Tensor, type TensorMethods } from './tensor.ts';

/**
 * Installs the ops as methods of `Tensor` (declared in `TensorMethods`). The class lives below
 * the ops (they create tensors) and this file above them, so no module imports one that imports
 * it back. The table is typed by the interface: a method declared there and missing here, or one
 * here that is not declared, fails `tsc`. The package entry loads this file before anything else.
 */
const methods: { [K in keyof TensorMethods]: (this: Tensor, ...args: Parameters<TensorMethods[K]>) => Tensor } = {
  add(o) { return ew.binary('add', this, o); },
  sub(o) { return ew.binary('sub', this, o); },
  mul(o) { return ew.binary('mul', this, o); },
  div(o) { return ew.binary('div', this, o); },
  pow(o) { return ew.binary('pow', this, o); },
  maximum(o) { return ew.binary('maximum', this, o); },
  minimum(o) { return ew.binary('minimum', this, o); },
  eq(o) { return ew.binary('eq', this, o); },
  ne(o) { return ew.binary('ne', this, o); },
  lt(o) { return ew.binary('lt', this, o); },
  le(o) { return ew.binary('le', this, o); },
  gt(o) { return ew.binary('gt', this, o); },
  ge(o) { return ew.binary('ge', this, o); },
  neg() { return ew.unary('neg', this); },
  exp() { return ew.unary('exp', this); },
  log() { return ew.unary('log', this); },
  sqrt() { return ew.unary('sqrt', this); },
  rsqrt() { return ew.unary('rsqrt', this); },
  abs() { return ew.unary('abs', this); },
  tanh() { return ew.unary('tanh', this); },
  sigmoid() { return ew.unary('sigmoid', this); },
  relu() { return ew.unary('relu', this); },
  sin() { return ew.unary('sin', this); },
  cos() { return ew.unary('cos', this); },

  sum(axis, keepdim = false) { return red.reduce('sum', this, axis, keepdim); },
  mean(axis, keepdim = false) { return cmp.mean(this, axis, keepdim); },
  max(axis, keepdim = false) { return red.reduce('max', this, axis, keepdim); },
  min(axis, keepdim = false) { return red.reduce('min', this, axis, keepdim); },
  argmax(axis, keepdim = false) { return red.argmax(this, axis, keepdim); },
  logsumexp(axis, keepdim = false) { return cmp.logsumexp(this, axis, keepdim); },
  softmax(axis = -1) { return cmp.softmax(this, axis); },
  logSoftmax(axis = -1) { return cmp.logSoftmax(this, axis); },

  matmul(o) { return matmul(this, o); },

  reshape(shape) { return mv.reshape(this, shape); },
  permute(dims) { return mv.permute(this, dims); },
  transpose(a = -2, b = -1) { return mv.transpose(this, a, b); },
  expand(shape) { return mv.expand(this, shape); },
  slice(axis, start, end) { return mv.slice(this, axis, start, end); },
  indexSelect(axis, idx) { return mv.indexSelect(this, axis, idx); },
  gather(axis, idx) { return mv.gather(this, axis, idx); },
  contiguous() { return mv.contiguous(this); },
  cast(dtype) { return mv.cast(this, dtype); },
  clone() { return mv.copy(this); },

  _onesLike() { return fullLike(this, 1); },
};

// Non-enumerable, like methods written in a class body.
for (const [name, value] of Object.entries(methods)) Object.defineProperty(Tensor.prototype, name, { value, writable: true, configurable: true });

export { Tensor };
