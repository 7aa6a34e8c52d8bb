import { Rng, csrFromPairs, type Csr } from '@robustrec/core';

/** Synthetic implicit data with structure: users prefer items of their own cluster. */
export function synthetic(numUsers: number, numItems: number, perUser: number, seed = 1): Csr {
  const rng = new Rng(seed);
  const rows: number[] = [], cols: number[] = [];
  const clusters = 4;
  for (let u = 0; u < numUsers; u++) {
    const c = u % clusters;
    for (let k = 0; k < perUser; k++) {
      const inCluster = rng.next() < 0.8;
      let i = rng.int(numItems);
      if (inCluster) i = (Math.floor(i / clusters) * clusters + c) % numItems;
      rows.push(u);
      cols.push(i);
    }
  }
  return csrFromPairs(numUsers, numItems, rows, cols);
}
