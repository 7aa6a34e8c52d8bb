import { ParamTable } from '@robustrec/engine';
import type { Backbone, BackboneDef } from '../types';
import { dotHead, dotScorer, egoRows, initNormal } from './dot';

/** Matrix factorisation: s(u,i) = <U_u, V_i>. */
export const mf: BackboneDef = {
  name: 'mf',
  description: 'Matrix factorisation, dot-product score, BPR (the paper\'s main backbone)',
  params: {},
  options: {},
  create(ctx): Backbone {
    const w = ctx.dim;
    const U = new ParamTable('user_embedding', ctx.numUsers, w, ctx.arena.tableArrays(ctx.numUsers, w));
    const V = new ParamTable('item_embedding', ctx.numItems, w, ctx.arena.tableArrays(ctx.numItems, w));
    initNormal(U, ctx.rng, ctx.initStd);
    initNormal(V, ctx.rng, ctx.initStd);
    return {
      tables: [U, V],
      width: w,
      head: dotHead(w, ctx),
      ...egoRows(U, V, w, ctx),
      exportTensors: () => ({
        user_embedding: { shape: [ctx.numUsers, w], data: U.data.slice() },
        item_embedding: { shape: [ctx.numItems, w], data: V.data.slice() },
      }),
    };
  },
  createScorer: dotScorer,
};
