import { rowOf } from '@robustrec/core';
import { itemPopularity, itemsByPopularity, lengthSpread, profileLengths, toProfile, topK } from '../common';
import { sampleUsers, scoreRow, surrogateTargetHitRate } from '../surrogate/mf';
import { alsSweep, axpy, gradient, hessianVector, largestCurvature, makeProblem, mixedGradient, type Theta, type WmfProblem } from '../surrogate/wmf';
import type { AttackGenerator } from '../types';

/**
 * Rev attack (Tang, Wen, Wang, RecSys 2020), reference notes §7. Fake data X in [0,1]^{m x C}
 * over a candidate item set C (the targets plus the `candidates` most popular items; 0 = every
 * item), initialised from real users' rows (init_real 0: from small noise only). Each outer
 * round: binarise X (targets + top-x items per fake user, each item's weight x `decay`
 * whenever a fake user takes it), retrain the WMF surrogate on real + binarised fake data
 * (warm-started ALS), score it by surrogate T-HR@50 (keep the best binarised X), unroll
 * `unroll` gradient steps of surrogate training and back-propagate the adversarial loss
 * -mean log softmax(target score) over sampled real users to X (Hessian-vector products by
 * central differences; straight-through at the binarised point), then take a normalised,
 * projected step on X.
 *
 * Defaults measured against the trainer's MF on Gowalla (docs/benchmarks.md): plain top-x
 * binarisation made the fake users near-copies of each other (99–1,066 distinct fillers for
 * 298 profiles) and the attack weaker than Random; restricting candidates to popular items
 * was weaker too. Every item as a candidate and decay 0.7 (4,765 distinct fillers) made Rev
 * 1.7x Random's T-HR@50.
 *
 * Memory: the original unrolls 10 steps through a dense users x items model (~25 GB on
 * Gowalla-size data). Here the all-zeros part of the WMF loss goes through d x d Gram
 * matrices, X lives only over the candidates (m x C float32: ~49 MB with every Gowalla item),
 * and only `unroll` parameter snapshots (each (users + items) x dim float32, ~9 MB at dim 32)
 * are kept: 346 MiB peak RSS for the whole process on Gowalla (docs/benchmarks.md).
 */
