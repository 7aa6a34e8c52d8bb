import { rowDots, sumTo, type ParamTable } from '@robustrec/engine';
import type { Rng } from '@robustrec/core';
import { dotProductScorer, type Scorer } from '@robustrec/scoring';
import type { Backbone, BackboneContext, Head } from '../types';

/** Grows a per-row scratch in the trainer's arena to at least n rows. */
function rowScratch<T extends Float64Array | Float32Array>(alloc: (n: number) => T): (n: number) => T {
  let a = alloc(0);
  return (n) => (a.length >= n ? a : (a = alloc(n)));
}

/** Dot-product scoring through the fused kernels; the BPR pass runs on the step's row runner. */
export function dotHead(width: number, ctx: Pick<BackboneContext, 'rows' | 'arena'>): Head {
  const { rows, arena } = ctx;
  const scratch = rowScratch((n) => arena.f64(n));
  // sp, sn and the coefficients of the wasm BPR kernel (3 per row)
  const tmp = rowScratch((n) => arena.f32(3 * n));
  // rowWeights only (GraphRfi): the unweighted row gradients, before they are scaled into gu/gi/gj
  const wgrad = rowScratch((n) => arena.f32(3 * n));
  return {
    bpr(eu, ei, ej, n, weight, gu, gi, gj, perRow, posScores, rowWeights) {
      const loss = scratch(n);
      const t = tmp(n);
      const m = width * n;
      const wg = rowWeights ? wgrad(m).subarray(0, 3 * m).fill(0) : undefined;
      const [du, di, dj] = wg ? [wg.subarray(0, m), wg.subarray(m, 2 * m), wg.subarray(2 * m)] : [gu, gi, gj];
      rows.run([{ op: 'bpr', eu, ei, ej, width, scale: weight / n, gu: du, gi: di, gj: dj, loss, posScores, tmp: t.length === 3 * n ? t : t.subarray(0, 3 * n) }], n);
      if (perRow) for (let b = 0; b < n; b++) perRow[b] = loss[b];
      if (!rowWeights) return sumTo(loss, n) / n;
      // triple b's rows depend on triple b only: w_b·(its unweighted gradient) is the weighted loss's
      let s = 0;
      for (let b = 0; b < n; b++) {
        const c = rowWeights[b];
        s += c * loss[b];
        for (let k = b * width, end = k + width; k < end; k++) {
          gu[k] += c * du[k];
          gi[k] += c * di[k];
          gj[k] += c * dj[k];
        }
      }
      return s / n;
    },
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
export function dotScorer(tensors: Record<string, { shape: number[]; data: Float32Array }>): Scorer {
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
export function egoRows(U: ParamTable, V: ParamTable, w: number, ctx: Pick<BackboneContext, 'rows' | 'arena' | 'step'>): Pick<Backbone, 'forward' | 'backward' | 'regularize' | 'finalEmbeddings'> {
  const { rows, arena, step } = ctx;
  const scratch = rowScratch((n) => arena.f64(n));
  return {
    forward(b, eu, ei, ej) {
      rows.run(
        [
          { op: 'gather', table: U.data, width: w, rows: b.users, out: eu },
          { op: 'gather', table: V.data, width: w, rows: b.pos, out: ei },
          { op: 'gather', table: V.data, width: w, rows: b.neg, out: ej },
        ],
        b.n,
      );
    },
    backward(b, gu, gi, gj) {
      U.accumulate(b.users, b.n, gu, 1, step);
      V.accumulate(b.pos, b.n, gi, 1, step);
      V.accumulate(b.neg, b.n, gj, 1, step);
    },
    // the gathered rows are the ego rows: the L2 gradient joins the batch-local one
    regularize(b, l2, eu, ei, ej, gu, gi, gj) {
      const n = b.n;
      const sums = scratch(3 * n);
      const c = (2 * l2) / n;
      const [su, si, sj] = [0, 1, 2].map((k) => sums.subarray(k * n, (k + 1) * n));
      rows.run(
        [
          { op: 'l2', x: eu, g: gu, width: w, c, sums: su! },
          { op: 'l2', x: ei, g: gi, width: w, c, sums: si! },
          { op: 'l2', x: ej, g: gj, width: w, c, sums: sj! },
        ],
        n,
      );
      return (l2 * sumTo(su!, n)) / n + (l2 * sumTo(si!, n)) / n + (l2 * sumTo(sj!, n)) / n;
    },
    finalEmbeddings: () => ({ users: U.data, items: V.data }),
  };
}
