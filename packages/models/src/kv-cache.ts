import { cat, keep, type Tensor } from '@kdgpu/tensor';

/**
 * Keys and values of the positions seen so far, per layer, for incremental decoding.
 *
 * Each layer holds k, v: [B, Hkv, S, D] (after rotary, for LLaMA). `forward(ids, { kvCache })`
 * attends to them, appends the new positions and advances `length`. The cache owns its tensors
 * (outside every tidy scope) until `dispose()`. Cached tensors are detached: run decoding under
 * `noGrad`, gradients do not flow into earlier steps.
 */
export class KVCache {
  private readonly keys: Array<Tensor | null>;
  private readonly values: Array<Tensor | null>;
  private len = 0;

  constructor(readonly numLayers: number) {
    this.keys = new Array<Tensor | null>(numLayers).fill(null);
    this.values = new Array<Tensor | null>(numLayers).fill(null);
  }

  /** Number of cached positions (the position of the next token). */
  get length(): number {
    return this.len;
  }

  /**
   * Appends k, v [B, Hkv, T, D] for `layer` and returns the full [B, Hkv, S + T, D] tensors to
   * attend to (owned by the caller's scope). `length` advances once the last layer is updated.
   */
  update(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const pk = this.keys[layer];
    const pv = this.values[layer];
    const kAll = pk ? cat([pk, k], 2) : k; // [B, Hkv, S+T, D]
    const vAll = pv ? cat([pv, v], 2) : v;
    // Copy-on-append: the cat result is new storage; the old tensors can go.
    pk?.dispose();
    pv?.dispose();
    this.keys[layer] = keep(kAll.detach());
    this.values[layer] = keep(vAll.detach());
    if (layer === this.numLayers - 1) this.len += k.shape[2];
    return { k: kAll, v: vAll };
  }

  /** Drops every cached position (keeps the object usable). */
  reset(): void {
    for (let i = 0; i < this.numLayers; i++) {
      this.keys[i]?.dispose();
      this.values[i]?.dispose();
      this.keys[i] = this.values[i] = null;
    }
    this.len = 0;
  }

  /** Frees the cached tensors. */
  dispose(): void {
    this.reset();
  }
}
