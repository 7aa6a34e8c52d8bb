/**
 * Theory lab: a seeded simulation of the paper's Gaussian recommender (Section 3) and numerical
 * checks of Theorems 1–4. Run every sweep with `npx tsx libs/models/bench/theory.ts`; see
 * docs/theory.md.
 */
export * from './gaussian';
export * from './theorems';
