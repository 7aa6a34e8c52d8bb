/**
 * npm run bench:eval [-- --full-only] [-- --runs N] — full-ranking evaluation of all Gowalla
 * users × all items (dim 64, train ∪ valid masked, Recall/NDCG@10/20/50 and T-HR/T-NDCG@50 for
 * 5 targets in the same pass). Embeddings are random N(0, 0.1), the hardest case for the
 * ranking's filter (no item stands out). For one and two threads: the first evaluation (cold:
 * it starts the ranking helper and packs its kernel), then the median of N more (default 5),
 * what a running evaluator does on every request.
 *
 * Then (2 threads) the scaled evaluations of issue 22: exact evaluations of seeded samples of
 * 3,000 and 6,000 users and a 2-shard run merged with mergeShards, each against the full one,
 * for the random embeddings (time) and for a popularity model (item embedding's first
 * coordinate log(1 + train count), so its metrics and their intervals are not all zero).
 */
import { gowallaDir, hostDescription, peakRssBytes, Rng } from '@robustrec/core';
import { parseLightGcn } from '@robustrec/data';
import { dotProductScorer, type Scorer } from '@robustrec/scoring';
import { evaluateRanking, mergeShards, type RankingInput, type RankingResult } from '../src';

const dir = gowallaDir();
if (!dir) throw new Error('Gowalla not found (set ROBUSTREC_DATASETS_DIR)');
const d = parseLightGcn(dir);
const dim = 64;
const rng = new Rng(2024);
const table = (n: number): Float32Array => Float32Array.from({ length: n * dim }, () => 0.1 * rng.normal());
const scorer = dotProductScorer(table(d.numUsers), table(d.numItems), dim);
const targets = Uint32Array.of(18443, 34868, 29335, 34106, 22009);
const base = { numGenuineUsers: d.numUsers, exclude: [d.train, d.valid], relevant: d.test, targets, targetExclude: [d.train, d.valid, d.test], ks: [10, 20, 50] };
console.log(`host: ${hostDescription()}, node ${process.version}`);
const runsAt = process.argv.indexOf('--runs');
const RUNS = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 5;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
for (const threads of [1, 2]) {
  const times: number[] = [];
  let r: RankingResult | undefined;
  for (let i = 0; i <= RUNS; i++) {
    r = evaluateRanking({ ...base, scorer, threads });
    times.push(r.seconds);
  }
  const [cold, ...warm] = times;
  console.log(
    `threads ${threads}: ${r!.usersEvaluated} users × ${d.numItems} items: first ${cold!.toFixed(2)} s, then median of ${RUNS} ${median(warm).toFixed(2)} s (${warm.map((t) => t.toFixed(2)).join(' / ')}); recall@20 of random embeddings ${r!.metrics['recall@20']!.toFixed(4)}`,
  );
}

/** The popularity ranker as a dot-product model: user (1, 0, ...), item (log(1 + count), tiny noise). */
function popularity(): Scorer {
  const count = new Float64Array(d.numItems);
  for (let q = 0; q < d.train.indptr[d.train.numRows]!; q++) count[d.train.indices[q]!]!++;
  const U = new Float32Array(d.numUsers * dim), V = new Float32Array(d.numItems * dim);
  for (let u = 0; u < d.numUsers; u++) U[u * dim] = 1;
  for (let i = 0; i < d.numItems; i++) V[i * dim] = Math.log1p(count[i]!) + 1e-6 * rng.next();
  return dotProductScorer(U, V, dim);
}

const ci = (r: RankingResult, key = 'recall@20'): string => {
  const s = r.statistics[key]!;
  return `${key} ${s.mean.toFixed(5)} ± ${(s.ciHalfWidth ?? NaN).toFixed(5)} (n ${s.count} of N ${s.population})`;
};
if (!process.argv.includes('--full-only'))
  for (const [name, sc] of [['random', scorer], ['popularity', popularity()]] as const) {
    const input: RankingInput = { ...base, scorer: sc, threads: 2 };
    const full = evaluateRanking(input);
    console.log(`${name}: full ${full.seconds.toFixed(2)} s, ${ci(full)}`);
    for (const sampleUsers of [3000, 6000]) {
      const r = evaluateRanking({ ...input, sample: { sampleUsers, seed: 2024 } });
      const err = Math.abs(r.metrics['recall@20']! - full.metrics['recall@20']!);
      console.log(`${name}: sample ${sampleUsers} (seed 2024) ${r.seconds.toFixed(2)} s, ${ci(r)}; |error| vs full ${err.toFixed(5)}`);
    }
    const shards = [0, 1].map((i) => evaluateRanking({ ...input, sample: { shardIndex: i, shardCount: 2 } }));
    const merged = mergeShards(shards);
    let worst = 0;
    for (const [k, v] of Object.entries(full.metrics)) worst = Math.max(worst, Math.abs(merged.metrics[k]! - v) / Math.max(Math.abs(v), 1e-300));
    console.log(
      `${name}: 2 shards ${shards.map((s) => s.seconds.toFixed(2)).join(' + ')} s (${shards.map((s) => s.sampling.usersRanked).join(' + ')} users), merged ${ci(merged)}; worst relative difference to full ${worst.toExponential(2)}`,
    );
  }
console.log(`peak RSS ${(peakRssBytes() / 2 ** 20).toFixed(0)} MB`);
