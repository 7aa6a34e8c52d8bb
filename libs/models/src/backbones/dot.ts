import { bprDot, gatherRows, l2Local, rowDots, type ParamTable } from '@robustrec/engine';
import type { Rng } from '@robustrec/core';
import type { Backbone, Head, ScorerCore } from '../types';

/** Dot-product scoring through the fused kernels. */
export function dotHead(width: number): Head {
  return {
    bpr: (eu, ei, ej, n, weight, gu, gi, gj, perRow, posScores) => bprDot(eu, ei, ej, n, width, weight, gu, gi, gj, perRow, posScores),
    score: (eu, ei, n, out) => rowDots(eu, ei, n, width, out),
    scoreBackward: (eu, ei, n, ds, gu, gi) => {
      for (let b = 0; b < n; b++) {
        const o = b * width;
        const d = ds[b];
        for (let k = 0; k < width; k++) {
          gu[o + k] += d * ei[o + k];
          gi[o + k] += d * eu[o + k];
        }
      }
    },
  };
}

export function initNormal(t: ParamTable, rng: Rng, std: number): void {
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal() * std;
}

/** Full-ranking scorer of dot-product models: out[b, i] = <U[users[b]], V[i]>. */
export function dotScorer(tensors: Record<string, { shape: number[]; data: Float32Array }>): ScorerCore {
  const u = tensors.user_embedding;
  const v = tensors.item_embedding;
  if (!u || !v) throw new Error('dot-product model needs user_embedding and item_embedding tensors');
  const [numUsers, w] = u.shape as [number, number];
  const numItems = v.shape[0];
  const U = u.data;
  const V = v.data;
  return {
    numUsers,
    numItems,
    scoreUsers(users, out) {
      // 2 users × 4 items per inner loop: 6 loads feed 8 multiply-adds (a plain dot needs 2 per 1)
      const nb = users.length;
      const IB = 128;
      for (let i0 = 0; i0 < numItems; i0 += IB) {
        const i1 = Math.min(numItems, i0 + IB);
        for (let b = 0; b < nb; b += 2) {
          const two = b + 1 < nb;
          const u0 = users[b] * w;
          const u1 = two ? users[b + 1] * w : u0;
          const o0 = b * numItems;
          const o1 = o0 + numItems;
          let i = i0;
          for (; i + 3 < i1; i += 4) {
            const v0 = i * w, v1 = v0 + w, v2 = v1 + w, v3 = v2 + w;
            let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
            for (let k = 0; k < w; k++) {
              const a0 = U[u0 + k], a1 = U[u1 + k];
              const x0 = V[v0 + k], x1 = V[v1 + k], x2 = V[v2 + k], x3 = V[v3 + k];
              s00 += a0 * x0; s01 += a0 * x1; s02 += a0 * x2; s03 += a0 * x3;
              s10 += a1 * x0; s11 += a1 * x1; s12 += a1 * x2; s13 += a1 * x3;
            }
            out[o0 + i] = s00; out[o0 + i + 1] = s01; out[o0 + i + 2] = s02; out[o0 + i + 3] = s03;
            if (two) { out[o1 + i] = s10; out[o1 + i + 1] = s11; out[o1 + i + 2] = s12; out[o1 + i + 3] = s13; }
          }
          for (; i < i1; i++) {
            const vo = i * w;
            let s0 = 0, s1 = 0;
            for (let k = 0; k < w; k++) { s0 += U[u0 + k] * V[vo + k]; s1 += U[u1 + k] * V[vo + k]; }
            out[o0 + i] = s0;
            if (two) out[o1 + i] = s1;
          }
        }
      }
    },
  };
}

/**
 * Batch rows that are plain rows of the user/item tables (MF, NeuMF): gather, scatter the
 * gradients back, and the L2 term on the gathered (ego) rows.
 */
export function egoRows(U: ParamTable, V: ParamTable, w: number): Pick<Backbone, 'forward' | 'backward' | 'regularize' | 'finalEmbeddings'> {
  return {
    forward(b, eu, ei, ej) {
      gatherRows(U.data, w, b.users, b.n, eu);
      gatherRows(V.data, w, b.pos, b.n, ei);
      gatherRows(V.data, w, b.neg, b.n, ej);
    },
    backward(b, gu, gi, gj) {
      U.accumulate(b.users, b.n, gu);
      V.accumulate(b.pos, b.n, gi);
      V.accumulate(b.neg, b.n, gj);
    },
    // the gathered rows are the ego rows: the L2 gradient joins the batch-local one
    regularize(b, l2, eu, ei, ej, gu, gi, gj) {
      return l2Local(eu, gu, b.n, w, l2) + l2Local(ei, gi, b.n, w, l2) + l2Local(ej, gj, b.n, w, l2);
    },
    finalEmbeddings: () => ({ users: U.data, items: V.data }),
  };
}
