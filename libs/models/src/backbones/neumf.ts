import { invalidArgument } from '@robustrec/core';
import { ParamTable, backendInfo, tf } from '@robustrec/engine';
import type { Scorer } from '@robustrec/scoring';
import type { Backbone, BackboneDef, Head } from '../types';
import { egoRows, initNormal } from './dot';

/**
 * NeuMF: ŷ = hᵀ[p_u ⊙ q_i ; MLP([p'_u ; q'_i])], trained with BPR on ŷ (pre-sigmoid). Each
 * user/item row holds [p ; p'] (width 2·dim). MLP: 2·dim → dim → dim/2, ReLU. The embedding
 * rows go through the fused gather/scatter kernels; the small MLP head runs on tfjs with
 * autodiff (it is not a dot product, so no fused kernel). Defenses perturb the [p ; p'] rows.
 */
interface Mlp {
  W1: ParamTable; // [2·dim × dim]
  b1: ParamTable; // [1 × dim]
  W2: ParamTable; // [dim × dim/2]
  b2: ParamTable; // [1 × dim/2]
  h: ParamTable; // [1 × dim + dim/2]
}

function scoreT(eu: tf.Tensor2D, ei: tf.Tensor2D, d: number, W1: tf.Tensor2D, b1: tf.Tensor1D, W2: tf.Tensor2D, b2: tf.Tensor1D, h: tf.Tensor1D): tf.Tensor1D {
  const [pu, pu2] = tf.split(eu, [d, d], 1);
  const [qi, qi2] = tf.split(ei, [d, d], 1);
  const gmf = tf.mul(pu, qi);
  const z1 = tf.relu(tf.add(tf.matMul(tf.concat([pu2, qi2], 1), W1), b1));
  const z2 = tf.relu(tf.add(tf.matMul(z1, W2), b2));
  return tf.sum(tf.mul(tf.concat([gmf, z2], 1), h), 1) as tf.Tensor1D;
}

function neumfHead(d: number, m: Mlp): Head {
  const w = 2 * d;
  const h2 = d >> 1;
  const params = (): tf.Tensor[] => [
    tf.tensor2d(m.W1.data, [w, d]),
    tf.tensor1d(m.b1.data),
    tf.tensor2d(m.W2.data, [d, h2]),
    tf.tensor1d(m.b2.data),
    tf.tensor1d(m.h.data),
  ];
  const tables = [m.W1, m.b1, m.W2, m.b2, m.h];
  const addInto = (dst: Float32Array, src: Float32Array, scale: number): void => {
    for (let k = 0; k < src.length; k++) dst[k] += scale * src[k];
  };
  const addParamGrads = (gs: tf.Tensor[], scale: number): void => {
    tables.forEach((t, q) => {
      t.touchAll(); // dense head parameters: grad laid out like data
      addInto(t.grad, gs[q].dataSync() as Float32Array, scale);
    });
  };
  return {
    bpr(eu, ei, ej, n, weight, gu, gi, gj, perRow, posScores, rowWeights) {
      return tf.tidy(() => {
        const U = tf.tensor2d(eu.subarray(0, n * w), [n, w]);
        const I = tf.tensor2d(ei.subarray(0, n * w), [n, w]);
        const J = tf.tensor2d(ej.subarray(0, n * w), [n, w]);
        const f = (...x: tf.Tensor[]): tf.Scalar => {
          const [a, c, e, W1, b1, W2, b2, h] = x as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
          const sp = scoreT(a, c, d, W1, b1, W2, b2, h);
          const sn = scoreT(a, e, d, W1, b1, W2, b2, h);
          const l = tf.softplus(tf.sub(sn, sp));
          if (perRow) perRow.set(l.dataSync());
          if (posScores) posScores.set(sp.dataSync());
          // per-triple weights (GraphRfi): (1/n)·Σ w_b·l_b; without them the unweighted mean as before
          return (rowWeights ? tf.div(tf.sum(tf.mul(l, tf.tensor1d(rowWeights.subarray(0, n)))), n) : tf.mean(l)) as tf.Scalar;
        };
        const { value, grads } = tf.valueAndGrads(f)([U, I, J, ...params()]);
        addInto(gu.subarray(0, n * w), grads[0].dataSync() as Float32Array, weight);
        addInto(gi.subarray(0, n * w), grads[1].dataSync() as Float32Array, weight);
        addInto(gj.subarray(0, n * w), grads[2].dataSync() as Float32Array, weight);
        addParamGrads(grads.slice(3), weight);
        return value.dataSync()[0];
      });
    },
    score(eu, ei, n, out) {
      tf.tidy(() => {
        const [W1, b1, W2, b2, h] = params() as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
        out.set(scoreT(tf.tensor2d(eu.subarray(0, n * w), [n, w]), tf.tensor2d(ei.subarray(0, n * w), [n, w]), d, W1, b1, W2, b2, h).dataSync());
      });
    },
    scoreBackward(eu, ei, n, ds, gu, gi) {
      tf.tidy(() => {
        const dsT = tf.tensor1d(ds.subarray(0, n));
        const f = (...x: tf.Tensor[]): tf.Scalar => {
          const [a, c, W1, b1, W2, b2, h] = x as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
          return tf.sum(tf.mul(scoreT(a, c, d, W1, b1, W2, b2, h), dsT)) as tf.Scalar;
        };
        const grads = tf.grads(f)([tf.tensor2d(eu.subarray(0, n * w), [n, w]), tf.tensor2d(ei.subarray(0, n * w), [n, w]), ...params()]);
        addInto(gu.subarray(0, n * w), grads[0].dataSync() as Float32Array, 1);
        addInto(gi.subarray(0, n * w), grads[1].dataSync() as Float32Array, 1);
        addParamGrads(grads.slice(2), 1);
      });
    },
  };
}

