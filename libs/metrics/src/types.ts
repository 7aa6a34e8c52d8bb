import type { Csr } from '@robustrec/core';
import type { Scorer } from '@robustrec/scoring';

export interface RankingInput {
  scorer: Scorer;
  /** Users 0..numGenuineUsers-1 are genuine; fake users are never evaluated. */
  numGenuineUsers: number;
  /** Items masked from each user's ranking (train; plus valid when evaluating test). */
  exclude: Csr[];
  /** Relevant items per user (e.g. test). */
  relevant: Csr;
  /** Target items of an attack (T-HR / T-NDCG); none: attack metrics skipped. */
  targets?: Uint32Array;
  /** Interactions that disqualify a user for a target (train, valid, test). Default: exclude ∪ relevant. */
  targetExclude?: Csr[];
  /** Cut-offs (default [10, 20, 50]). */
  ks?: number[];
  /** Worker threads for dot-product scorers (default: min(2, available cores)); 1 = this thread only. */
  threads?: number;
}

export interface RankingResult {
  /** 'recall@20', 'ndcg@20', 't_hr@50', 't_ndcg@50', ... */
  metrics: Record<string, number>;
  perTarget: Array<{ item: number; users: number; metrics: Record<string, number> }>;
  /** Genuine users with relevant items that were ranked. */
  usersEvaluated: number;
  seconds: number;
}
