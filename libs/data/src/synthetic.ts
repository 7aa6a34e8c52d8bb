import { checkNumber, invalidArgument, Rng, type InteractionData } from '@robustrec/core';
import { datasetIdOf } from './content';
import { splitPerUser } from './split';

export interface SyntheticOptions {
  numUsers?: number;
  numItems?: number;
  /** Mean interactions per user (default 30). */
  meanInteractions?: number;
  /** Zipf exponent of item popularity (default 0.9). */
  popularityExponent?: number;
  /** Latent taste clusters (default 16). */
  clusters?: number;
  seed?: number;
  testRatio?: number;
  validRatio?: number;
}

export const SYNTHETIC_DEFAULTS = {
  numUsers: 2000,
  numItems: 1500,
  meanInteractions: 30,
  popularityExponent: 0.9,
  clusters: 16,
  seed: 2024,
  testRatio: 0.2,
  validRatio: 0.1,
} as const;

/** Resolved options: proto zero values (0 = unset) become defaults, then everything is range-checked. */
export function resolveSyntheticOptions(o: SyntheticOptions = {}): Required<SyntheticOptions> {
  const d = SYNTHETIC_DEFAULTS;
  const pick = (v: number | undefined, dv: number): number => (v === undefined || v === 0 ? dv : v);
  const r = {
    numUsers: checkNumber('synthetic.num_users', pick(o.numUsers, d.numUsers), 2, 5_000_000, true),
    numItems: checkNumber('synthetic.num_items', pick(o.numItems, d.numItems), 10, 5_000_000, true),
    meanInteractions: checkNumber('synthetic.mean_interactions', pick(o.meanInteractions, d.meanInteractions), 3, 10_000),
    popularityExponent: checkNumber('synthetic.popularity_exponent', pick(o.popularityExponent, d.popularityExponent), 0.01, 5),
    clusters: checkNumber('synthetic.clusters', pick(o.clusters, d.clusters), 1, 10_000, true),
    seed: checkNumber('synthetic.seed', o.seed ?? d.seed, 0, Number.MAX_SAFE_INTEGER, true),
    testRatio: checkNumber('synthetic.test_ratio', o.testRatio ?? d.testRatio, 0, 0.99),
    validRatio: checkNumber('synthetic.valid_ratio', o.validRatio ?? d.validRatio, 0, 0.99),
  };
  if (r.meanInteractions > r.numItems / 2)
    throw invalidArgument('synthetic.mean_interactions', `must be at most num_items / 2 (${r.numItems / 2}), got ${r.meanInteractions}`);
  return r;
}

/**
 * Memory a synthetic import of these options needs at its peak (estimate, bytes): per
 * interaction, the per-user arrays and sets while sampling, the three CSR splits and their
 * encoded files (~40 bytes); per user and item, the weights, clusters and row pointers.
 * Callers compare it with their memory budget before generating anything.
 */
export function syntheticBytes(o: Required<SyntheticOptions>): number {
  return o.numUsers * o.meanInteractions * 40 + (o.numUsers + o.numItems) * 64;
}

/** Index of the first cumulative weight > x in cum[from, to) (binary search): a weighted draw for x uniform below the total. */
export function pickCumulative(cum: Float64Array, from: number, to: number, x: number): number {
  let lo = from;
  let hi = to - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Seeded synthetic interactions with a realistic shape: item popularity follows a Zipf
 * law over a random permutation of the items (long tail, popularity not tied to id), user
 * activity is log-normal around the mean, and each user belongs to a taste cluster from
 * which about 80% of their items come, so collaborative filtering has signal to learn.
 * Split per user 80/20 with 10% of training held out for validation (seeded random).
 * Same options, same data (and same content id).
 */
export function syntheticInteractions(opts: SyntheticOptions = {}): InteractionData {
  const o = resolveSyntheticOptions(opts);
  const rng = new Rng(o.seed);
  const itemRng = rng.fork('items');
  const userRng = rng.fork('users');
  const { numUsers, numItems, clusters } = o;

  // item popularity weights by random rank; cluster of each item uniform
  const rank = itemRng.shuffle(Array.from({ length: numItems }, (_, k) => k));
  const weight = new Float64Array(numItems);
  for (let i = 0; i < numItems; i++) weight[i] = 1 / Math.pow(rank[i]! + 1, o.popularityExponent);
  const itemCluster = Int32Array.from({ length: numItems }, () => itemRng.int(clusters));
  // items grouped by cluster with cumulative weights per group, plus a global cumulative
  const byCluster = Array.from({ length: clusters }, () => [] as number[]);
  for (let i = 0; i < numItems; i++) byCluster[itemCluster[i]!]!.push(i);
  const groupItems = new Int32Array(numItems);
  const groupCum = new Float64Array(numItems);
  const groupStart = new Int32Array(clusters + 1);
  let w = 0;
  for (let c = 0; c < clusters; c++) {
    groupStart[c] = w;
    let acc = 0;
    for (const i of byCluster[c]!) {
      acc += weight[i]!;
      groupItems[w] = i;
      groupCum[w++] = acc;
    }
  }
  groupStart[clusters] = w;
  const globalCum = new Float64Array(numItems);
  let acc = 0;
  for (let i = 0; i < numItems; i++) globalCum[i] = acc += weight[i]!;

  const sigma = 0.6;
  const mu = Math.log(o.meanInteractions) - (sigma * sigma) / 2;
  const maxLen = Math.floor(numItems / 2);
  const perUser: Uint32Array[] = [];
  for (let u = 0; u < numUsers; u++) {
    const cluster = userRng.int(clusters);
    const n = Math.min(maxLen, Math.max(5, Math.round(Math.exp(mu + sigma * userRng.normal()))));
    const from = groupStart[cluster]!;
    const to = groupStart[cluster + 1]!;
    const total = to > from ? groupCum[to - 1]! : 0;
    const chosen = new Set<number>();
    let attempts = 0;
    while (chosen.size < n && attempts++ < n * 50) {
      const inCluster = to > from && userRng.next() < 0.8;
      const item = inCluster
        ? groupItems[pickCumulative(groupCum, from, to, userRng.next() * total)]!
        : pickCumulative(globalCum, 0, numItems, userRng.next() * acc);
      chosen.add(item);
    }
    perUser.push(Uint32Array.from(chosen));
  }
  const splits = splitPerUser(perUser, numItems, o, rng.fork('split'));
  const content = { numUsers, numGenuineUsers: numUsers, numItems, ...splits, targetItems: new Uint32Array(0) };
  return { id: datasetIdOf(content), ...content };
}

/** Alias kept for readability in tests: a synthetic dataset is its interactions. */
export const syntheticDataset = syntheticInteractions;
