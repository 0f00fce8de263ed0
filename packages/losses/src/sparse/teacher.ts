import { full, KdgpuError, noGrad, sort, type Tensor, tensor, tidy } from '@kdgpu/tensor';

/**
 * A sparse teacher: per position only the teacher's k most likely tokens and their log-probabilities,
 * plus the log of the probability mass left over (the "tail"). This is what offline top-k logit files
 * (DistillKit, `kdgpu logits --top-k`) and serving engines (vLLM `prompt_logprobs`) provide.
 *
 * Shapes, for student logits [N, V] (or [B, T, V]; read [N] as [B, T] throughout):
 * - `ids`: i32 [N, K], token ids in [0, V), distinct within a row; -1 marks an unused slot (a row
 *   with fewer than K entries, e.g. from a server that returned fewer).
 * - `logprobs`: f32 [N, K], log p(id) under the teacher at temperature 1, *before* any temperature
 *   (the raw softmax of the teacher's logits); -inf at unused slots (and where p is exactly 0).
 * - `tail`: f32 [N], log(1 - Σ_k p_k), the log of the mass on every token not listed; -inf when the
 *   listed tokens hold all of it (always so when a row lists the whole vocabulary).
 *
 * How the missing mass and a temperature are used is the loss's business (`missingMass`, see the
 * losses README); this type only holds the numbers. It owns its three tensors (`dispose()`).
 */
export class SparseTeacher {
  /** i32 [..., K]; -1 = unused slot. */
  readonly ids: Tensor;
  /** f32 [..., K]; log-probabilities at τ = 1; -inf at unused slots. */
  readonly logprobs: Tensor;
  /** f32 [...]; log of the mass outside the listed tokens (-inf: none). */
  readonly tail: Tensor;
  /** V: the vocabulary the ids index (must equal the student's). */
  readonly vocabSize: number;

  /** Use `sparseTopK` or `sparseFromArrays`; this checks shapes and dtypes only. */
  constructor(ids: Tensor, logprobs: Tensor, tail: Tensor, vocabSize: number) {
    const where = 'SparseTeacher';
    if (!(Number.isInteger(vocabSize) && vocabSize >= 1)) throw new KdgpuError(`${where}: vocabSize must be a positive integer, got ${vocabSize}`);
    if (ids.dtype !== 'i32') throw new KdgpuError(`${where}: ids must be i32, got ${ids.dtype} (use .cast('i32'))`);
    if (logprobs.dtype !== 'f32' || tail.dtype !== 'f32') throw new KdgpuError(`${where}: logprobs and tail must be f32, got ${logprobs.dtype} and ${tail.dtype}`);
    if (ids.rank < 2 || ids.shape.join() !== logprobs.shape.join() || tail.shape.join() !== ids.shape.slice(0, -1).join()) {
      throw new KdgpuError(
        `${where}: ids ${fmt(ids.shape)} and logprobs ${fmt(logprobs.shape)} must both be [..., K] and tail ${fmt(tail.shape)} must be [...] (ids without the last axis)`,
      );
    }
    this.ids = ids;
    this.logprobs = logprobs;
    this.tail = tail;
    this.vocabSize = vocabSize;
  }

  /** K, the number of slots per position. */
  get k(): number {
    return this.ids.shape[this.ids.rank - 1];
  }

  /** The positions' shape: [N] or [B, T]. */
  get positions(): number[] {
    return this.ids.shape.slice(0, -1);
  }

  /** Frees the three tensors. */
  dispose(): void {
    this.ids.dispose();
    this.logprobs.dispose();
    this.tail.dispose();
  }

  /** Reads the three tensors back (for writing files; not for the training loop). */
  async toArrays(): Promise<SparseArrays> {
    const [ids, logprobs, tail] = await Promise.all([this.ids.data(), this.logprobs.data(), this.tail.data()]);
    return { ids: ids as Int32Array, logprobs: logprobs as Float32Array, tail: tail as Float32Array, shape: [...this.ids.shape], vocabSize: this.vocabSize };
  }
}

