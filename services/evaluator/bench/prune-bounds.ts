/**
 * npm run bench:prune-bounds -- --home H [--models NAME,NAME] [--users 500] [--clusters 256]
 *
 * Would exact top-k serving get faster by skipping items a bound rules out? For trained models
 * in an evaluator registry (home H, version 1 of each name), the fraction of the item table an
 * exact top-20 must still score under two classic bounds, over a deterministic sample of users:
 * - norm bound: u·v ≤ |u|·|v|, items by decreasing norm, stop once |u|·|v| < the 20th score;
 * - ball bound: items in k-means clusters (Lloyd, 8 rounds) of centre c and radius r, u·v ≤ u·c + |u|·r.
 * A fraction near 1 means the bound saves nothing: the 16-bit kernel's full pass is the floor.
 */
import { parseArgs } from 'node:util';
import { ModelRegistry } from '../src/registry';

const { values } = parseArgs({
  options: { home: { type: 'string' }, models: { type: 'string', default: 'gowalla-roster/MF,gowalla-roster/PamaCF' }, users: { type: 'string', default: '500' }, clusters: { type: 'string', default: '256' } },
});
if (!values.home) {
  console.error('usage: npm run bench:prune-bounds -- --home H [--models NAME,NAME] [--users 500] [--clusters 256]');
  process.exit(2);
}
const sampleUsers = Number(values.users);
const C = Number(values.clusters);
const K = 20;
const registry = new ModelRegistry(values.home);

const dot = (a: Float32Array | Float64Array, i: number, b: Float32Array | Float64Array, j: number, dim: number): number => {
  let s = 0;
  for (let k = 0; k < dim; k++) s += a[i * dim + k]! * b[j * dim + k]!;
  return s;
};
const summary = (f: number[]): string => {
  f.sort((a, b) => a - b);
  const q = (p: number): string => f[Math.min(f.length - 1, Math.floor(p * f.length))]!.toFixed(3);
  return `mean ${(f.reduce((a, b) => a + b, 0) / f.length).toFixed(3)}, median ${q(0.5)}, p90 ${q(0.9)}`;
};

console.log(`bench:prune-bounds: ${sampleUsers} users per model, top-${K}, ${C} clusters; registry ${values.home}`);
for (const name of values.models!.split(',')) {
  const model = registry.get({ id: '', name, version: 1, alias: '' });
  const t = registry.load(model);
  const U = t.tensors.user_embedding!.data;
  const V = t.tensors.item_embedding!.data;
  const dim = t.tensors.user_embedding!.shape[1]!;
  const nU = U.length / dim;
  const nI = V.length / dim;
  const norms = Float64Array.from({ length: nI }, (_, i) => Math.sqrt(dot(V, i, V, i, dim))).sort().reverse();
  // k-means on the items (seeded by spread-out rows)
  const cen = new Float64Array(C * dim);
  for (let c = 0; c < C; c++) cen.set(V.subarray(((c * 104729) % nI) * dim, ((c * 104729) % nI) * dim + dim), c * dim);
  const asg = new Int32Array(nI);
  const cnt = new Int32Array(C);
  for (let round = 0; round < 8; round++) {
    for (let i = 0; i < nI; i++) {
      let best = Infinity;
      for (let c = 0; c < C; c++) {
        let d = 0;
        for (let k = 0; k < dim; k++) d += (V[i * dim + k]! - cen[c * dim + k]!) ** 2;
        if (d < best) [best, asg[i]] = [d, c];
      }
    }
    cen.fill(0);
    cnt.fill(0);
    for (let i = 0; i < nI; i++) {
      cnt[asg[i]!]!++;
      for (let k = 0; k < dim; k++) cen[asg[i]! * dim + k] += V[i * dim + k]!;
    }
    for (let c = 0; c < C; c++) for (let k = 0; k < dim; k++) cen[c * dim + k] /= Math.max(1, cnt[c]!);
  }
  const radius = new Float64Array(C);
  for (let i = 0; i < nI; i++) {
    let d = 0;
    for (let k = 0; k < dim; k++) d += (V[i * dim + k]! - cen[asg[i]! * dim + k]!) ** 2;
    radius[asg[i]!] = Math.max(radius[asg[i]!]!, Math.sqrt(d));
  }
  const byNorm: number[] = [];
  const byBall: number[] = [];
  const scores = new Float64Array(nI);
  for (let s = 0; s < sampleUsers; s++) {
    const u = (s * 7919) % nU;
    const un = Math.sqrt(dot(U, u, U, u, dim));
    for (let i = 0; i < nI; i++) scores[i] = dot(U, u, V, i, dim);
    const kth = Float64Array.from(scores).sort()[nI - K]!;
    let lo = 0;
    let hi = nI;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (un * norms[mid]! >= kth) lo = mid + 1;
      else hi = mid;
    }
    byNorm.push(lo / nI);
    let scanned = 0;
    for (let c = 0; c < C; c++) if (dot(U, u, cen, c, dim) + un * radius[c]! >= kth) scanned += cnt[c]!;
    byBall.push(scanned / nI);
  }
  console.log(`${name} (${model.defense}, ${nU} users × ${nI} items, dim ${dim}): fraction of items still scored — norm bound ${summary(byNorm)}; ball bound ${summary(byBall)}`);
}
registry.close();
