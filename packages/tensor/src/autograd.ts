import { KdgpuError } from './errors.ts';
import { keep, tidy } from './scope.ts';
import type { Tensor } from './tensor.ts';

/** Where a gradient goes: an upstream node, or a leaf tensor's `.grad`. */
type Edge = { node: Node } | { leaf: Tensor } | null;

/** Computes input gradients from the output gradient and the tensors saved at forward time. */
export type BackwardFn = (grad: Tensor, saved: Tensor[]) => Array<Tensor | null>;

let gradEnabled = true;

/**
 * One recorded operation. It owns private handles to the tensors its backward needs (so a
 * `tidy` scope can free the user's handles without breaking backward) and is reference counted by
 * the tensors it produced and the nodes downstream; at zero, or once `backward()` has used it, the
 * saved tensors are released, so activations do not outlive the step.
 */
export class Node {
  refs = 0;
  private saved: Tensor[];
  private used = false;
  readonly edges: Edge[];
  constructor(
    readonly name: string,
    inputs: ReadonlyArray<Tensor | null>,
    saved: Tensor[],
    readonly backwardFn: BackwardFn,
  ) {
    this.saved = saved.map((t) => t._internalRef());
    this.edges = inputs.map((t): Edge => {
      if (!t || !t.requiresGrad) return null;
      if (t._node) {
        t._node.refs++;
        return { node: t._node };
      }
      return { leaf: t };
    });
  }

  /** Runs this node's backward; afterwards its saved tensors are gone. */
  run(grad: Tensor): Array<Tensor | null> {
    if (this.used) {
      throw new KdgpuError(`backward through "${this.name}" a second time: the graph was freed by the first backward(); recompute the forward pass`);
    }
    const out = this.backwardFn(grad, this.saved);
    this.used = true;
    this.releaseSaved();
    return out;
  }

  private releaseSaved(): void {
    for (const t of this.saved) t.dispose();
    this.saved = [];
  }

  /** Called when a producing tensor or a downstream node lets go. */
  decref(): void {
    if (--this.refs > 0) return;
    this.releaseSaved();
    for (const e of this.edges) if (e && 'node' in e) e.node.decref();
    this.edges.length = 0;
  }
}

/** Whether ops record gradients now. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording gradients (evaluation, teacher forward, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Attaches a backward node to `out` if gradients are on and any input requires them. */
export function record(out: Tensor, name: string, inputs: ReadonlyArray<Tensor | null>, saved: Tensor[], bw: BackwardFn): Tensor {
  if (!gradEnabled || !inputs.some((t) => t?.requiresGrad)) return out;
  const node = new Node(name, inputs, saved, bw);
  out._setNode(node);
  return out;
}

function accumulate(prev: Tensor | undefined | null, g: Tensor): Tensor {
  if (!prev) return g;
  const sum = keep(prev.add(g));
  prev.dispose();
  g.dispose();
  return sum;
}

/**
 * Reverse-mode differentiation from `root`: accumulates d(root)/d(leaf) into each leaf's `.grad`.
 * `grad` defaults to 1 for a one-element root. All work is recorded on the GPU; nothing is read back.
 */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) {
    throw new KdgpuError('backward(): this tensor does not require grad (no input had requiresGrad = true, or it was computed under noGrad)');
  }
  if (!grad && root.size !== 1) {
    throw new KdgpuError(`backward(): the output has shape [${root.shape}]; pass a gradient of that shape, or reduce to a scalar first`);
  }
  noGrad(() => {
    const seed = keep(grad ? grad.contiguous() : root._onesLike());
    if (!root._node) {
      root._accumulateGrad(seed);
      return;
    }
    // Topological order of the nodes reachable from the root (iterative DFS, post-order).
    const order: Node[] = [];
    const seen = new Set<Node>();
    const stack: Array<[Node, number]> = [[root._node, 0]];
    seen.add(root._node);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [n, i] = top;
      if (i < n.edges.length) {
        top[1]++;
        const e = n.edges[i];
        if (e && 'node' in e && !seen.has(e.node)) {
          seen.add(e.node);
          stack.push([e.node, 0]);
        }
      } else {
        order.push(n);
        stack.pop();
      }
    }
    const grads = new Map<Node, Tensor>([[root._node, seed]]);
    for (let k = order.length - 1; k >= 0; k--) {
      const n = order[k];
      const g = grads.get(n);
      if (!g) continue;
      grads.delete(n);
      const edges = [...n.edges];
      const gi = tidy(() => n.run(g));
      // A rule may pass `g` through, or return one tensor for two inputs: give each use its own
      // handle (sharing storage) so accumulation can dispose them independently.
      const used = new Set<Tensor>();
      for (let i = 0; i < edges.length; i++) {
        const e = edges[i];
        let gin = gi[i];
        if (!gin) continue;
        if (gin === g || used.has(gin)) gin = gin._internalRef();
        else keep(gin);
        used.add(gin);
        if (!e) {
          gin.dispose();
        } else if ('node' in e) {
          grads.set(e.node, accumulate(grads.get(e.node), gin));
        } else {
          e.leaf._accumulateGrad(gin);
        }
      }
      for (const t of gi) if (t && !used.has(t) && t !== g) t.dispose();
      g.dispose();
    }
  });
}
