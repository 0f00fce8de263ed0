import type { Tensor } from '@kdgpu/tensor';
import type { MissingMass } from './sparse/inputs.ts';
import type { SparseTeacher } from './sparse/teacher.ts';

/**
 * How per-token losses become the returned tensor.
 * - `mean`: sum over valid tokens / number of valid tokens (0 when there are none). The default,
 *   as torchtune, DistiLLM and Hugging Face CE.
 * - `sum`: sum over valid tokens (torchtune's `normalize=False`).
 * - `batchmean`: sum over valid tokens / batch size, where the batch size is B for [B, T, V]
 *   logits and N for [N, V] logits: `KLDivLoss(reduction="batchmean")` as Baby Llama and
 *   DistilLlama use it, which is about T times a per-token mean.
 * - `none`: the per-token losses, shape [N] or [B, T], with 0 at ignored positions.
 */
export type Reduction = 'mean' | 'sum' | 'batchmean' | 'none';

/** Options every loss takes. */
export interface CommonOptions {
  /** Label value of positions that do not count. Default -100. */
  ignoreIndex?: number;
  /** Default `'mean'`. */
  reduction?: Reduction;
  /**
   * Split the sequence axis (T of [B, T, V], N of [N, V]) into this many chunks, computed one at a
   * time so that the [chunk, V] intermediates of one chunk are alive at once instead of [T, V].
   * Split as `torch.tensor_split`: the first T mod C chunks get one extra position. Default 1.
   */
  chunks?: number;
}

/** How several teachers' logits are combined into one teacher distribution. */
export type EnsembleMode = 'logits' | 'probs';

/** Options of every loss that compares a student with a teacher distribution. */
export interface DistillOptions extends CommonOptions {
  /** τ: both sides' logits are divided by it before (log-)softmax. Default 1. */
  temperature?: number;
  /** A separate τ for the teacher side. Default: `temperature`. */
  teacherTemperature?: number;
  /** Multiply the loss by τ² (Hinton et al.; Baby Llama, DistilLlama) so gradient size does not shrink as 1/τ². Default true. */
  scaleByTemperatureSquared?: boolean;
  /** Keep only the teacher's k most likely tokens (ties at the k-th value are all kept), then renormalise. 0 or absent: no top-k. */
  topK?: number;
  /** Keep the smallest set of teacher tokens whose mass reaches p (applied before topK), then renormalise. 1 or absent: no top-p. */
  topP?: number;
  /**
   * With several teacher tensors: average their logits (`'logits'`, Baby Llama's
   * `stack(logits).mean(0)`) or their probabilities (`'probs'`). Default `'logits'`.
   */
  ensemble?: EnsembleMode;
  /** Weights of the teachers in the ensemble (normalised to sum 1). Default: equal. */
  teacherWeights?: readonly number[];
  /**
   * With a sparse (top-k) teacher only: what its missing mass becomes (see `MissingMass`). Default
   * `'tail-bucket'`. Given with dense teacher logits it is an error.
   */
  missingMass?: MissingMass;
}

/**
 * The teacher argument: one teacher's logits, several (an ensemble), a sparse top-k teacher
 * (`SparseTeacher`), or null for losses that need none.
 */
export type TeacherInput = Tensor | readonly Tensor[] | SparseTeacher | null;

/**
 * The shape every loss has: student logits [N, V] or [B, T, V], teacher logits of the same shape
 * (or a list of them), labels [N] or [B, T] (i32; `ignoreIndex` marks positions that do not count,
 * `null` counts every position), options. Returns a scalar, or [N] / [B, T] for `reduction: 'none'`.
 */
export type LossFn<O> = (studentLogits: Tensor, teacherLogits: TeacherInput, labels: Tensor | null, opts?: O) => Tensor;
