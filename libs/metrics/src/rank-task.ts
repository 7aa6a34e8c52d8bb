import type { Csr } from '@robustrec/core';
import { BLOCK, DotKernel } from './kernel';
import { maskRow, TopK } from './topk';
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
}

/** Ranks users[start..end) of a dot-product model with a kernel of this thread. */
export function runDotTask(t: RankTask, kernel?: DotKernel): void {
  const kk = kernel ?? new DotKernel(t.itemEmb, t.numItems, t.dim);
  const sel = new TopK(t.k);
  for (let s = t.start; s < t.end; s += BLOCK) {
    const n = Math.min(BLOCK, t.end - s);
    kk.rankBlock(t.userEmb, t.users, s, n);
    for (let r = 0; r < n; r++) rankRow(kk.row(r), t, s + r, () => kk.selectRow(r, sel, t.top, (s + r) * t.k));
  }
}

/** Ranks users[start..end) of any scorer, BLOCK users per scoreUsers call. */
export function runScorerTask(scorer: Scorer, t: Omit<RankTask, 'userEmb' | 'itemEmb' | 'dim'>): void {
  const sel = new TopK(t.k);
  const buf = new Float32Array(BLOCK * t.numItems);
  for (let s = t.start; s < t.end; s += BLOCK) {
    const n = Math.min(BLOCK, t.end - s);
    scorer.scoreUsers(t.users.subarray(s, s + n), buf.subarray(0, n * t.numItems));
    for (let r = 0; r < n; r++) {
      const row = buf.subarray(r * t.numItems, (r + 1) * t.numItems);
      rankRow(row, t, s + r, () => sel.select(row, t.numItems, t.top, (s + r) * t.k));
    }
  }
}

/** Masks user i's score row, then `select` writes its top-k to t.top and says how many; the rest is padded with -1. */
function rankRow(row: Float32Array, t: Pick<RankTask, 'masks' | 'users' | 'k' | 'top'>, i: number, select: () => number): void {
  maskRow(row, t.masks, t.users[i]!);
  const got = select();
  t.top.fill(-1, i * t.k + got, (i + 1) * t.k);
}
