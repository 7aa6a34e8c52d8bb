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
  /** Rank a seeded sample of the users and/or one shard of them (sampling.ts); default: all users. */
  sample?: SamplingOptions;
}

/** Which users to rank (sampling.ts): all zero/absent ranks every user of the population. */
export interface SamplingOptions {
  /** Size of the simple random sample of the population (0: all users). */
  sampleUsers?: number;
  /** Seed of the user permutation (0: DEFAULT_SAMPLE_SEED). */
  seed?: number;
  /** Shard evaluated, in [0, shardCount). */
  shardIndex?: number;
  /** Number of shards (0: unsharded; at most MAX_SHARDS). */
  shardCount?: number;
}

/** How the users of a result were chosen. */
export interface Sampling {
  sampleUsers: number;
  /** Seed actually used. */
  seed: number;
  shardIndex: number;
  shardCount: number;
  /** Users a full evaluation ranks (N). */
  population: number;
  /** Users this evaluation ranked. */
  usersRanked: number;
}

/** Sufficient statistics of one averaged metric and its 95% interval (sampling.ts). */
export interface MetricStats {
  /** Users contributing a value (n). */
  count: number;
  sum: number;
  sumSquares: number;
  /** Users of the population in the metric's domain (N). */
  population: number;
  mean: number;
  stdDev: number;
  /** 95% half-width; absent when undefined (n < N and n < 2 or every value equal). */
  ciHalfWidth?: number;
}

export interface RankingResult {
  /** 'recall@20', 'ndcg@20', 't_hr@50', 't_ndcg@50', ... */
  metrics: Record<string, number>;
  perTarget: Array<{ item: number; users: number; metrics: Record<string, number>; statistics: Record<string, MetricStats> }>;
  /** Per metric key: sufficient statistics and 95% interval (mean = metrics[key]). */
  statistics: Record<string, MetricStats>;
  sampling: Sampling;
  /** Genuine users with relevant items that were ranked. */
  usersEvaluated: number;
  seconds: number;
}
