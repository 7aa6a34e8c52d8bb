/**
 * Sampled and sharded evaluation (issue 22): which users an evaluation ranks, the sufficient
 * statistics of each averaged metric, its 95% confidence interval, and the exact merge of
 * shards.
 *
 * Users. The population is the ordered list of users a full evaluation ranks (genuine users
 * with relevant items; every genuine user when there are target items). One seeded
 * permutation of it (Rng(seed).fork('evaluate.users'), Fisher-Yates) is cut twice: the sample
 * is its first `sampleUsers` entries (a simple random sample without replacement), and shard
 * i of n keeps the positions p of the sample with p mod n == i, so the n shards partition the
 * sample exactly (each shard is itself a simple random sample). Selected users are ranked in
 * increasing id order.
 *
 * Interval. For a metric averaged over the n evaluated users of a domain of N population
 * users (users with relevant items; users eligible for a target) with per-user values x:
 *   mean = Σx / n,  s² = (Σx² − (Σx)²/n) / (n − 1),
 *   h = 1.96 · s / √n · √((N − n) / (N − 1))      (normal approximation, finite-population
 * correction for sampling without replacement; h = 0 when n = N; undefined when n < N and
 * n < 2 or s = 0, e.g. a rare target that no sampled user ranks: the normal approximation is
 * poor for such rare binary metrics, and a zero width would overstate the certainty).
 * Restricting a simple random sample to a domain gives a simple random sample of the domain
 * given its size, so the same formula holds per domain. The averaged target metrics (mean over
 * targets of per-target means) get the mean of the per-target half-widths: the standard
 * deviation of an average of (correlated) estimates is at most the average of their standard
 * deviations, so that interval is conservative.
 */
import { invalidArgument, Rng } from '@robustrec/core';
import { metricByName } from './registry';
import type { MetricStats, RankingResult, Sampling, SamplingOptions } from './types';

/** Seed of the user permutation when none is given (as ProjectUsers' sample). */
export const DEFAULT_SAMPLE_SEED = 2024;
/** Most shards one evaluation may be cut into. */
export const MAX_SHARDS = 1024;
/** Two-sided 95% quantile of the standard normal. */
export const Z95 = 1.96;

function checkCount(field: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw invalidArgument(field, `must be an integer in [0, ${max}], got ${v}`);
}

/** Validates the sharding options alone (services check them before loading anything). */
export function checkSharding(opts: SamplingOptions = {}): void {
  const count = opts.shardCount ?? 0;
  const index = opts.shardIndex ?? 0;
  checkCount('shard_count', count, MAX_SHARDS);
  if (!Number.isInteger(index) || index < 0 || index >= Math.max(1, count))
    throw invalidArgument('shard_index', count > 0 ? `must be in [0, ${count}) (shard_count ${count}), got ${index}` : `must be 0 when shard_count is 0, got ${index}`);
  checkCount('sample_seed', opts.seed ?? 0, 0xffffffff);
}

/** The users of `population` that a sampled/sharded evaluation ranks, in increasing order. */
export function selectUsers(population: Uint32Array, opts: SamplingOptions = {}): { users: Uint32Array; sampling: Sampling } {
  checkSharding(opts);
  const N = population.length;
  const sampleUsers = opts.sampleUsers ?? 0;
  if (!Number.isInteger(sampleUsers) || sampleUsers < 0) throw invalidArgument('sample_users', `must be a non-negative integer, got ${sampleUsers}`);
  if (sampleUsers > N) throw invalidArgument('sample_users', `${sampleUsers} exceeds the ${N} users of the population (0 evaluates all of them)`);
  const seed = opts.seed || DEFAULT_SAMPLE_SEED;
  const shardCount = opts.shardCount ?? 0;
  const shardIndex = opts.shardIndex ?? 0;
  const sampling = { sampleUsers, seed, shardIndex, shardCount, population: N, usersRanked: N };
  const n = sampleUsers || N;
  const step = Math.max(1, shardCount);
  if (n === N && step === 1) return { users: population, sampling };
  const perm = new Rng(seed).fork('evaluate.users').shuffle(Uint32Array.from(population));
  const out = new Uint32Array(n > shardIndex ? Math.ceil((n - shardIndex) / step) : 0);
  for (let p = shardIndex, j = 0; p < n; p += step) out[j++] = perm[p]!;
  out.sort();
  return { users: out, sampling: { ...sampling, usersRanked: out.length } };
}

/** Mean, standard deviation and 95% half-width from the sufficient statistics. */
export function metricStats(count: number, sum: number, sumSquares: number, population: number): MetricStats {
  const mean = count ? sum / count : 0;
  const stdDev = count > 1 ? Math.sqrt(Math.max(0, (sumSquares - (sum * sum) / count) / (count - 1))) : 0;
  const s: MetricStats = { count, sum, sumSquares, population, mean, stdDev };
  if (count >= population) s.ciHalfWidth = 0;
  // every sampled value equal (e.g. no hit of a rare target): the normal interval would claim
  // certainty (h = 0) that a sample cannot give, so it is left undefined
  else if (count >= 2 && stdDev > 0) s.ciHalfWidth = ((Z95 * stdDev) / Math.sqrt(count)) * Math.sqrt((population - count) / (population - 1));
  return s;
}

type PerTarget = RankingResult['perTarget'][number];

