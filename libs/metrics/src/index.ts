export type { RankingInput, RankingResult } from './types';
export type { RankingMetric, UserMetric, TargetMetric, UserRanking } from './metric';
export { evaluateRanking, evaluateRankingAsync, DEFAULT_KS } from './evaluate';
export { METRICS, metricByName, metricLabel, reportedMetrics } from './registry';
