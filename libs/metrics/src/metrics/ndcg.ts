import { discount, type UserMetric } from '../metric';

/** NDCG@k, binary relevance, ideal DCG over min(|relevant|, k) (the authors' definition). */
export const ndcg: UserMetric = {
  kind: 'user',
  name: 'ndcg',
  label: 'NDCG',
  reportK: 20,
  value(u, k) {
    let dcg = 0;
    const n = Math.min(k, u.hits.length);
    for (let i = 0; i < n; i++) if (u.hits[i]) dcg += discount(i);
    let idcg = 0;
    const m = Math.min(k, u.numRelevant);
    for (let i = 0; i < m; i++) idcg += discount(i);
    return dcg / idcg;
  },
};
