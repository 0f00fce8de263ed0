/**
 * Hash map from a pair of token ids to an int, in one typed array (open addressing, linear
 * probing). Both the encoder (pair -> merge rank) and the trainer (pair -> pair slot) look pairs
 * up in their inner loops; a `Map` keyed by `left * 2**21 + right` would hash boxed doubles. Each
 * slot keeps left, right and value side by side, so a probe touches one cache line.
 */
export class PairMap {
  private table: Int32Array;
  private mask: number;
  /** Number of pairs stored. */
  size = 0;

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.table = new Int32Array(cap * 3).fill(-1);
    this.mask = cap - 1;
  }

  private static slot(a: number, b: number): number {
    return Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b);
  }

  /** Value for pair (a, b), or -1 when absent (values must be >= 0). */
  get(a: number, b: number): number {
    const t = this.table;
    const mask = this.mask;
    for (let i = PairMap.slot(a, b) & mask; ; i = (i + 1) & mask) {
      const k = i * 3;
      const l = t[k]!;
      if (l === a && t[k + 1] === b) return t[k + 2]!;
      if (l === -1) return -1;
    }
  }

  /** Sets the value for pair (a, b); `value` must be >= 0. */
  set(a: number, b: number, value: number): void {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const t = this.table;
    const mask = this.mask;
    for (let i = PairMap.slot(a, b) & mask; ; i = (i + 1) & mask) {
      const k = i * 3;
      const l = t[k]!;
      if (l === -1) {
        t[k] = a;
        t[k + 1] = b;
        t[k + 2] = value;
        this.size++;
        return;
      }
      if (l === a && t[k + 1] === b) {
        t[k + 2] = value;
        return;
      }
    }
  }

  private grow(): void {
    const old = this.table;
    const cap = (this.mask + 1) * 2;
    this.table = new Int32Array(cap * 3).fill(-1);
    this.mask = cap - 1;
    this.size = 0;
    for (let k = 0; k < old.length; k += 3) if (old[k] !== -1) this.set(old[k]!, old[k + 1]!, old[k + 2]!);
  }
}
