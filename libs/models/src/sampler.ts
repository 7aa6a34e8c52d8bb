import { RrError, csrHas, type Csr, type Rng } from '@robustrec/core';
import type { Batch } from './types';

/**
 * The published code's sampling: each sample draws a user uniformly at random (among users
 * with at least one training item), one of the user's positives uniformly, and a negative
 * item uniformly by rejection. An epoch has as many samples as training interactions, in
 * batches of batchSize (the last one smaller).
 */
export class Sampler {
  private readonly all: Uint32Array;
  private active: Uint32Array;
  /** With an edge mask: positions of the kept edges grouped by user, and each user's range. */
  private kept: { ptr: Uint32Array; pos: Uint32Array } | undefined;
  readonly samplesPerEpoch: number;

  constructor(
    private readonly train: Csr,
    private readonly rng: Rng,
  ) {
    const act: number[] = [];
    for (let u = 0; u < train.numRows; u++) if (train.indptr[u + 1] > train.indptr[u]) act.push(u);
    this.all = this.active = Uint32Array.from(act);
    this.samplesPerEpoch = train.indptr[train.numRows];
    if (this.active.length === 0) throw new Error('training matrix has no interactions');
  }

  /**
   * Draw positives among the kept edges only (keep[p] = 0 drops position p of the training CSR):
   * users uniformly among those with a kept edge, then one of their kept edges uniformly.
   * Negatives are still drawn outside all training items, and an epoch keeps its length.
   * undefined restores sampling over every edge (the same draws as a sampler never masked).
   */
  setEdgeMask(keep: Uint8Array | undefined): void {
    if (!keep) {
      this.kept = undefined;
      this.active = this.all;
      return;
    }
    const { train } = this;
    if (keep.length !== this.samplesPerEpoch) throw new Error(`edge mask has ${keep.length} entries, the training matrix ${this.samplesPerEpoch}`);
    const ptr = new Uint32Array(train.numRows + 1);
    const pos: number[] = [];
    const act: number[] = [];
    for (let u = 0; u < train.numRows; u++) {
      for (let p = train.indptr[u]; p < train.indptr[u + 1]; p++) if (keep[p]) pos.push(p);
      ptr[u + 1] = pos.length;
      if (ptr[u + 1] > ptr[u]) act.push(u);
    }
    if (act.length === 0) throw new RrError('FAILED_PRECONDITION', 'the edge mask drops every training interaction: nothing left to sample');
    this.kept = { ptr, pos: Uint32Array.from(pos) };
    this.active = Uint32Array.from(act);
  }

  fill(b: Batch, n: number): void {
    const { train, rng, active, kept } = this;
    const ni = train.numCols;
    for (let q = 0; q < n; q++) {
      const u = active[rng.int(active.length)];
      const start = train.indptr[u];
      const deg = train.indptr[u + 1] - start;
      const p = kept ? kept.pos[kept.ptr[u] + rng.int(kept.ptr[u + 1] - kept.ptr[u])] : start + rng.int(deg);
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
