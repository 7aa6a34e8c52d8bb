/**
 * The scaling benchmarks' data and model, shared by bench:scale (scale.ts) and
 * bench:eval-service (services/orchestrator/bench/eval-service.ts) so both measure the same
 * thing. Size rule (Gowalla's ratios, linear growth): users = N / 34.4 and items = N / 25.1 for
 * N interactions, mean profile 34.4, Zipf popularity exponent 0.62 (Gowalla's top-10% share),
 * seed 2024; the model is a random N(0, 0.1) table pair of dim 64.
 */
import { evaluator } from '@robustrec/contracts';
import { Rng, type Csr, type InteractionData } from '@robustrec/core';
import { syntheticInteractions } from '@robustrec/data';

export const USERS_PER = 34.4;
export const ITEMS_PER = 25.1;
export const ZIPF = 0.62;
export const DIM = 64;
export const SEED = 2024;

/** Users and items at `size` interactions (the size rule). */
export function scaleShape(size: number): { numUsers: number; numItems: number } {
  return { numUsers: Math.round(size / USERS_PER), numItems: Math.round(size / ITEMS_PER) };
}

/** The seeded synthetic dataset of about `size` interactions. */
export function scaleDataset(size: number): InteractionData {
  return syntheticInteractions({ ...scaleShape(size), meanInteractions: USERS_PER, popularityExponent: ZIPF, seed: SEED });
}

/** A random N(0, 0.1) embedding table of n rows (dim DIM): the evaluation and serving steps' model. */
export function randomTable(rng: Rng, n: number): Float32Array {
  // shared memory, as the evaluator's registry loads a model's tables (and the trainer's arena
  // holds them): ranking helpers share such tables instead of receiving a copy
  const a = new Float32Array(new SharedArrayBuffer(n * DIM * 4));
  for (let k = 0; k < a.length; k++) a[k] = 0.1 * rng.normal();
  return a;
}

/** 5 low-popularity targets (6–10 training interactions, as the authors' Gowalla targets), seeded. */
export function lowPopularityTargets(train: Csr, numItems: number): number[] {
  const count = new Uint32Array(numItems);
  for (let p = 0; p < train.indptr[train.numRows]!; p++) count[train.indices[p]!]!++;
  const pool: number[] = [];
  for (let i = 0; i < numItems; i++) if (count[i]! >= 6 && count[i]! <= 10) pool.push(i);
  return new Rng(SEED).shuffle(pool).slice(0, 5).sort((a, b) => a - b);
}

/** The registry header of the random MF model (randomTable users, then items) over a dataset. */
export function randomMfHeader(name: string, datasetId: string, numUsers: number, numItems: number): evaluator.Model {
  return evaluator.Model.fromPartial({
    name,
    backbone: 'mf',
    defense: 'none',
    datasetId,
    numUsers,
    numItems,
    tensors: [
      { name: 'user_embedding', shape: [numUsers, DIM] },
      { name: 'item_embedding', shape: [numItems, DIM] },
    ],
  });
}
