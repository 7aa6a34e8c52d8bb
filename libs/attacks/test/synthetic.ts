import { csrFromPairs, Rng, type Csr } from '@robustrec/core';

/** Small clustered long-tail interaction data for tests (deterministic). */
export function syntheticTrain(numUsers = 400, numItems = 300, mean = 20, seed = 1): Csr {
  const rng = new Rng(seed);
  const rows: number[] = [];
  const cols: number[] = [];
  const clusters = 6;
  const weights = Array.from({ length: numItems }, (_, i) => 1 / (i + 1) ** 0.9);
  for (let u = 0; u < numUsers; u++) {
    const cl = u % clusters;
    const n = 5 + rng.int(2 * mean - 10);
    for (let k = 0; k < n; k++) {
      let i: number;
      do {
        // popularity-weighted, biased to the user's cluster
        const x = rng.next() * weights.reduce((a, b) => a + b, 0);
        let acc = 0;
        i = 0;
        while (i < numItems - 1 && (acc += weights[i]!) < x) i++;
      } while (i % clusters !== cl && rng.next() < 0.7);
      rows.push(u);
      cols.push(i);
    }
  }
  return csrFromPairs(numUsers, numItems, rows, cols);
}
