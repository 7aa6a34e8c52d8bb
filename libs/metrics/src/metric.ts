/**
 * A ranking metric is computed from the masked top-K list of one user (K = max cut-off),
 * so every registered metric shares the single pass over the score matrix.
 */

/** What a per-user recommendation metric sees for one user. */
export interface UserRanking {
  /** Top items after masking, best first (ties: lower item id first); length ≤ K. */
  top: Uint32Array;
  /** hits[i] = 1 when top[i] is relevant. */
  hits: Uint8Array;
  /** Number of relevant items of the user (> 0). */
  numRelevant: number;
}

/** How reports show a metric: its label and the cut-off the paper's tables use. */
interface Reported {
  /** Name used in result keys: `${name}@${k}`. */
  name: string;
  /** Label in tables, e.g. "Recall" (shown as "Recall@20"). */
  label: string;
  /** Cut-off of the report's tables (Table 1: 20, Table 2: 50 in the paper). */
  reportK: number;
}

export interface UserMetric extends Reported {
  kind: 'user';
  /** Value for one user at cut-off k; averaged over users with relevant items. */
  value(u: UserRanking, k: number): number;
}

export interface TargetMetric extends Reported {
  kind: 'target';
  /**
   * Value for one (target, eligible user) pair at cut-off k from the target's 1-based rank
   * after masking (Infinity when it is not in the top K); averaged over users, then targets.
   */
  value(rank: number, k: number): number;
}

export type RankingMetric = UserMetric | TargetMetric;

/** 1 / log2(i + 2) for 0-based positions, cached. */
const discounts: number[] = [];
export function discount(position: number): number {
  for (let i = discounts.length; i <= position; i++) discounts.push(1 / Math.log2(i + 2));
  return discounts[position]!;
}
