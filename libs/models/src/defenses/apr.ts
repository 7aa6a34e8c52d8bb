import type { DefenseDef } from '../types';
import { adversarialTerm, lambdaParam, warmupParam } from './adversarial';

/** APR (He et al. 2018): uniform ε for every row. */
export const apr: DefenseDef = {
  name: 'apr',
  description: 'Adversarial Personalized Ranking: BPR + λ·BPR(Θ + Δ), ||Δ_row|| = ε for all users',
  params: { eps: { default: 0.3, min: 0, description: 'perturbation magnitude ε' }, lambda: lambdaParam, warmup_epochs: warmupParam },
  options: {},
  create({ params }) {
    return {
      apply(s) {
        if (s.epoch < params.warmup_epochs) return 0;
        const eps = s.scratchN[0].subarray(0, s.batch.n).fill(params.eps);
        return adversarialTerm(s, eps, params.lambda);
      },
    };
  },
};
