import { invalidArgument, type Csr } from '@robustrec/core';
import { rankerOf, rankUsers } from './rank';
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
  const items = new Int32Array(users.length * k);
  const scores = new Float32Array(users.length * k);
  rankUsers(rankerOf(scorer), users, 0, users.length, exclude, k, items, scores);
  return { items, scores, k };
}
