import type { TargetMetric } from '../metric';

/** T-NDCG@k: 1 / log2(rank + 1) when the target is ranked within the top k, else 0. */
export const tNdcg: TargetMetric = {
  kind: 'target',
  name: 't_ndcg',
  label: 'T-NDCG',
  reportK: 50,
  value: (rank, k) => (rank <= k ? 1 / Math.log2(rank + 1) : 0),
};