export const neumf: BackboneDef = {
  name: 'neumf',
  description: 'NeuMF (GMF ⊙ branch + MLP branch, linear output), BPR on the score; MLP head on tfjs',
  params: {},
  options: {},
  validate(config) {
    // the MLP tower halves the dimension (dim -> dim/2)
    if (config.dim % 2 !== 0) throw invalidArgument('config.dim', `neumf needs an even dim, got ${config.dim}`);
  },
  create(ctx): Backbone {
    const d = ctx.dim;
    const w = 2 * d;
    const U = new ParamTable('user_embedding', ctx.numUsers, w, ctx.arena.tableArrays(ctx.numUsers, w));
    const V = new ParamTable('item_embedding', ctx.numItems, w, ctx.arena.tableArrays(ctx.numItems, w));
    initNormal(U, ctx.rng, ctx.initStd);
    initNormal(V, ctx.rng, ctx.initStd);
    const m: Mlp = {
      W1: new ParamTable('mlp_w1', w, d),
      b1: new ParamTable('mlp_b1', 1, d),
      W2: new ParamTable('mlp_w2', d, d >> 1),
      b2: new ParamTable('mlp_b2', 1, d >> 1),
      h: new ParamTable('output_h', 1, d + (d >> 1)),
    };
    // He-style init for the ReLU layers, unit-scale output weights
    initNormal(m.W1, ctx.rng, Math.sqrt(2 / w));
    initNormal(m.W2, ctx.rng, Math.sqrt(2 / d));
    initNormal(m.h, ctx.rng, 1 / Math.sqrt(d));
    return {
      tables: [U, V, m.W1, m.b1, m.W2, m.b2, m.h],
      width: w,
      head: neumfHead(d, m),
      // the head's ops ran on this thread's tfjs backend: name it (tfjs-node[-gpu] when installed)
      engine: () => ({ 'mlp-head': `tfjs autodiff (${backendInfo().package}, backend ${tf.getBackend()})`, tfjs: `NeuMF's MLP head (backend ${tf.getBackend()})` }),
      ...egoRows(U, V, w, ctx),
      exportTensors: () => ({
        user_embedding: { shape: [ctx.numUsers, w], data: U.data.slice() },
        item_embedding: { shape: [ctx.numItems, w], data: V.data.slice() },
        mlp_w1: { shape: [w, d], data: m.W1.data.slice() },
        mlp_b1: { shape: [d], data: m.b1.data.slice() },
        mlp_w2: { shape: [d, d >> 1], data: m.W2.data.slice() },
        mlp_b2: { shape: [d >> 1], data: m.b2.data.slice() },
        output_h: { shape: [d + (d >> 1)], data: m.h.data.slice() },
      }),
    };
  },
  createScorer(t): Scorer {
    const need = ['user_embedding', 'item_embedding', 'mlp_w1', 'mlp_b1', 'mlp_w2', 'mlp_b2', 'output_h'];
    for (const k of need) if (!t[k]) throw new Error(`neumf model lacks tensor ${k}`);
    const [numUsers, w] = t.user_embedding.shape as [number, number];
    const numItems = t.item_embedding.shape[0];
    const d = w / 2;
    const h2 = d >> 1;
    const U = t.user_embedding.data, V = t.item_embedding.data;
    const W1 = t.mlp_w1.data, b1 = t.mlp_b1.data, W2 = t.mlp_w2.data, b2 = t.mlp_b2.data, h = t.output_h.data;
    // first layer splits into a user part and an item part, computed once per row
    const itemPart = new Float32Array(numItems * d);
    for (let i = 0; i < numItems; i++)
      for (let c = 0; c < d; c++) {
        let s = b1[c];
        for (let k = 0; k < d; k++) s += V[i * w + d + k] * W1[(d + k) * d + c];
        itemPart[i * d + c] = s;
      }
    const a = new Float32Array(d);
    const z1 = new Float32Array(d);
    return {
      numUsers,
      numItems,
      scoreUsers(users, out) {
        for (let b = 0; b < users.length; b++) {
          const uo = users[b] * w;
          for (let c = 0; c < d; c++) {
            let s = 0;
            for (let k = 0; k < d; k++) s += U[uo + d + k] * W1[k * d + c];
            a[c] = s;
          }
          for (let i = 0; i < numItems; i++) {
            const vo = i * w;
            let s = 0;
            for (let k = 0; k < d; k++) s += h[k] * U[uo + k] * V[vo + k];
            for (let c = 0; c < d; c++) z1[c] = Math.max(0, a[c] + itemPart[i * d + c]);
            for (let c = 0; c < h2; c++) {
              let z = b2[c];
              for (let k = 0; k < d; k++) z += z1[k] * W2[k * h2 + c];
              if (z > 0) s += h[d + c] * z;
            }
            out[b * numItems + i] = s;
          }
        }
      },
    };
  },
};
