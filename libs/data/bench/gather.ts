/**
 * npm run bench:gather [-- --sizes 1e6,5e6,20e6,100e6] [--steps 400]
 *
 * What one training step's memory traffic costs as the tables grow, with the work fixed: per
 * step, the rows of a BPR batch (2048 users, 2048 positives, 2048 negatives; users uniform,
 * items by the bench:scale Zipf 0.62 popularity) are read from dim-64 f32 tables of the users
 * and items bench:scale has at N interactions (users N / 34.4, items N / 25.1), summed, and
 * written back (a gradient-sized read-modify-write). Prints ns per row. The same loop at every
 * size, so any growth is the memory hierarchy (caches, TLB), not the algorithm.
 */
import { parseArgs } from 'node:util';
import { Rng } from '@robustrec/core';
import { pickCumulative } from '@robustrec/data';
import { scaleShape, ZIPF } from './scale-data';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1e6,5e6,20e6,100e6' }, steps: { type: 'string', default: '400' } } });
const DIM = 64;
const BATCH = 2048;
const steps = Number(values.steps);
console.log(`bench:gather: ${steps} steps of ${BATCH} × 3 rows, dim ${DIM}, per size (tables as bench:scale's)`);
for (const n of values.sizes!.split(',').map(Number)) {
  const { numUsers: users, numItems: items } = scaleShape(n);
  const U = new Float32Array(new SharedArrayBuffer(users * DIM * 4));
  const V = new Float32Array(new SharedArrayBuffer(items * DIM * 4));
  U.fill(0.01);
  V.fill(0.01);
  // item draws by popularity rank^-ZIPF (inverse CDF on a cumulative table), ids shuffled
  const rng = new Rng(2024);
  const cum = new Float64Array(items);
  for (let i = 0, s = 0; i < items; i++) cum[i] = s += (i + 1) ** -ZIPF;
  const perm = rng.shuffle(Uint32Array.from({ length: items }, (_, i) => i));
  const drawItem = (): number => perm[pickCumulative(cum, 0, items, rng.next() * cum[items - 1]!)]!;
  const rows = Array.from({ length: steps }, () => {
    const b = new Uint32Array(3 * BATCH);
    for (let k = 0; k < BATCH; k++) {
      b[3 * k] = rng.int(users);
      b[3 * k + 1] = drawItem();
      b[3 * k + 2] = drawItem();
    }
    return b;
  });
  const acc = new Float32Array(DIM);
  const run = (): number => {
    const t0 = performance.now();
    for (const b of rows)
      for (let k = 0; k < b.length; k++) {
        const T = k % 3 === 0 ? U : V;
        const o = b[k]! * DIM;
        for (let d = 0; d < DIM; d++) {
          acc[d] += T[o + d]!;
          T[o + d] = T[o + d]! * 0.999;
        }
      }
    return performance.now() - t0;
  };
  run(); // warm-up (JIT, page faults)
  const ms = Math.min(run(), run(), run());
  console.log(`${(n / 1e6).toFixed(0).padStart(4)}M  users ${users}, items ${items}, tables ${(((users + items) * DIM * 4) / 2 ** 30).toFixed(2)} GiB: ${((ms * 1e6) / (steps * 3 * BATCH)).toFixed(1)} ns per row, ${(ms / steps).toFixed(2)} ms per step (best of 3)`);
}
