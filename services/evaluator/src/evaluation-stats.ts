/**
 * The proto side of sampled and sharded evaluation (libs/metrics/src/sampling.ts): the
 * metrics library's sufficient statistics as MetricStatistics messages, and a stored
 * Evaluation back as the library's ShardResult, so that clients (robustrec evaluate) merge
 * shards with mergeShards.
 */
import { evaluator, type common } from '@robustrec/contracts';
import { RrError } from '@robustrec/core';
import type { MetricStats, ShardResult } from '@robustrec/metrics';

/** "recall@20" -> { name: "recall", k: 20 }. */
export function metricKey(key: string): Pick<common.Metric, 'name' | 'k'> {
  const at = key.lastIndexOf('@');
  return { name: key.slice(0, at), k: Number(key.slice(at + 1)) };
}

const keyOf = (m: { name: string; k: number }): string => `${m.name}@${m.k}`;

export function toStatistics(stats: Record<string, MetricStats>): evaluator.MetricStatistics[] {
  return Object.entries(stats).map(([key, s]) => ({
    ...metricKey(key),
    count: s.count,
    sum: s.sum,
    sumSquares: s.sumSquares,
    population: s.population,
    mean: s.mean,
    stdDev: s.stdDev,
    ciHalfWidth: s.ciHalfWidth,
  }));
}

export function fromStatistics(list: evaluator.MetricStatistics[]): Record<string, MetricStats> {
  const out: Record<string, MetricStats> = {};
  for (const s of list) {
    const st: MetricStats = { count: s.count, sum: s.sum, sumSquares: s.sumSquares, population: s.population, mean: s.mean, stdDev: s.stdDev };
    if (s.ciHalfWidth !== undefined) st.ciHalfWidth = s.ciHalfWidth;
    out[keyOf(s)] = st;
  }
  return out;
}

/** A stored Evaluation as mergeShards takes it; FAILED_PRECONDITION for one without statistics (stored by an older evaluator). */
export function shardResultOf(e: evaluator.Evaluation): ShardResult {
  if (!e.sampling || (e.metrics.length > 0 && e.statistics.length === 0))
    throw new RrError('FAILED_PRECONDITION', `evaluation ${e.id} has no sampling statistics (stored by an evaluator older than sampled evaluation)`);
  return {
    sampling: { ...e.sampling },
    statistics: fromStatistics(e.statistics),
    perTarget: e.targets.map((t) => ({ item: t.item, users: t.users, metrics: Object.fromEntries(t.metrics.map((m) => [keyOf(m), m.value])), statistics: fromStatistics(t.statistics) })),
    usersEvaluated: e.usersEvaluated,
    seconds: e.seconds,
  };
}
