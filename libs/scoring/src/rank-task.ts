import type { Csr } from '@robustrec/core';
import { BLOCK, DotKernel, type PackedItems } from './kernel';
import type { PortableSpec } from './portable';
import { dotRanker, rankerOf, rankUsers, type BlockRanker } from './rank';
import { TopK } from './topk';
import type { Scorer } from './types';

/** Plain-data description of a share of users to rank (posted to worker threads as is), whatever the scorer. */
export interface RankShare {
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
   * Work sharing between the threads of a RankPool run (SharedArrayBuffer-backed, one word):
   * when set, every thread given the task ranks [start, end) block by block, claiming block b
   * (users start + b·BLOCK ..) as the value Atomics.add(claim, 0, 1) returns, until the blocks
   * run out. Invariant: Atomics.add hands each value to exactly one thread, so each block is
   * ranked by exactly one thread and writes only its own slice of `top` / `scores`; the caller
   * reads them after every thread's request has settled (the HelperLink answer orders the
   * writes before the read). A thread that starts late (a cold helper, packing its kernel)
   * simply claims fewer blocks.
   */
  claim?: Int32Array;
  /** Stress tests only: claimLog[b] counts the claims of block b (exactly 1 each, or the invariant broke). */
  claimLog?: Int32Array;
}

/** A share of a dot-product model's users: the SIMD dot kernel ranks it. */
export interface DotRankTask extends RankShare {
  userEmb: Float32Array;
  itemEmb: Float32Array;
  dim: number;
  /**
   * Names the item table for good (a model id): a helper keeps the packed kernel of the last
   * few keys instead of packing the table for every task (~90-230 ms at Gowalla size).
   * Unset: packed per task.
   */
  kernelKey?: string;
  /**
   * The item table already packed in shared memory (the caller's kernel's `packed`): a helper
   * that keeps a kernel for `kernelKey` ranks over it instead of packing a copy of its own.
   * Only with kernelKey (each kernel grows the shared memory by its scratch, so kernels on it are kept).
   */
  packed?: PackedItems;
}

/** A share of any portable scorer's users (NeuMF): the helper rebuilds the scorer from the spec (kept per spec key). */
export interface ScorerRankTask extends RankShare {
  scorer: PortableSpec;
}

export type RankTask = DotRankTask | ScorerRankTask;

export const isScorerTask = (t: RankTask): t is ScorerRankTask => 'scorer' in t;

/** Runs `rank` over t's users: the whole range, or the blocks this thread claims (RankTask.claim). */
function eachBlock(t: Pick<RankShare, 'start' | 'end' | 'claim' | 'claimLog'>, rank: (start: number, end: number) => void): void {
  if (!t.claim) return rank(t.start, t.end);
  for (;;) {
    const b = Atomics.add(t.claim, 0, 1);
    const s = t.start + b * BLOCK;
    if (s >= t.end) return;
    if (t.claimLog) Atomics.add(t.claimLog, b, 1);
    rank(s, Math.min(t.end, s + BLOCK));
  }
}

/** Ranks users[start..end) of a dot-product model with a kernel of this thread. */
export function runDotTask(t: DotRankTask, kernel?: DotKernel): void {
  // packed on the first claimed block: a helper that finds the blocks gone packs nothing
  let ranker: BlockRanker | undefined;
  const sel = new TopK(t.k);
  eachBlock(t, (s, e) => {
    ranker ??= dotRanker(kernel ?? new DotKernel(t.itemEmb, t.numItems, t.dim), t.userEmb);
    rankUsers(ranker, t.users, s, e, t.masks, t.k, t.top, t.scores, sel);
  });
}

/** Ranks users[start..end) of any scorer. */
export function runScorerTask(scorer: Scorer, t: RankShare): void {
  const ranker = rankerOf(scorer);
  const sel = new TopK(t.k);
  eachBlock(t, (s, e) => rankUsers(ranker, t.users, s, e, t.masks, t.k, t.top, t.scores, sel));
}
