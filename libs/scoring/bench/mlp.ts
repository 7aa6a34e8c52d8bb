/**
 * npm run bench:mlp [-- --users N] — NeuMF's full-ranking scores (mlp.wat) of one user against
 * Gowalla's 40,981 items at dim 64 (h2 32), the evaluator's cost per user: four items at a
 * time (dense second layer, what the evaluator runs) against item by item over the active
 * units, alternating, three rounds of N users (default 30) each. Weights N(0, 0.5)-ish uniform,
 * so about half the first-layer units are active, as in a trained model. Checks that both give
 * bit-identical scores. Then the evaluator's path: a NeuMF scorer (neumfScorer) ranking the top
 * 50 of 1,024 users (--rank-users N) on the ranking pool's helpers, 1 and 2 threads (the helper
 * rebuilds the scorer from its portable spec on the first task, kept after; the first run
 * includes that).
 */
import { hostDescription, Rng } from '@robustrec/core';
import { MlpKernel, neumfScorer, RankPool } from '../src';

const numItems = 40981, d = 64, h2 = 32, w = 2 * d;
const at = process.argv.indexOf('--users');
const users = at > 0 ? Number(process.argv[at + 1]) : 30;
const rng = new Rng(2024);
const table = (n: number): Float32Array => Float32Array.from({ length: n }, () => 0.2 * rng.normal());
const V = table(numItems * w), W2 = table(d * h2), b2 = table(h2), ho = table(h2), part = table(numItems * d);
const kernels = { 'four at a time': new MlpKernel(numItems, d, h2, V, w, W2, b2, ho, true), 'item by item': new MlpKernel(numItems, d, h2, V, w, W2, b2, ho, false) };
for (const k of Object.values(kernels)) k.part.set(part);
const hu = table(d), a = table(d);
const outs = Object.values(kernels).map((k) => {
  const out = new Float32Array(numItems);
  k.scoreUser(hu, a, out);
  return out;
});
const same = Buffer.from(outs[0]!.buffer).equals(Buffer.from(outs[1]!.buffer));
console.log(`host: ${hostDescription()}, node ${process.version}; ${numItems} items, dim ${d}; scores bit-identical: ${same}`);
const out = new Float32Array(numItems);
for (let round = 1; round <= 3; round++)
  for (const [name, k] of Object.entries(kernels)) {
    const t0 = performance.now();
    for (let u = 0; u < users; u++) k.scoreUser(hu, a, out);
    const ms = (performance.now() - t0) / users;
    console.log(`round ${round} ${name.padEnd(15)} ${ms.toFixed(2)} ms/user (${((ms * 29858) / 60000).toFixed(1)} min for Gowalla's 29,858 users on one thread)`);
  }

const ru = process.argv.indexOf('--rank-users');
const rankUsers = ru > 0 ? Number(process.argv[ru + 1]) : 1024;
const numUsers = rankUsers;
const scorer = neumfScorer({ numUsers, numItems, width: w, U: table(numUsers * w), V, W1: table(w * d), b1: table(d), W2, b2, h: table(d + h2) });
const pool = new RankPool();
// the helpers and their answers do not keep a process alive (a service's server does)
const alive = setInterval(() => undefined, 1000);
const k = 50;
const list = new Uint32Array(new SharedArrayBuffer(4 * numUsers)).map((_, i) => i);
for (const threads of [1, 2])
  for (const run of ['first', 'again']) {
    const top = new Int32Array(new SharedArrayBuffer(4 * numUsers * k));
    const t0 = performance.now();
    await pool.runAsync({ scorer: scorer.portable(), numItems, masks: [], users: list, k, top }, numUsers, threads);
    const ms = (performance.now() - t0) / numUsers;
    console.log(`pool ${threads} thread(s), ${run.padEnd(5)} ${ms.toFixed(2)} ms/user ranked (${((ms * 29858) / 60000).toFixed(1)} min for Gowalla's users)`);
  }
await pool.close();
clearInterval(alive);
if (!same) process.exitCode = 1;
