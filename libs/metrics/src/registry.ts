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

/**
 * The result keys reports show, from the registry: recommendation metrics (kind "user",
 * Table 1) or attack-success metrics (kind "target", Table 2), each at its reportK.
 */
export const reportedMetrics = (kind: RankingMetric['kind']): string[] => METRICS.filter((m) => m.kind === kind).map((m) => `${m.name}@${m.reportK}`);

/** "recall@20" -> "Recall@20" (a key of an unregistered metric is shown as is). */
export function metricLabel(key: string): string {
  const at = key.lastIndexOf('@');
  const m = metricByName(at > 0 ? key.slice(0, at) : key);
  return m ? `${m.label}${at > 0 ? key.slice(at) : ''}` : key;
}
