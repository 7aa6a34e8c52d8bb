import { rowSqNorms } from '@robustrec/engine';
import type { DefenseDef } from '../types';
import { adversarialTerm, lambdaParam, warmupParam } from './adversarial';

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * PamaCF (Zhang et al., NeurIPS 2024): APR with a per-user magnitude ε_u applied to the
 * user, positive and negative rows of that user's triples.
 * - magnitude=published (the authors' code): ε_u = ρ·user_lmb·sigmoid(||u||²/mean_batch||u||² − 1)
 * - magnitude=paper (Section 4): ε_u = ρ·sigmoid(||u||/mean_all||u|| − 1); mean_all over all
 *   users' final rows, computed at the start of each epoch (once per epoch, not per step).
 * ||u|| is the norm of the final (scored) user row, i.e. propagated for LightGCN.
 */
export const pamacf: DefenseDef = {
  name: 'pamacf',
  description: 'PamaCF: adversarial training with a per-user perturbation magnitude growing with the user embedding norm',
  params: {
    rho: { default: 0.3, min: 0, description: 'ρ (0.3: inside the stable range on Gowalla with the published formula; 0.9 collapses)' },
    lambda: lambdaParam,
    warmup_epochs: warmupParam,
    user_lmb: { default: 2, min: 0, description: 'user_lmb factor of the published formula' },
  },
  options: { magnitude: { default: 'published', values: ['published', 'paper'], description: 'magnitude formula' } },
  create({ params, options }) {
    let meanNorm = 1;
    const paper = options.magnitude === 'paper';
    return {
      onEpochStart({ backbone, epoch }) {
        if (!paper || epoch < params.warmup_epochs) return;
        const { users } = backbone.finalEmbeddings();
        const w = backbone.width;
        const nu = users.length / w;
        const sq = new Float64Array(nu);
        rowSqNorms(users, nu, w, sq);
        let s = 0;
        for (let u = 0; u < nu; u++) s += Math.sqrt(sq[u]);
        meanNorm = s / nu;
      },
      apply(s) {
        if (s.epoch < params.warmup_epochs) return 0;
        const n = s.batch.n;
        const eps = s.scratchN[0].subarray(0, n);
        rowSqNorms(s.eu, n, s.width, eps);
        if (paper) {
          for (let b = 0; b < n; b++) eps[b] = params.rho * sigmoid(Math.sqrt(eps[b]) / meanNorm - 1);
        } else {
          let mean = 0;
          for (let b = 0; b < n; b++) mean += eps[b];
          mean /= n;
          for (let b = 0; b < n; b++) eps[b] = params.rho * params.user_lmb * sigmoid(eps[b] / mean - 1);
        }
        return adversarialTerm(s, eps, params.lambda);
      },
      state: () => ({ meanNorm }),
      restore(_t, st) {
        meanNorm = (st as { meanNorm: number }).meanNorm;
      },
    };
  },
};
