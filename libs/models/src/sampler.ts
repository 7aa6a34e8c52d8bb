import { csrHas, type Csr, type Rng } from '@robustrec/core';
import type { Batch } from './types';

/**
 * The published code's sampling: each sample draws a user uniformly at random (among users
 * with at least one training item), one of the user's positives uniformly, and a negative
 * item uniformly by rejection. An epoch has as many samples as training interactions, in
 * batches of batchSize (the last one smaller).
 */
export class Sampler {
  private readonly active: Uint32Array;
  readonly samplesPerEpoch: number;

  constructor(
    private readonly train: Csr,
    private readonly rng: Rng,
  ) {
    const act: number[] = [];
    for (let u = 0; u < train.numRows; u++) if (train.indptr[u + 1] > train.indptr[u]) act.push(u);
    this.active = Uint32Array.from(act);
    this.samplesPerEpoch = train.indptr[train.numRows];
    if (this.active.length === 0) throw new Error('training matrix has no interactions');
  }

  fill(b: Batch, n: number): void {
    const { train, rng, active } = this;
    const ni = train.numCols;
    for (let q = 0; q < n; q++) {
      const u = active[rng.int(active.length)];
      const start = train.indptr[u];
      const deg = train.indptr[u + 1] - start;
      const p = start + rng.int(deg);
      b.users[q] = u;
      b.posIdx[q] = p;
      b.pos[q] = train.indices[p];
      if (deg >= ni) throw new Error(`user ${u} interacted with every item: no negative exists`);
      let j: number;
      do j = rng.int(ni);
      while (csrHas(train, u, j));
      b.neg[q] = j;
    }
    b.n = n;
  }
}
