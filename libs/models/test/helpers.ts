import { expect } from 'vitest';
import { Rng, RrError, csrFromPairs, type Csr } from '@robustrec/core';
import { resolveTrainConfig, type TrainConfigInput } from '../src';

/** Synthetic implicit data with structure: users prefer items of their own cluster. */
export function synthetic(numUsers: number, numItems: number, perUser: number, seed = 1): Csr {
  const rng = new Rng(seed);
  const rows: number[] = [], cols: number[] = [];
  const clusters = 4;
  for (let u = 0; u < numUsers; u++) {
    const c = u % clusters;
    for (let k = 0; k < perUser; k++) {
      const inCluster = rng.next() < 0.8;
      let i = rng.int(numItems);
      if (inCluster) i = (Math.floor(i / clusters) * clusters + c) % numItems;
      rows.push(u);
      cols.push(i);
    }
  }
  return csrFromPairs(numUsers, numItems, rows, cols);
}

/** Largest absolute difference relative to the largest |b|: the gradient checks' 1e-5 measure. */
export function relErr(a: Float32Array, b: Float32Array): number {
  let m = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return m / s;
}

/** The gradient checks' batch on `synthetic(60, 45, 8)`: repeated users and items; positives are training items of the user. */
export function checkBatch(train: Csr): { users: Uint32Array; pos: Uint32Array; neg: Uint32Array } {
  const users = Uint32Array.from([3, 3, 10, 17, 3, 41, 10, 59]);
  const pos = Uint32Array.from(Array.from(users, (u, q) => train.indices[train.indptr[u]! + (q % (train.indptr[u + 1]! - train.indptr[u]!))]!));
  const neg = Uint32Array.from([0, 1, 1, 2, 44, 7, 0, 1]);
  return { users, pos, neg };
}

/** resolveTrainConfig(input) must fail with an INVALID_ARGUMENT RrError naming `field`. */
export function expectRejected(input: TrainConfigInput, field: string): void {
  let err: unknown;
  try {
    resolveTrainConfig(input);
  } catch (e) {
    err = e;
  }
  expect(err, 'accepted').toBeInstanceOf(RrError);
  expect((err as RrError).code).toBe('INVALID_ARGUMENT');
  expect((err as RrError).field).toBe(field);
}
