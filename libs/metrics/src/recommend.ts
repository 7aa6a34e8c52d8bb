import { invalidArgument, type Csr } from '@robustrec/core';
import { BLOCK } from './kernel';
import { maskRow, TopK } from './topk';
import type { Scorer } from './types';

export interface TopItems {
  /** users.length × k item ids, best first (ties: lower id first), -1 padded when fewer items remain. */
  items: Int32Array;
  /** Matching scores (NaN where items is -1). */
  scores: Float32Array;
  k: number;
}

/**
 * Top-k items of each user with `exclude` masked: the serving path (the same scoring,
 * masking and selection as evaluateRanking, so served lists match evaluated ones).
 */
export function topItems(scorer: Scorer, users: Uint32Array, k: number, exclude: readonly Csr[] = []): TopItems {
  const numItems = scorer.numItems;
  if (!Number.isInteger(k) || k < 1 || k > numItems) throw invalidArgument('k', `must be an integer in [1, ${numItems}], got ${k}`);
  for (const u of users) if (u >= scorer.numUsers) throw invalidArgument('users', `user ${u} out of range [0, ${scorer.numUsers})`);
  const items = new Int32Array(users.length * k).fill(-1);
  const scores = new Float32Array(users.length * k).fill(Number.NaN);
  const sel = new TopK(k);
  const n = Math.min(BLOCK, users.length);
  const buf = new Float32Array(n * numItems);
  for (let s = 0; s < users.length; s += BLOCK) {
    const m = Math.min(BLOCK, users.length - s);
    scorer.scoreUsers(users.subarray(s, s + m), buf.subarray(0, m * numItems));
    for (let r = 0; r < m; r++) {
      const row = buf.subarray(r * numItems, (r + 1) * numItems);
      maskRow(row, exclude, users[s + r]!);
      const got = sel.select(row, numItems, items, (s + r) * k);
      for (let j = 0; j < got; j++) scores[(s + r) * k + j] = row[items[(s + r) * k + j]!]!;
    }
  }
  return { items, scores, k };
}
