import { checkNumber, csrFromPairs, rowOf, type Csr } from '@robustrec/core';
import { lengthSpread, profileLengths, toProfile } from '../common';
import { DecayedChoice } from '../decayed-choice';
import { Mf, sampleUsers, surrogateTargetHitRate } from '../surrogate/mf';
import type { AttackGenerator } from '../types';

/**
 * DP attack (Huang et al., NDSS 2021), reference notes §7, with an MF-BPR surrogate trained
 * here on the public interactions. Per target, a seed fake user holding only the target is
 * added; a few rounds of (a) one adversarial step per sampled genuine user pushing the
 * target above the user's K-th best score, (b) an L2 step on the seed user's scores,
 * (c) one normal BPR epoch. Fillers of each fake user are then the top items of the seed
 * user's predicted scores times a per-item selection weight that decays (x decay) each time
 * the item is chosen, which spreads fillers across fake users. Fake users are split evenly
 * across targets (their fillers come from that target's seed user); by default every profile
 * holds every target, all_targets = 0 keeps only its own target as in the authors' file.
 */
export const dp: AttackGenerator = {
  spec: {
    name: 'dp',
    description: 'DP attack (Huang et al. 2021): surrogate MF, adversarial rounds, decayed top-score fillers',
    params: {
      dim: { default: 32, min: 1, max: 512, integer: true, description: 'surrogate MF dimension' },
      epochs: { default: 15, min: 0, max: 10_000, integer: true, description: 'surrogate BPR epochs before the adversarial rounds' },
      lr: { default: 0.05, min: 0, description: 'surrogate learning rate' },
      reg: { default: 0.001, min: 0, description: 'surrogate L2 regularisation' },
      rounds: { default: 3, min: 0, max: 1000, integer: true, description: 'adversarial rounds (each followed by one BPR epoch)' },
      sample_users: { default: 1000, min: 1, max: 1e9, integer: true, description: 'genuine users taking an adversarial step per round' },
      top_k: { default: 10, min: 1, integer: true, description: 'K: the target is pushed above each user\'s K-th best score' },
      adv_lr: { default: 0.05, min: 0, description: 'step size of the adversarial steps' },
      l2: { default: 0.01, min: 0, description: 'L2 step on the seed fake user\'s scores' },
      decay: { default: 0.9, min: 0, max: 1, description: 'selection weight of an item is multiplied by this each time a fake user takes it' },
      all_targets: { default: 1, min: 0, max: 1, integer: true, description: '1: every target in every profile; 0: one target per fake user (the authors\' file)' },
      eval_users: { default: 500, min: 1, integer: true, description: 'users of the surrogate T-HR@50 diagnostic' },
      length_spread: lengthSpread,
    },
    options: {},
  },
  async generate(input) {
    const { train, numItems, targets, rng, params, onProgress } = input;
    const p = (name: string): number => params[name]!;
    const [dim, epochs, rounds, lr, reg, advLr, l2, decay] = [p('dim'), p('epochs'), p('rounds'), p('lr'), p('reg'), p('adv_lr'), p('l2'), p('decay')];
    const K = checkNumber('generator.params.top_k', p('top_k'), 1, numItems - 1, true);
    // 1 (default): every target in every profile, which measured stronger than Random (see
    // docs/benchmarks.md); 0: one target per fake user, the layout of the authors' file
    const allTargets = p('all_targets') === 1;
    const numGenuine = train.numRows;

    // genuine rows + one seed fake user per target holding only that target
    const ext = withSeedUsers(train, targets);
    const model = new Mf(ext.numRows, numItems, dim, rng.fork('dp-init'));
    const trainRng = rng.fork('dp-train');
    for (let e = 0; e < epochs; e++) {
      const loss = model.bprEpoch(ext, trainRng, lr, reg);
      await onProgress({ phase: 'surrogate', done: e + 1, total: epochs, message: `bpr loss ${loss.toFixed(4)}` });
    }

    const d = dim;
    const { U, V } = model;
    const scores = new Float32Array(numItems);
    const advRng = rng.fork('dp-adv');
    const sampleN = p('sample_users');
    for (let r = 0; r < rounds; r++) {
      for (const [ti, t] of targets.entries()) {
        const f = numGenuine + ti;
        for (const u of sampleUsers(advRng, numGenuine, sampleN)) {
          const seen = rowOf(train, u);
          if (seen.includes(t)) continue;
          model.scoreAll(u, scores);
          for (const i of seen) scores[i] = -Infinity;
          const kth = kthLargest(scores, K);
          // loss log(1 + exp(s_K - s_t)): pushes the target above the K-th best item
          const g = 1 / (1 + Math.exp(scores[t]! - scores[kth]!));
          const ou = u * d;
          const ot = t * d;
          const ok = kth * d;
          for (let k = 0; k < d; k++) {
            const uk = U[ou + k]!;
            U[ou + k] = uk + advLr * g * (V[ot + k]! - V[ok + k]!);
            V[ot + k] = V[ot + k]! + advLr * g * uk;
            V[ok + k] = V[ok + k]! - advLr * g * uk;
          }
        }
        // L2 step on the seed user's scores: grad of mean_i s_fi^2 wrt u_f is 2 V^T V u_f / I
        model.scoreAll(f, scores);
        const grad = new Float64Array(d);
        for (let i = 0; i < numItems; i++) for (let k = 0; k < d; k++) grad[k]! += scores[i]! * V[i * d + k]!;
        for (let k = 0; k < d; k++) U[f * d + k] = U[f * d + k]! - (advLr * l2 * 2 * grad[k]!) / numItems;
      }
      model.bprEpoch(ext, trainRng, lr, reg);
      await onProgress({ phase: 'adversarial', done: r + 1, total: rounds });
    }

    // fillers: top decayed scores of each target's seed user
    const lengths = profileLengths(input, 2);
    const seedScores = targets.map((_, ti) => Float32Array.from(model.scoreAll(numGenuine + ti, scores)));
    const perTarget = new Array<number>(targets.length).fill(0);
    // targets are never fillers (with one target per fake user, neither are the others);
    // the choice is exact and O(log items) per filler, not a scan of every item per fake user
    const fillers = new DecayedChoice(seedScores, numItems, new Set(targets), decay);
    const profiles = lengths.map((len, f) => {
      const ti = f % targets.length;
      const t = targets[ti]!;
      const sub = perTarget[ti]!++;
      const own = allTargets ? targets : [t];
      const chosen = fillers.take(ti, Math.max(1, len - own.length));
      return toProfile(`fake_user_${t}_subuser_${sub}`, [...own, ...chosen]);
    });
    await onProgress({ phase: 'profiles', done: profiles.length, total: profiles.length });

    const evalUsers = sampleUsers(rng.fork('dp-eval'), numGenuine, p('eval_users'));
    const thr = surrogateTargetHitRate((u, out) => model.scoreAll(u, out), train, numItems, targets, evalUsers, 50);
    return { profiles, diagnostics: [{ name: 'surrogate_t_hr', k: 50, value: thr }] };
  },
};

