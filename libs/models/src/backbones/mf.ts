import { ParamTable, gatherRows, l2Local } from '@robustrec/engine';
import type { Backbone, BackboneDef } from '../types';
import { dotHead, dotScorer, initNormal } from './dot';

/** Matrix factorisation: s(u,i) = <U_u, V_i>. */
export const mf: BackboneDef = {
  name: 'mf',
  description: 'Matrix factorisation, dot-product score, BPR (the paper\'s main backbone)',
  params: {},
  options: {},
  create(ctx): Backbone {
    const w = ctx.dim;
    const U = new ParamTable('user_embedding', ctx.numUsers, w);
    const V = new ParamTable('item_embedding', ctx.numItems, w);
    initNormal(U, ctx.rng, ctx.initStd);
    initNormal(V, ctx.rng, ctx.initStd);
    return {
      tables: [U, V],
      width: w,
      head: dotHead(w),
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
      exportTensors: () => ({
        user_embedding: { shape: [ctx.numUsers, w], data: U.data.slice() },
        item_embedding: { shape: [ctx.numItems, w], data: V.data.slice() },
      }),
    };
  },
  createScorer: dotScorer,
};