export const rev: AttackGenerator = {
  spec: {
    name: 'rev',
    description: 'Rev attack (Tang et al. 2020): unrolled WMF surrogate, gradient on fake data, best by surrogate T-HR@50',
    params: {
      dim: { default: 32, min: 1, max: 256, integer: true, description: 'surrogate WMF dimension' },
      w0: { default: 0.05, min: 0, description: 'WMF weight of the unobserved entries' },
      reg: { default: 1, min: 1e-9, description: 'WMF L2 regularisation' },
      candidates: { default: 0, min: 0, integer: true, description: 'filler candidates, most popular first (0: every item)' },
      rounds: { default: 8, min: 0, max: 1000, integer: true, description: 'outer rounds: retrain the surrogate, step the fake data' },
      init_sweeps: { default: 4, min: 1, max: 100, integer: true, description: 'ALS sweeps of the first surrogate fit' },
      sweeps: { default: 1, min: 1, max: 100, integer: true, description: 'ALS sweeps per round before the unrolled ones' },
      unroll: { default: 3, min: 1, max: 50, integer: true, description: 'unrolled training steps the gradient goes back through' },
      step: { default: 0.5, min: 0, max: 1, description: 'normalised gradient step on the fake data' },
      adv_users: { default: 300, min: 1, integer: true, description: 'genuine users of the adversarial loss' },
      eval_users: { default: 500, min: 1, integer: true, description: 'users of the surrogate T-HR@50 that picks the best round' },
      length_spread: lengthSpread,
      init_real: { default: 1, min: 0, max: 1, integer: true, description: '1: fake data starts from real users\' rows; 0: from random ones' },
      decay: { default: 0.7, min: 0, max: 1, description: 'binarisation: an item\'s weight is multiplied by this each time a fake user takes it' },
    },
    options: {},
  },
  async generate(input) {
    const { train, numItems, targets, numFakeUsers: m, rng, params, onProgress } = input;
    const param = (name: string): number => params[name]!;
    const [dim, rounds, unroll, initSweeps, sweeps, step, decay] = [param('dim'), param('rounds'), param('unroll'), param('init_sweeps'), param('sweeps'), param('step'), param('decay')];
    const initReal = param('init_real') === 1;
    const nG = train.numRows;

    const targetSet = new Set(targets);
    const popularFirst = itemsByPopularity(itemPopularity(train));
    const nCandParam = param('candidates');
    const nCand = nCandParam === 0 ? numItems - targets.length : Math.min(numItems - targets.length, nCandParam);
    const cand = Uint32Array.from([...targets, ...Array.from(popularFirst.filter((i) => !targetSet.has(i)).subarray(0, nCand))]);
    const nc = cand.length;
    const candIndex = new Map<number, number>(Array.from(cand, (i, c) => [i, c]));
    const p: WmfProblem = makeProblem(train, numItems, m, cand, dim, 1, param('w0'), param('reg'));
    const lengths = profileLengths(input, targets.length + 1);

    // X from real users: a random genuine user's candidate items, plus a little noise so that
    // binarisation breaks ties randomly; the targets are fixed at 1
    const initRng = rng.fork('rev-init');
    const X = new Float32Array(m * nc);
    for (let f = 0; f < m; f++) {
      const row = X.subarray(f * nc, (f + 1) * nc);
      for (let c = 0; c < nc; c++) row[c] = 0.05 * initRng.next();
      if (initReal)
        for (const i of rowOf(train, initRng.int(nG))) {
          const c = candIndex.get(i);
          if (c !== undefined) row[c] = 1;
        }
      for (let t = 0; t < targets.length; t++) row[t] = 1;
    }
    // fillers of each fake user: its top entries of X, each candidate's weight x decay every
    // time a fake user takes it (decay 1: plain top-x; < 1 spreads fillers as DP does)
    const binarise = (): Float32Array => {
      const B = new Float32Array(m * nc);
      const weight = new Float32Array(nc - targets.length).fill(1);
      const scored = new Float32Array(nc - targets.length);
      for (let f = 0; f < m; f++) {
        const row = X.subarray(f * nc + targets.length, (f + 1) * nc);
        for (let c = 0; c < scored.length; c++) scored[c] = row[c]! * weight[c]!;
        const fill = topK(scored, lengths[f]! - targets.length);
        for (const c of fill) weight[c]! *= decay;
        for (let t = 0; t < targets.length; t++) B[f * nc + t] = 1;
        for (const c of fill) B[f * nc + targets.length + c] = 1;
      }
      return B;
    };

    const th: Theta = {
      U: Float32Array.from({ length: (nG + m) * dim }, () => initRng.normal() * 0.1),
      V: Float32Array.from({ length: numItems * dim }, () => initRng.normal() * 0.1),
    };
    const evalUsers = sampleUsers(rng.fork('rev-eval'), nG, param('eval_users'));
    const advRng = rng.fork('rev-adv');
    const advN = param('adv_users');
    let best = { thr: -1, B: binarise(), round: -1 };
    let eta = 0;
    let sweepsDone = 0;
    const totalSweeps = initSweeps + rounds * sweeps;

    for (let r = 0; r <= rounds; r++) {
      const B = binarise();
      for (let s = 0; s < (r === 0 ? initSweeps : sweeps); s++) {
        alsSweep(p, th, B);
        await onProgress({ phase: 'surrogate', done: ++sweepsDone, total: totalSweeps, message: `round ${r}` });
      }
      const thr = surrogateTargetHitRate((u, out) => scoreRow(th.U, u, th.V, numItems, dim, out), train, numItems, targets, evalUsers, 50);
      if (thr > best.thr) best = { thr, B, round: r };
      await onProgress({ phase: 'rounds', done: r, total: rounds, message: `surrogate T-HR@50 ${thr.toFixed(4)} (best ${best.thr.toFixed(4)})` });
      if (r === rounds) break;

      if (eta === 0) {
        // a stable unrolled step: 1 / largest curvature of the surrogate loss
        const seed = { U: Float32Array.from(th.U, () => advRng.normal()), V: Float32Array.from(th.V, () => advRng.normal()) };
        eta = 1 / Math.max(1e-9, largestCurvature(p, th, B, 8, seed));
      }
      // unrolled steps theta_{k+1} = theta_k - eta grad(theta_k, B)
      const states: Theta[] = [th];
      for (let k = 0; k < unroll; k++) states.push(axpy(states[k]!, gradient(p, states[k]!, B), -eta));
      let lam = adversarialGradient(states[unroll]!, train, numItems, dim, targets, sampleUsers(advRng, nG, advN));
      const G = new Float32Array(m * nc);
      for (let k = unroll - 1; k >= 0; k--) {
        mixedGradient(p, states[k]!, lam, G, -eta);
        if (k > 0) lam = axpy(lam, hessianVector(p, states[k]!, lam, B), -eta);
        await onProgress({ phase: 'unroll', done: unroll - k, total: unroll, message: `round ${r}` });
      }
      let gmax = 0;
      for (let f = 0; f < m; f++) for (let c = targets.length; c < nc; c++) gmax = Math.max(gmax, Math.abs(G[f * nc + c]!));
      if (gmax > 0)
        for (let f = 0; f < m; f++)
          for (let c = targets.length; c < nc; c++) {
            const q = f * nc + c;
            X[q] = Math.min(1, Math.max(0, X[q]! - (step * G[q]!) / gmax));
          }
    }

    const profiles = Array.from({ length: m }, (_, f) => {
      const items: number[] = [];
      for (let c = 0; c < nc; c++) if (best.B[f * nc + c]) items.push(cand[c]!);
      return toProfile(`${targets[f % targets.length]}_${Math.floor(f / targets.length)}`, items);
    });
    return {
      profiles,
      diagnostics: [
        { name: 'surrogate_t_hr', k: 50, value: best.thr },
        { name: 'best_round', k: 0, value: best.round },
      ],
    };
  },
};

