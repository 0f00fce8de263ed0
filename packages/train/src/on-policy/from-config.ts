import type { CausalLM } from '@kdgpu/models';
import { KdgpuError } from '@kdgpu/tensor';
import type { DistillConfig } from '../config-schema.ts';
import type { DistillPart } from '../step.ts';
import { distillm } from './distillm.ts';
import { gkd } from './gkd.ts';
import type { OnPolicyMethod } from './method.ts';
import { minillm } from './minillm.ts';

/**
 * The on-policy method a validated config names (`distill.method`), or null for off-policy
 * distillation. Checked before any step: the prompt fits the block, and MiniLLM has one teacher
 * model to mix into sampling.
 */
export function onPolicyMethod(c: { run: { seed: number }; data: { blockSize: number }; distill?: DistillConfig }, student: CausalLM, distill: DistillPart | null): OnPolicyMethod | null {
  const d = c.distill;
  if (!d || d.method === 'offPolicy') return null;
  if (!distill) throw new KdgpuError(`distill.method "${d.method}" needs the distillation objective (teachers); none was built`);
  const p = d.onPolicy;
  if (p.promptLength >= c.data.blockSize) {
    throw new KdgpuError(`distill.onPolicy.promptLength (${p.promptLength}) must be below data.blockSize (${c.data.blockSize}): the rest of each block is what the student samples`);
  }
  if (distill.teachers.kind !== 'models' || distill.teachers.retokenize) {
    throw new KdgpuError(`distill.method "${d.method}": on-policy distillation runs the teacher on the student's samples, so it needs teacher models sharing the student's tokenizer (not offline logits, not a cross-tokenizer loss)`);
  }
  const sampling = { promptLength: p.promptLength, temperature: p.temperature, topP: p.topP };
  const seed = c.run.seed;
  switch (d.method) {
    case 'gkd':
      return gkd(student, { ...sampling, lmbda: p.lmbda, seed });
    case 'distillm':
      return distillm(student, { ...sampling, initThreshold: p.initThreshold, lossEps: p.lossEps, capacity: p.capacity, seed });
    case 'minillm': {
      const models = distill.teachers.models;
      if (models.length !== 1) throw new KdgpuError(`distill.method "minillm": teacher-mixed sampling takes exactly one teacher, got ${models.length}; give one teacher (or an ensemble saved as one model)`);
      return minillm(student, models[0]!, { ...sampling, mixAlpha: p.mixAlpha, gamma: p.gamma, lengthNorm: p.lengthNorm, ptLoss: p.ptLoss, seed });
    }
    default:
      return d.method satisfies never;
  }
}
