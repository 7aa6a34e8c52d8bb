export type { Scorer, RankingInput, RankingResult } from './types';
export type { RankingMetric, UserMetric, TargetMetric, UserRanking } from './metric';
export { dotProductScorer, isDotProductScorer, type DotProductScorer } from './scorer';
export { evaluateRanking, evaluateRankingAsync, DEFAULT_KS } from './evaluate';
export { topItems, type TopItems } from './recommend';
export { ServePool } from './serve-pool';
export { METRICS, metricByName } from './registry';
export { scalarScore } from './kernel';
export { TopK, maskRow } from './topk';