/**
 * Gradient of the adversarial loss mean_{u,t} [-s_ut + logsumexp_i s_ui] (over sampled
 * genuine users and the targets they have not interacted with) with respect to (U, V).
 */
function adversarialGradient(th: Theta, train: import('@robustrec/core').Csr, numItems: number, d: number, targets: number[], users: Uint32Array): Theta {
  const gU = new Float32Array(th.U.length);
  const gV = new Float32Array(th.V.length);
  const s = new Float32Array(numItems);
  const terms: Array<[number, number[]]> = [];
  let count = 0;
  for (const u of users) {
    const seen = rowOf(train, u);
    const ts = targets.filter((t) => !seen.includes(t));
    if (ts.length) terms.push([u, ts]);
    count += ts.length;
  }
  if (!count) return { U: gU, V: gV };
  for (const [u, ts] of terms) {
    scoreRow(th.U, u, th.V, numItems, d, s);
    let mx = -Infinity;
    for (let i = 0; i < numItems; i++) mx = Math.max(mx, s[i]!);
    let z = 0;
    for (let i = 0; i < numItems; i++) z += s[i] = Math.exp(s[i]! - mx);
    const w = ts.length / count;
    const uo = u * d;
    for (let i = 0; i < numItems; i++) {
      const pi = (w * s[i]!) / z;
      const io = i * d;
      for (let k = 0; k < d; k++) {
        gU[uo + k]! += pi * th.V[io + k]!;
        gV[io + k]! += pi * th.U[uo + k]!;
      }
    }
    for (const t of ts)
      for (let k = 0; k < d; k++) {
        gU[uo + k]! -= th.V[t * d + k]! / count;
        gV[t * d + k]! -= th.U[uo + k]! / count;
      }
  }
  return { U: gU, V: gV };
}
