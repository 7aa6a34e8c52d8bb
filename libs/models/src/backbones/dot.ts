import { bprDot, l2Local, rowDots, type ParamTable } from '@robustrec/engine';
import type { Rng } from '@robustrec/core';
import { dotProductScorer } from '@robustrec/metrics';
import type { Backbone, BackboneContext, Head, ScorerCore } from '../types';

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

/**
 * Full-ranking scorer of dot-product models: out[b, i] = <U[users[b]], V[i]>. It is the
 * metrics library's SIMD scorer, so evaluation and serving take its fast parallel path.
 */
export function dotScorer(tensors: Record<string, { shape: number[]; data: Float32Array }>): ScorerCore {
  const u = tensors.user_embedding;
  const v = tensors.item_embedding;
  if (!u || !v) throw new Error('dot-product model needs user_embedding and item_embedding tensors');
  if (u.shape[1] !== v.shape[1]) throw new Error(`user/item embedding widths differ: ${u.shape[1]} vs ${v.shape[1]}`);
  return dotProductScorer(u.data, v.data, u.shape[1]!);
}

/**
 * Batch rows that are plain rows of the user/item tables (MF, NeuMF): gather, scatter the
 * gradients back, and the L2 term on the gathered (ego) rows.
 */
export function egoRows(U: ParamTable, V: ParamTable, w: number, gather: BackboneContext['gather']): Pick<Backbone, 'forward' | 'backward' | 'regularize' | 'finalEmbeddings'> {
  return {
    forward(b, eu, ei, ej) {
      gather([
        { table: U.data, width: w, rows: b.users, n: b.n, out: eu },
        { table: V.data, width: w, rows: b.pos, n: b.n, out: ei },
        { table: V.data, width: w, rows: b.neg, n: b.n, out: ej },
      ]);
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