/**
 * The averaged target metrics from the per-target ones: the mean over targets with eligible
 * users of their means (the order of targets is kept, so a full evaluation's values are
 * bit-identical to summing in aggregate), with pooled statistics and the mean half-width.
 */
export function targetAggregate(perTarget: PerTarget[], keys: string[]): { metrics: Record<string, number>; statistics: Record<string, MetricStats> } {
  const metrics: Record<string, number> = {};
  const statistics: Record<string, MetricStats> = {};
  const counted = perTarget.filter((t) => t.users > 0);
  for (const key of keys) {
    let mean = 0, count = 0, sum = 0, sq = 0, pop = 0, hw: number | undefined = 0;
    for (const t of perTarget) {
      const st = t.statistics[key];
      if (st) {
        count += st.count;
        sum += st.sum;
        sq += st.sumSquares;
        pop += st.population;
      }
      if (!t.users) continue;
      mean += t.metrics[key]!;
      hw = hw === undefined || st?.ciHalfWidth === undefined ? undefined : hw + st.ciHalfWidth;
    }
    metrics[key] = counted.length ? mean / counted.length : 0;
    const pooled = metricStats(count, sum, sq, pop);
    const s: MetricStats = { ...pooled, mean: metrics[key]! };
    delete s.ciHalfWidth;
    if (!counted.length) s.ciHalfWidth = 0;
    else if (hw !== undefined) s.ciHalfWidth = hw / counted.length;
    statistics[key] = s;
  }
  return { metrics, statistics };
}

const isTargetKey = (key: string): boolean => metricByName(key.slice(0, key.lastIndexOf('@')))?.kind === 'target';

/** What mergeShards needs of each shard's result. */
export type ShardResult = Pick<RankingResult, 'sampling' | 'statistics' | 'perTarget' | 'usersEvaluated' | 'seconds'>;

/**
 * Combines the n shard results of one sampled or full evaluation (same seed, sample size,
 * population, cut-offs and targets; shard indexes 0..n-1 each once) into the result of the
 * unsharded evaluation: counts, sums and sums of squares add, so the merged means equal the
 * unsharded ones up to the order of floating-point summation (relative error ~1e-15; tested
 * to 1e-9). INVALID_ARGUMENT naming `evaluations` for shards that do not fit together.
 */
export function mergeShards(shards: ShardResult[]): RankingResult {
  if (!shards.length) throw invalidArgument('evaluations', 'nothing to merge');
  const first = shards[0]!.sampling;
  const count = Math.max(1, first.shardCount);
  const seen = new Set<number>();
  const keys = Object.keys(shards[0]!.statistics);
  const items = shards[0]!.perTarget.map((t) => t.item);
  for (const [i, s] of shards.entries()) {
    const a = s.sampling;
    for (const f of ['seed', 'sampleUsers', 'shardCount', 'population'] as const)
      if (a[f] !== first[f]) throw invalidArgument(`evaluations[${i}]`, `${f} ${a[f]} differs from the first shard's ${first[f]}`);
    if (seen.has(a.shardIndex)) throw invalidArgument(`evaluations[${i}]`, `shard ${a.shardIndex} appears twice`);
    seen.add(a.shardIndex);
    if (Object.keys(s.statistics).join() !== keys.join()) throw invalidArgument(`evaluations[${i}]`, 'has different metrics or cut-offs than the first shard');
    if (s.perTarget.map((t) => t.item).join() !== items.join()) throw invalidArgument(`evaluations[${i}]`, 'has different target items than the first shard');
  }
  if (seen.size !== count) throw invalidArgument('evaluations', `${seen.size} of ${count} shards given (missing: ${[...Array(count).keys()].filter((k) => !seen.has(k)).join(', ')})`);

  const add = (parts: MetricStats[]): MetricStats => {
    let n = 0, sum = 0, sq = 0;
    for (const p of parts) {
      n += p.count;
      sum += p.sum;
      sq += p.sumSquares;
    }
    return metricStats(n, sum, sq, parts[0]!.population);
  };
  const perTarget: PerTarget[] = items.map((item, ti) => {
    const statistics: Record<string, MetricStats> = {};
    const metrics: Record<string, number> = {};
    for (const key of Object.keys(shards[0]!.perTarget[ti]!.statistics)) {
      statistics[key] = add(shards.map((s) => s.perTarget[ti]!.statistics[key]!));
      metrics[key] = statistics[key]!.mean;
    }
    return { item, users: shards.reduce((a, s) => a + s.perTarget[ti]!.users, 0), metrics, statistics };
  });
  const tKeys = keys.filter(isTargetKey);
  const agg = targetAggregate(perTarget, tKeys);
  const metrics: Record<string, number> = {};
  const statistics: Record<string, MetricStats> = {};
  for (const key of keys) {
    statistics[key] = isTargetKey(key) && items.length ? agg.statistics[key]! : add(shards.map((s) => s.statistics[key]!));
    metrics[key] = isTargetKey(key) && items.length ? agg.metrics[key]! : statistics[key]!.mean;
  }
  return {
    metrics,
    statistics,
    perTarget,
    usersEvaluated: shards.reduce((a, s) => a + s.usersEvaluated, 0),
    // shards run side by side: the slowest one
    seconds: Math.max(...shards.map((s) => s.seconds)),
    sampling: { ...first, shardIndex: 0, shardCount: 0, usersRanked: shards.reduce((a, s) => a + s.sampling.usersRanked, 0) },
  };
}
