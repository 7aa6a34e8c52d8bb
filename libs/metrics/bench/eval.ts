/**
 * npm run bench:eval — full-ranking evaluation of all Gowalla users × all items (dim 64,
 * train ∪ valid masked, Recall/NDCG@10/20/50 and T-HR/T-NDCG@50 for 5 targets in the same
 * pass). Embeddings are random N(0, 0.1): the time does not depend on their values.
 */
import { gowallaDir, hostDescription, peakRssBytes, Rng } from '@robustrec/core';
import { parseLightGcn } from '@robustrec/data';
import { dotProductScorer } from '@robustrec/scoring';
import { evaluateRanking } from '../src';

const dir = gowallaDir();
if (!dir) throw new Error('Gowalla not found (set ROBUSTREC_DATASETS_DIR)');
const d = parseLightGcn(dir);
const dim = 64;
const rng = new Rng(2024);
const table = (n: number): Float32Array => Float32Array.from({ length: n * dim }, () => 0.1 * rng.normal());
const scorer = dotProductScorer(table(d.numUsers), table(d.numItems), dim);
const targets = Uint32Array.of(18443, 34868, 29335, 34106, 22009);
console.log(`host: ${hostDescription()}, node ${process.version}`);
for (const threads of [1, 2]) {
  const r = evaluateRanking({ scorer, numGenuineUsers: d.numUsers, exclude: [d.train, d.valid], relevant: d.test, targets, targetExclude: [d.train, d.valid, d.test], ks: [10, 20, 50], threads });
  console.log(`threads ${threads}: ${r.usersEvaluated} users × ${d.numItems} items in ${r.seconds.toFixed(2)} s (recall@20 of random embeddings ${r.metrics['recall@20']!.toFixed(4)})`);
}
console.log(`peak RSS ${(peakRssBytes() / 2 ** 20).toFixed(0)} MB`);
