import type { StepContext } from '../types';

/**
 * The APR-family adversarial term shared by APR, PamaCF and VAT: Δ = ε_b·g/||g|| for the user,
 * positive and negative rows of each triple (g = ∂BPR/∂row from the clean pass, a constant),
 * then λ·BPR(rows + Δ) with its gradient added. eps gives ε per triple. Returns λ·BPR_adv.
 */
export function adversarialTerm(s: StepContext, eps: Float32Array, lambda: number): number {
  const { batch, width, eu, ei, ej, gu, gi, gj } = s;
  const n = batch.n;
  const [pu, pi, pj] = s.scratch;
  s.rows.run(
    [
      { op: 'perturb', src: eu, g: gu, eps, width, out: pu! },
      { op: 'perturb', src: ei, g: gi, eps, width, out: pi! },
      { op: 'perturb', src: ej, g: gj, eps, width, out: pj! },
    ],
    n,
  );
  for (let b = 0; b < n; b++) s.magnitudes[batch.users[b]] = eps[b];
  return lambda * s.head.bpr(pu, pi, pj, n, lambda, gu, gi, gj);
}

export const warmupParam = { default: 5, min: 0, integer: true, description: 'epochs of plain BPR before the adversarial term (published code: 5)' };
export const lambdaParam = { default: 1, min: 0, description: 'weight λ of the adversarial loss' };
