import { KdgpuError } from '@kdgpu/tensor';
import type { Batch } from '../blocks.ts';
import { randomInt, type Rng } from '../random.ts';

/**
 * DistiLLM's replay buffer of student-generated batches (CPU memory): it holds up to `capacity`
 * rows; pushing past capacity drops the oldest rows first (a FIFO, as DistiLLM's `deque`), and a
 * sample draws rows uniformly without replacement from what it holds, regrouped as one batch.
 */
export class ReplayBuffer {
  private readonly rows: Array<{ ids: Int32Array; labels: Int32Array; T: number }> = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new KdgpuError(`replay buffer: capacity must be a positive integer (rows), got ${capacity}`);
  }

  /** Rows held. */
  get size(): number {
    return this.rows.length;
  }

  /** Whether the buffer holds `capacity` rows. */
  get full(): boolean {
    return this.rows.length >= this.capacity;
  }

  /** Adds every row of `batch` (ids and labels copied), dropping the oldest rows past capacity. */
  push(batch: Batch): void {
    const [B, T] = batch.shape;
    if (!batch.labels) throw new KdgpuError('replay buffer: a pushed batch must carry its labels (continuationBatch makes them)');
    for (let b = 0; b < B; b++) {
      this.rows.push({ ids: batch.ids.slice(b * T, (b + 1) * T), labels: batch.labels.slice(b * T, (b + 1) * T), T });
    }
    if (this.rows.length > this.capacity) this.rows.splice(0, this.rows.length - this.capacity);
  }

  /**
   * A batch of `B` rows drawn uniformly without replacement (fewer when the buffer holds fewer),
   * with `like`'s bookkeeping. Throws when empty.
   */
  sample(B: number, rng: Rng, like: Batch): Batch {
    if (this.rows.length === 0) throw new KdgpuError('replay buffer: sample() on an empty buffer; push generated batches first');
    const n = Math.min(B, this.rows.length);
    const pool = Array.from({ length: this.rows.length }, (_, i) => i);
    const T = this.rows[0]!.T;
    const ids = new Int32Array(n * T);
    const labels = new Int32Array(n * T);
    for (let i = 0; i < n; i++) {
      const j = i + randomInt(rng, pool.length - i);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      const r = this.rows[pool[i]!]!;
      if (r.T !== T) throw new KdgpuError(`replay buffer: rows of different lengths (${r.T} vs ${T}); keep blockSize fixed within a run`);
      ids.set(r.ids, i * T);
      labels.set(r.labels, i * T);
    }
    return { ids, labels, shape: [n, T], blocks: like.blocks.slice(0, n), starts: like.starts.slice(0, n), next: like.next };
  }
}
