import type { UserMetric } from '../metric';

/** Recall@k: relevant items in the top k over all relevant items of the user. */
export const recall: UserMetric = {
  kind: 'user',
  name: 'recall',
  label: 'Recall',
  reportK: 20,
  value(u, k) {
    let h = 0;
    const n = Math.min(k, u.hits.length);
    for (let i = 0; i < n; i++) h += u.hits[i]!;
    return h / u.numRelevant;
  },
};
