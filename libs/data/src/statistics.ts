import { columnCounts, type InteractionData } from '@robustrec/core';

/** Table-3 statistics (genuine users, all splits) plus fake-user counts and training popularity. */
export interface DatasetStatistics {
  users: number;
  items: number;
  interactions: number;
  avgInteractionsPerUser: number;
  sparsity: number;
  fakeUsers: number;
  fakeInteractions: number;
  /** Training-split popularity of every item over genuine users, index = item id. */
  itemPopularity: Uint32Array;
}

export function statistics(d: InteractionData): DatasetStatistics {
  const g = d.numGenuineUsers;
  const genuine = (m: { indptr: Uint32Array }): number => m.indptr[g]!;
  const interactions = genuine(d.train) + genuine(d.valid) + genuine(d.test);
  return {
    users: g,
    items: d.numItems,
    interactions,
    avgInteractionsPerUser: g > 0 ? interactions / g : 0,
    sparsity: g > 0 && d.numItems > 0 ? 1 - interactions / (g * d.numItems) : 1,
    fakeUsers: d.numUsers - g,
    fakeInteractions: d.train.indptr[d.numUsers]! - genuine(d.train),
    itemPopularity: columnCounts(d.train, g),
  };
}
