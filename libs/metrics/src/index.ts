export type { RankingInput, RankingResult, MetricStats, Sampling, SamplingOptions } from './types';
export type { RankingMetric, UserMetric, TargetMetric, UserRanking } from './metric';
export { evaluateRanking, evaluateRankingAsync, DEFAULT_KS } from './evaluate';
export { METRICS, metricByName, metricLabel, reportedMetrics } from './registry';
export { checkSharding, DEFAULT_SAMPLE_SEED, MAX_SHARDS, mergeShards, metricStats, selectUsers, Z95, type ShardResult } from './sampling';