/** Whether `x` is a `SparseTeacher`. */
export function isSparseTeacher(x: unknown): x is SparseTeacher {
  return x instanceof SparseTeacher;
}

/** A sparse teacher as host arrays (what files and servers give), row-major. */
export interface SparseArrays {
  /** Token ids, K per position; -1 = unused slot. */
  ids: Int32Array;
  /** log p at τ = 1, K per position; -inf at unused slots. */
  logprobs: Float32Array;
  /** log of the mass outside the listed tokens, one per position. Omitted: log(1 - Σ p), computed here. */
  tail?: Float32Array;
  /** [N, K] or [B, T, K]. */
  shape: number[];
  /** V. */
  vocabSize: number;
}

/** Options of `sparseFromArrays`. */
export interface SparseFromArraysOptions {
  /** Named in errors (a file name, "vLLM response", ...). */
  source?: string;
  /**
   * How far Σ p (+ the tail's mass) may exceed 1 before it is an error: quantised or rounded
   * log-probabilities sum to slightly more. Default 1e-3. Within it, a missing tail is -inf.
   */
  massTolerance?: number;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * The top `k` tokens of each row of teacher logits [..., V] (f32): their ids, their log-softmax
 * values at τ = 1, and the log of the rest of the mass, computed on the GPU (no readback). The rest
 * is log Σ over the unlisted tokens of p, summed directly (not 1 - Σ p, which loses precision when
 * the top k hold nearly everything). Ties at the k-th value keep the lower ids. `k >= V` lists
 * every token (tail -inf). -inf teacher logits (a padded vocabulary) are listed with log p = -inf
 * if they fall in the top k.
 */
export function sparseTopK(logits: Tensor, k: number): SparseTeacher {
  if (logits.dtype !== 'f32' || logits.rank < 2) throw new KdgpuError(`sparseTopK: logits must be f32 [..., V], got ${logits.dtype} ${fmt(logits.shape)}`);
  if (!(Number.isInteger(k) && k >= 1)) throw new KdgpuError(`sparseTopK: k must be a positive integer, got ${k}`);
  const V = logits.shape[logits.rank - 1];
  const K = Math.min(k, V);
  const [ids, logprobs, tail] = noGrad(() =>
    tidy(() => {
      const { values, indices } = sort(logits.logSoftmax(-1), { descending: true });
      const lp = values.slice(-1, 0, K).contiguous();
      const id = indices.slice(-1, 0, K).contiguous();
      const rest = K < V ? values.slice(-1, K, V).logsumexp(-1) : full(logits.shape.slice(0, -1), -Infinity);
      return [id, lp, rest] as const;
    }),
  );
  return new SparseTeacher(ids, logprobs, tail, V);
}

/**
 * A sparse teacher from host arrays, validated before anything is uploaded: shapes, ids in [0, V)
 * or -1 and distinct within a row, log-probabilities finite or -inf (and -inf exactly at the -1
 * slots), each row's mass Σ p + exp(tail) at most 1 + `massTolerance`. A missing tail is computed
 * (in float64) as log(1 - Σ p), -inf when that is ≤ 0. A row listing all V tokens gets tail -inf.
 * Errors name the source, the field, the position and the fix.
 */
export function sparseFromArrays(a: SparseArrays, opts: SparseFromArraysOptions = {}): SparseTeacher {
  const src = `sparse teacher${opts.source ? ` (${opts.source})` : ''}`;
  const tol = opts.massTolerance ?? 1e-3;
  const { shape, vocabSize: V } = a;
  if (!Array.isArray(shape) || shape.length < 2 || shape.some((d) => !(Number.isInteger(d) && d >= 1))) {
    throw new KdgpuError(`${src}: shape must be [N, K] or [B, T, K] with positive integers, got ${JSON.stringify(shape)}`);
  }
  if (!(Number.isInteger(V) && V >= 1)) throw new KdgpuError(`${src}: vocabSize must be a positive integer, got ${V}`);
  const K = shape[shape.length - 1];
  const rows = shape.slice(0, -1).reduce((x, y) => x * y, 1);
  if (!(a.ids instanceof Int32Array) || a.ids.length !== rows * K) {
    throw new KdgpuError(`${src}: ids must be an Int32Array of ${rows * K} (= ${shape.join('·')}) entries, got ${a.ids?.constructor?.name} of ${a.ids?.length}`);
  }
  if (!(a.logprobs instanceof Float32Array) || a.logprobs.length !== rows * K) {
    throw new KdgpuError(`${src}: logprobs must be a Float32Array of ${rows * K} (= ${shape.join('·')}) entries, got ${a.logprobs?.constructor?.name} of ${a.logprobs?.length}`);
  }
  if (a.tail !== undefined && (!(a.tail instanceof Float32Array) || a.tail.length !== rows)) {
    throw new KdgpuError(`${src}: tail must be a Float32Array of ${rows} entries (one per position), got ${a.tail?.constructor?.name} of ${a.tail?.length}`);
  }
  const pos = (r: number) => {
    const lead = shape.slice(0, -1);
    const c: number[] = [];
    for (let i = lead.length - 1, x = r; i >= 0; i--) {
      c.unshift(x % lead[i]);
      x = Math.floor(x / lead[i]);
    }
    return `position [${c.join(', ')}]`;
  };
  const tail = new Float32Array(rows);
  const seen = new Map<number, number>();
  for (let r = 0; r < rows; r++) {
    seen.clear();
    let mass = 0;
    let listed = 0;
    for (let j = 0; j < K; j++) {
      const i = r * K + j;
      const id = a.ids[i];
      const lp = a.logprobs[i];
      if (id === -1) {
        if (lp !== -Infinity) throw new KdgpuError(`${src}: ${pos(r)} slot ${j} is unused (id -1) but its logprob is ${lp}; unused slots need logprob -inf`);
        continue;
      }
      if (!(id >= 0 && id < V)) throw new KdgpuError(`${src}: ${pos(r)} slot ${j} has token id ${id}, outside the vocabulary [0, ${V}); use -1 for an unused slot, or check vocabSize`);
      const prev = seen.get(id);
      if (prev !== undefined) throw new KdgpuError(`${src}: ${pos(r)} lists token id ${id} twice (slots ${prev} and ${j}); each token may appear once per position`);
      seen.set(id, j);
      if (Number.isNaN(lp) || lp > 0 || lp === Infinity) {
        throw new KdgpuError(`${src}: ${pos(r)} slot ${j} (token ${id}) has logprob ${lp}; log-probabilities must be ≤ 0 (finite, or -inf for probability 0)`);
      }
      mass += Math.exp(lp);
      listed++;
    }
    const t = a.tail?.[r];
    if (t !== undefined && (Number.isNaN(t) || t > 0)) {
      throw new KdgpuError(`${src}: ${pos(r)} has tail ${t}; the tail is log(1 - Σ p), ≤ 0 or -inf`);
    }
    const total = mass + (t === undefined ? 0 : Math.exp(t));
    if (total > 1 + tol) {
      throw new KdgpuError(
        `${src}: ${pos(r)} has probability mass ${total.toFixed(6)} (Σ exp(logprobs)${t === undefined ? '' : ' + exp(tail)'}) > 1 + ${tol}; ` +
          'logprobs must be log-softmax values at temperature 1 (not raw logits, not temperature-scaled); raise massTolerance only for rounding',
      );
    }
    // Every token listed: no mass can lie outside, whatever rounding left over.
    tail[r] = listed === V ? -Infinity : t !== undefined ? t : mass >= 1 ? -Infinity : Math.log1p(-mass);
  }
  const lead = shape.slice(0, -1);
  return new SparseTeacher(
    tensor(a.ids, { shape, dtype: 'i32' }),
    tensor(a.logprobs, { shape }),
    tensor(tail, { shape: lead }),
    V,
  );
}
