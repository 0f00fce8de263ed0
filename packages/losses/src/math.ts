import { noGrad, type Tensor, tidy, where } from '@kdgpu/tensor';

/**
 * log(exp(a) + exp(b)) elementwise, for mixtures formed in probability space but computed in log
 * space (skew KL, JSD, probability ensembles): no log(0) when one side underflows. The shift is a
 * constant for differentiation, as in `logsumexp`; an infinite shift (both sides -inf) becomes 0
 * so the result is -inf rather than NaN.
 */
export function logAddExp(a: Tensor, b: Tensor): Tensor {
  const m = tidy(() =>
    noGrad(() => {
      const m0 = a.maximum(b);
      return where(m0.abs().lt(Infinity), m0, 0);
    }),
  );
  return tidy(() => a.sub(m).exp().add(b.sub(m).exp()).log().add(m));
}

/** log(x) for a mixing weight, with log(0) = -inf (no warning, no NaN). */
export function logWeight(x: number): number {
  return x === 0 ? -Infinity : Math.log(x);
}
