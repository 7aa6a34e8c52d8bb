import type { DefenseDef } from '../types';

/**
 * SharpCF (Chen et al., RecSys 2023), no official code; choices documented here:
 * loss = BPR + λ/|B|·Σ_b (ŝ⁺_t(b) − ŝ⁺_{t−W}(b))², ŝ⁺ the score of the triple's (user, positive)
 * training pair; ŝ⁺_{t−W} is that pair's score at the end of epoch t−W (snapshots of all
 * training pairs taken at each epoch end, kept W deep), so the term starts at epoch W (and
 * not before warmup_epochs). The gradient flows through the current score only.
 */
export const sharpcf: DefenseDef = {
  name: 'sharpcf',
  description: 'SharpCF: BPR + trajectory loss keeping positive scores close to those W epochs earlier',
  params: {
    lambda: { default: 1, min: 0, description: 'weight λ of the trajectory loss' },
    window_epochs: { default: 3, min: 1, max: 50, integer: true, description: 'W: epochs back to the reference scores' },
    warmup_epochs: { default: 0, min: 0, integer: true, description: 'extra epochs before the term (it needs W snapshots anyway)' },
  },
  options: {},
  create({ params, train }) {
    const W = params.window_epochs;
    const nnz = train.indptr[train.numRows];
    const snaps = Array.from({ length: W }, () => new Float32Array(nnz));
    const pairUsers = new Uint32Array(nnz);
    for (let u = 0; u < train.numRows; u++) pairUsers.fill(u, train.indptr[u], train.indptr[u + 1]);
    return {
      apply(s) {
        const t = s.epoch;
        if (t < W || t < params.warmup_epochs) return 0;
        const old = snaps[t % W];
        const n = s.batch.n;
        const ds = s.scratchN[0].subarray(0, n);
        let loss = 0;
        for (let b = 0; b < n; b++) {
          const diff = s.posScores[b] - old[s.batch.posIdx[b]];
          loss += diff * diff;
          ds[b] = (2 * params.lambda * diff) / n;
        }
        s.head.scoreBackward(s.eu, s.ei, n, ds, s.gu, s.gi);
        return (params.lambda * loss) / n;
      },
      onEpochEnd({ epoch, backbone }) {
        const { users, items } = backbone.finalEmbeddings();
        const w = backbone.width;
        const snap = snaps[epoch % W];
        const CH = 4096;
        const eu = new Float32Array(CH * w);
        const ei = new Float32Array(CH * w);
        const out = new Float32Array(CH);
        for (let p0 = 0; p0 < nnz; p0 += CH) {
          const n = Math.min(CH, nnz - p0);
          for (let q = 0; q < n; q++) {
            const u = pairUsers[p0 + q];
            const i = train.indices[p0 + q];
            eu.set(users.subarray(u * w, (u + 1) * w), q * w);
            ei.set(items.subarray(i * w, (i + 1) * w), q * w);
          }
          backbone.head.score(eu, ei, n, out);
          snap.set(out.subarray(0, n), p0);
        }
      },
      tensors: () => Object.fromEntries(snaps.map((s, k) => [`sharpcf.snapshot${k}`, s])),
      restore(t) {
        snaps.forEach((s, k) => {
          const src = t[`sharpcf.snapshot${k}`];
          if (src) s.set(src);
        });
      },
    };
  },
};
