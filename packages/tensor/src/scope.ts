import { KdgpuError } from './errors.ts';

/** Anything a scope can dispose. */
export interface Disposable {
  dispose(): void;
  /** Set while a scope owns the object. */
  _scope: Scope | null;
}

/**
 * A memory scope: every tensor created while it is the innermost scope is disposed when it ends,
 * except what is returned from `tidy` or `keep()`-ed. With `using s = scope();` the same happens at
 * the end of the block.
 */
export class Scope {
  readonly items: Set<Disposable> = new Set<Disposable>();
  private closed = false;
  constructor(readonly parent: Scope | null) {}

  /** Ends the scope, disposing everything it still owns. */
  end(): void {
    if (this.closed) return;
    if (current !== this) throw new KdgpuError('memory scopes must end innermost first');
    this.closed = true;
    current = this.parent;
    for (const t of this.items) {
      t._scope = null;
      t.dispose();
    }
    this.items.clear();
  }

  [Symbol.dispose](): void {
    this.end();
  }
}

let current: Scope | null = null;

/** Registers a new tensor with the innermost scope, if any. */
export function track(t: Disposable): void {
  if (current) {
    current.items.add(t);
    t._scope = current;
  }
}

/** Removes a disposed tensor from its scope. */
export function untrack(t: Disposable): void {
  if (t._scope) {
    t._scope.items.delete(t);
    t._scope = null;
  }
}

/** Moves `t` to the parent of its scope (used for what `tidy` returns). */
function promote(t: Disposable, to: Scope | null): void {
  untrack(t);
  if (to) {
    to.items.add(t);
    t._scope = to;
  }
}

/** Takes `t` out of every scope: the caller now owns it and must dispose it. */
export function keep<T extends Disposable>(t: T): T {
  untrack(t);
  return t;
}

/** Opens a scope; end it with `.end()` or `using s = scope()`. */
export function scope(): Scope {
  current = new Scope(current);
  return current;
}

function collect(x: unknown, out: Set<Disposable>, depth = 0): void {
  if (depth > 4 || x === null || typeof x !== 'object') return;
  if ('dispose' in x && '_scope' in x) {
    out.add(x as Disposable);
    return;
  }
  if (Array.isArray(x)) for (const v of x) collect(v, out, depth + 1);
  else if (Object.getPrototypeOf(x) === Object.prototype) for (const v of Object.values(x)) collect(v, out, depth + 1);
}

/**
 * Runs `fn` in a new scope and disposes every tensor it created except those in its result
 * (a tensor, or arrays/plain objects of tensors), which move to the enclosing scope.
 * `fn` must be synchronous: tensor ops record GPU work synchronously.
 */
export function tidy<T>(fn: () => T): T {
  const s = scope();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    s.end();
    throw e;
  }
  if (result instanceof Promise) {
    s.end();
    throw new KdgpuError('tidy(fn): fn returned a Promise; tidy scopes must be synchronous (await outside, or use scope() with `using`)');
  }
  const returned = new Set<Disposable>();
  collect(result, returned);
  for (const t of returned) if (t._scope === s) promote(t, s.parent);
  s.end();
  return result;
}
