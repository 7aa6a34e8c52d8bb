import type { RankingMetric } from './metric';
import { recall } from './metrics/recall';
import { ndcg } from './metrics/ndcg';
import { tHr } from './metrics/t_hr';
import { tNdcg } from './metrics/t_ndcg';

/** The one metric registry: a new metric is one file under metrics/ plus one line here. */
export const METRICS: readonly RankingMetric[] = [recall, ndcg, tHr, tNdcg];

export function metricByName(name: string): RankingMetric | undefined {
  return METRICS.find((m) => m.name === name);
}
