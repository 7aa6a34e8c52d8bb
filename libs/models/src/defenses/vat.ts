import type { DefenseDef } from '../types';
import { adversarialTerm, lambdaParam, warmupParam } from './adversarial';

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * VAT (Zhang et al., RecSys 2024): per-triple magnitude from the clean BPR loss,
 * ε = ρ·λ·sigmoid(mean_batch L / L − 1): well-fitted triples (small loss) get larger
 * perturbations. L is each triple's loss (a user's triples rarely repeat within a batch).
 */
export const vat: DefenseDef = {
  name: 'vat',
  description: 'Vulnerability-aware adversarial training: loss-based per-user perturbation magnitude',
  params: { rho: { default: 0.3, min: 0, description: 'ρ' }, lambda: lambdaParam, warmup_epochs: warmupParam },
  options: {},
  create({ params }) {
    return {
      apply(s) {
        if (s.epoch < params.warmup_epochs) return 0;
        const n = s.batch.n;
        let mean = 0;
        for (let b = 0; b < n; b++) mean += s.perRow[b];
        mean /= n;
        const eps = s.scratchN[0].subarray(0, n);
        for (let b = 0; b < n; b++) eps[b] = params.rho * params.lambda * sigmoid(mean / Math.max(s.perRow[b], 1e-12) - 1);
        return adversarialTerm(s, eps, params.lambda);
      },
    };
  },
};
