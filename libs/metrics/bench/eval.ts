import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gowallaDir, hostDescription, peakRssBytes, Rng } from '@robustrec/core';
import { parseLightGcn } from '@robustrec/data';
import { dotProductScorer, evaluateRanking, type RankingResult } from '../src/index';

// npm run bench:eval — full-ranking evaluation of all Gowalla users × all items (dim 64):
// Recall/NDCG@10/20/50 on test (train + valid masked) and T-HR/T-NDCG@10/20/50 for the
// authors' 5 random-attack targets, in one pass. Embeddings are random N(0, 0.1) (the time
// does not depend on the values); the masks are the real Gowalla splits.
const dir = gowallaDir();
if (!dir) {
  console.error('Gowalla not found: set ROBUSTREC_DATASETS_DIR to a directory holding gowalla/train.txt');
  process.exit(1);
}
const dim = 64;
const d = parseLightGcn(dir);
const rng = new Rng(2024);
const userEmb = Float32Array.from({ length: d.numUsers * dim }, () => rng.normal() * 0.1);
const itemEmb = Float32Array.from({ length: d.numItems * dim }, () => rng.normal() * 0.1);
const attack = JSON.parse(readFileSync(join(dir, 'attacks', 'random.json'), 'utf8')) as { target_items: string[] };
const targets = Uint32Array.from(attack.target_items.map(Number));
const scorer = dotProductScorer(userEmb, itemEmb, dim);
const input = { scorer, numGenuineUsers: d.numUsers, exclude: [d.train, d.valid], relevant: d.test, targets, targetExclude: [d.train, d.valid, d.test], ks: [10, 20, 50] };

const show = (label: string, r: RankingResult): void =>
  console.log(`${label}: ${r.seconds.toFixed(2)} s  (users ranked ${d.numUsers}, with test items ${r.usersEvaluated}; recall@20 ${r.metrics['recall@20']!.toFixed(5)}, t_hr@50 ${r.metrics['t_hr@50']!.toFixed(5)})`);

console.log(`host: ${hostDescription()}, node ${process.version}`);
console.log(`Gowalla ${d.numUsers} users × ${d.numItems} items, dim ${dim}, random N(0,0.1) embeddings, ${targets.length} targets, k = 10/20/50`);
const cold = evaluateRanking({ ...input, threads: 2 });
show('2 threads, first run (starts workers, packs tables)', cold);
const warm = evaluateRanking({ ...input, threads: 2 });
show('2 threads, second run', warm);
const single = evaluateRanking({ ...input, threads: 1 });
show('1 thread', single);
const same = JSON.stringify(warm.metrics) === JSON.stringify(single.metrics) && JSON.stringify(cold.metrics) === JSON.stringify(warm.metrics);
console.log(`identical metrics across runs and thread counts: ${same}`);
console.log(`peak RSS: ${(peakRssBytes() / 2 ** 20).toFixed(0)} MB`);
if (!same) process.exit(1);
