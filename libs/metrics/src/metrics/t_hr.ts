import type { TargetMetric } from '../metric';

/** T-HR@k: 1 when the target is ranked within the top k of an eligible user. */
export const tHr: TargetMetric = {
  kind: 'target',
  name: 't_hr',
  label: 'T-HR',
  reportK: 50,
  value: (rank, k) => (rank <= k ? 1 : 0),
};
