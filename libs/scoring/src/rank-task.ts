import type { Csr } from '@robustrec/core';
import { DotKernel } from './kernel';
import { dotRanker, rankerOf, rankUsers } from './rank';
import type { Scorer } from './types';

/** Plain-data description of a share of users to rank (posted to worker threads as is). */
export interface RankTask {
  userEmb: Float32Array;
  itemEmb: Float32Array;
  dim: number;
  numItems: number;
  masks: Csr[];
  users: Uint32Array;
  start: number;
  end: number;
  k: number;
  /** users.length × k item ids, -1 padded (SharedArrayBuffer-backed across threads). */
  top: Int32Array;
  /** Their scores, NaN padded, when the caller wants them (serving batches; shared likewise). */
  scores?: Float32Array;
  /**
   * Names the item table for good (a model id): a helper keeps the packed kernel of the last
   * few keys instead of packing the table for every task (~90-230 ms at Gowalla size).
   * Unset: packed per task.
   */
  kernelKey?: string;
}

/** Ranks users[start..end) of a dot-product model with a kernel of this thread. */
export function runDotTask(t: RankTask, kernel?: DotKernel): void {
  const kk = kernel ?? new DotKernel(t.itemEmb, t.numItems, t.dim);
  rankUsers(dotRanker(kk, t.userEmb), t.users, t.start, t.end, t.masks, t.k, t.top, t.scores);
}

/** Ranks users[start..end) of any scorer. */
export function runScorerTask(scorer: Scorer, t: Omit<RankTask, 'userEmb' | 'itemEmb' | 'dim'>): void {
  rankUsers(rankerOf(scorer), t.users, t.start, t.end, t.masks, t.k, t.top, t.scores);
}