/** Training rows followed by one row per target holding only that target. */
function withSeedUsers(train: Csr, targets: number[]): Csr {
  const nnz = train.indptr[train.numRows]!;
  const rows = new Uint32Array(nnz + targets.length);
  const cols = new Uint32Array(nnz + targets.length);
  for (let r = 0; r < train.numRows; r++) rows.fill(r, train.indptr[r]!, train.indptr[r + 1]!);
  cols.set(train.indices);
  targets.forEach((t, i) => {
    rows[nnz + i] = train.numRows + i;
    cols[nnz + i] = t;
  });
  return csrFromPairs(train.numRows + targets.length, train.numCols, rows, cols);
}

/** Index of the K-th largest score (a K-slot insertion buffer; K is small). */
function kthLargest(s: Float32Array, K: number): number {
  const idx = new Int32Array(K).fill(-1);
  const val = new Float32Array(K).fill(-Infinity);
  for (let i = 0; i < s.length; i++) {
    const x = s[i]!;
    if (x <= val[K - 1]!) continue;
    let p = K - 1;
    while (p > 0 && val[p - 1]! < x) {
      val[p] = val[p - 1]!;
      idx[p] = idx[p - 1]!;
      p--;
    }
    val[p] = x;
    idx[p] = i;
  }
  return idx[K - 1]! >= 0 ? idx[K - 1]! : idx[0]!;
}
