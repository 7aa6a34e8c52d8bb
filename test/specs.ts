import { stringify } from 'yaml';

/** Spec entries the end-to-end tests combine (as a user would write them in YAML). */
export const MF = { name: 'MF', backbone: 'mf' };
export const PAMACF = { name: 'PamaCF', backbone: 'mf', defense: 'pamacf', params: { rho: 0.3, warmup_epochs: 1 } };
export const CLEAN = { name: 'Clean' };
export const RANDOM = { name: 'Random', generator: 'random', budget: 0.02 };

/**
 * A small grid on a synthetic dataset, one seed: by default clean vs Random × MF vs PamaCF,
 * 3 epochs of dim 16. Tests override what they exercise.
 */
export function smallGridSpec(
  name: string,
  o: { synthetic?: Record<string, number>; attacks?: object[]; models?: object[]; train?: Record<string, number>; ks?: number[] } = {},
): string {
  return stringify({
    name,
    seeds: [1],
    datasets: [{ name: 'Syn', synthetic: { numUsers: 500, numItems: 400, meanInteractions: 20, seed: 5, ...o.synthetic } }],
    attacks: o.attacks ?? [CLEAN, RANDOM],
    models: o.models ?? [MF, PAMACF],
    train: { epochs: 3, batchSize: 256, dim: 16, ...o.train },
    ks: o.ks ?? [20, 50],
  });
}
