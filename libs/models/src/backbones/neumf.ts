import { invalidArgument } from '@robustrec/core';
import { ParamTable } from '@robustrec/engine';
import { MlpKernel, type Scorer } from '@robustrec/scoring';
import type { Backbone, BackboneDef, Head } from '../types';
import { egoRows, initNormal } from './dot';

/**
 * NeuMF: ŷ = hᵀ[p_u ⊙ q_i ; MLP([p'_u ; q'_i])], trained with BPR on ŷ (pre-sigmoid). Each
 * user/item row holds [p ; p'] (width 2·dim). MLP: 2·dim → dim → dim/2, ReLU. The embedding
 * rows go through the fused gather/scatter kernels; the small MLP head is hand-written below
 * (it is not a dot product, so no fused kernel). Defenses perturb the [p ; p'] rows.
 */
interface Mlp {
  W1: ParamTable; // [2·dim × dim]
  b1: ParamTable; // [1 × dim]
  W2: ParamTable; // [dim × dim/2]
  b2: ParamTable; // [1 × dim/2]
  h: ParamTable; // [1 × dim + dim/2]
}

/**
 * The head's forward and backward, by hand over Float32Arrays (the tfjs version cost 1.5–4 s a
 * step of 2048 triples on the CPU backend; this one ~0.1 s). Sums run in doubles; the tfjs
 * reference (libs/engine reference.ts) checks loss and every gradient within 1e-5
 * (neumf-reference.test.ts). Layout per row: [p (d) ; p' (d)]; W1 is [2d × d] row-major, its
 * top half multiplies the user's p', its bottom half the item's q'. A triple's two scores share
 * the user's half of the first layer, forward and backward.
 */
class NeumfHeadMath {
  private readonly h2: number;
  private readonly w: number;
  // per-score scratch: first layer pre-activations (user part, full), second layer, gradients
  private readonly zu: Float64Array;
  private readonly z1: Float64Array[];
  private readonly z2: Float64Array[];
  private readonly dz1: Float64Array[];
  private readonly dz1u: Float64Array;

  constructor(
    private readonly d: number,
    private readonly m: Mlp,
  ) {
    this.h2 = d >> 1;
    this.w = 2 * d;
    this.zu = new Float64Array(d);
    this.z1 = [new Float64Array(d), new Float64Array(d)];
    this.z2 = [new Float64Array(this.h2), new Float64Array(this.h2)];
    this.dz1 = [new Float64Array(d), new Float64Array(d)];
    this.dz1u = new Float64Array(d);
  }

  /** zu = b1 + W1[top]ᵀ·p'_u for the user row at eu[uo]. */
  userPart(eu: Float32Array, uo: number): void {
    const { d, zu } = this;
    const W1 = this.m.W1.data, b1 = this.m.b1.data;
    for (let c = 0; c < d; c++) zu[c] = b1[c];
    for (let k = 0; k < d; k++) {
      const x = eu[uo + d + k];
      if (x === 0) continue;
      const ro = k * d;
      for (let c = 0; c < d; c++) zu[c] += x * W1[ro + c];
    }
  }

  /** The score of the user (userPart done) with the item row at ei[io], keeping slot s's activations. */
  forward(eu: Float32Array, uo: number, ei: Float32Array, io: number, s: number): number {
    const { d, h2, zu } = this;
    const z1 = this.z1[s], z2 = this.z2[s];
    const W1 = this.m.W1.data, W2 = this.m.W2.data, b2 = this.m.b2.data, h = this.m.h.data;
    for (let c = 0; c < d; c++) z1[c] = zu[c];
    for (let k = 0; k < d; k++) {
      const x = ei[io + d + k];
      if (x === 0) continue;
      const ro = (d + k) * d;
      for (let c = 0; c < d; c++) z1[c] += x * W1[ro + c];
    }
    for (let c = 0; c < h2; c++) z2[c] = b2[c];
    for (let k = 0; k < d; k++) {
      const a = z1[k];
      if (!(a > 0)) continue; // ReLU
      const ro = k * h2;
      for (let c = 0; c < h2; c++) z2[c] += a * W2[ro + c];
    }
    let out = 0;
    for (let k = 0; k < d; k++) out += h[k] * eu[uo + k] * ei[io + k];
    for (let c = 0; c < h2; c++) if (z2[c] > 0) out += h[d + c] * z2[c];
    return out;
  }

  /**
   * Backward of g·s for slot s's score (forward done): item row gradient into gi[io], the user's
   * GMF half into gu[uo], the head's parameter gradients (scaled by `scale`), and the first
   * layer's gradient for the user's half accumulated into dz1u (userBackward applies it).
   */
  backward(g: number, scale: number, eu: Float32Array, uo: number, ei: Float32Array, io: number, s: number, gu: Float32Array, gi: Float32Array): void {
    const { d, h2, dz1u } = this;
    const z1 = this.z1[s], z2 = this.z2[s], dz1 = this.dz1[s];
    const m = this.m;
    const W1 = m.W1.data, W2 = m.W2.data, h = m.h.data;
    const gW1 = m.W1.grad, gb1 = m.b1.grad, gW2 = m.W2.grad, gb2 = m.b2.grad, gh = m.h.grad;
    const gs = g * scale;
    for (let k = 0; k < d; k++) {
      const pu = eu[uo + k], qi = ei[io + k];
      gh[k] += gs * pu * qi;
      gu[uo + k] += gs * h[k] * qi;
      gi[io + k] += gs * h[k] * pu;
    }
    for (let k = 0; k < d; k++) dz1[k] = 0;
    for (let c = 0; c < h2; c++) {
      if (!(z2[c] > 0)) continue;
      gh[d + c] += gs * z2[c];
      const dz2 = g * h[d + c];
      gb2[c] += scale * dz2;
      for (let k = 0; k < d; k++) {
        if (!(z1[k] > 0)) continue;
        gW2[k * h2 + c] += scale * z1[k] * dz2;
        dz1[k] += W2[k * h2 + c] * dz2;
      }
    }
    for (let c = 0; c < d; c++) {
      const v = dz1[c];
      if (v === 0) continue;
      gb1[c] += scale * v;
      dz1u[c] += v;
    }
    // the item's half of the first layer: W1 rows d..2d-1
    for (let k = 0; k < d; k++) {
      const x = ei[io + d + k];
      const ro = (d + k) * d;
      let acc = 0;
      for (let c = 0; c < d; c++) {
        acc += W1[ro + c] * dz1[c];
        gW1[ro + c] += scale * x * dz1[c];
      }
      gi[io + d + k] += scale * acc;
    }
  }

  /** The user's half of the first layer for the dz1u the backward calls summed; clears dz1u. */
  userBackward(scale: number, eu: Float32Array, uo: number, gu: Float32Array): void {
    const { d, dz1u } = this;
    const W1 = this.m.W1.data, gW1 = this.m.W1.grad;
    for (let k = 0; k < d; k++) {
      const x = eu[uo + d + k];
      const ro = k * d;
      let acc = 0;
      for (let c = 0; c < d; c++) {
        acc += W1[ro + c] * dz1u[c];
        gW1[ro + c] += scale * x * dz1u[c];
      }
      gu[uo + d + k] += scale * acc;
    }
    dz1u.fill(0);
  }
}

/** softplus(x) = log(1 + e^x) without overflow. */
const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

function neumfHead(d: number, m: Mlp): Head {
  const w = 2 * d;
  const tables = [m.W1, m.b1, m.W2, m.b2, m.h];
  const math = new NeumfHeadMath(d, m);
  const touch = (): void => {
    for (const t of tables) t.touchAll(); // dense head parameters: grad laid out like data
  };
  return {
    bpr(eu, ei, ej, n, weight, gu, gi, gj, perRow, posScores, rowWeights) {
      touch();
      let loss = 0;
      for (let b = 0; b < n; b++) {
        const o = b * w;
        math.userPart(eu, o);
        const sp = math.forward(eu, o, ei, o, 0);
        const sn = math.forward(eu, o, ej, o, 1);
        const x = Math.fround(sn) - Math.fround(sp);
        const l = softplus(x);
        const rw = rowWeights ? rowWeights[b] : 1;
        loss += rw * l;
        if (perRow) perRow[b] = l;
        if (posScores) posScores[b] = sp;
        // d loss / d sn = rw·σ(sn − sp)/n, d / d sp its negative; `weight` scales every gradient
        const g = (rw * sigmoid(x)) / n;
        if (g === 0) continue;
        math.backward(-g, weight, eu, o, ei, o, 0, gu, gi);
        math.backward(g, weight, eu, o, ej, o, 1, gu, gj);
        math.userBackward(weight, eu, o, gu);
      }
      return loss / n;
    },
    score(eu, ei, n, out) {
      for (let b = 0; b < n; b++) {
        const o = b * w;
        math.userPart(eu, o);
        out[b] = math.forward(eu, o, ei, o, 0);
      }
    },
    scoreBackward(eu, ei, n, ds, gu, gi) {
      touch();
      for (let b = 0; b < n; b++) {
        if (ds[b] === 0) continue;
        const o = b * w;
        math.userPart(eu, o);
        math.forward(eu, o, ei, o, 0);
        math.backward(ds[b], 1, eu, o, ei, o, 0, gu, gi);
        math.userBackward(1, eu, o, gu);
      }
    },
  };
}

export const neumf: BackboneDef = {
  name: 'neumf',
  description: 'NeuMF (GMF ⊙ branch + MLP branch, linear output), BPR on the score',
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
      engine: () => ({ 'mlp-head': 'js (Float32Array, hand-written backward; checked against the tfjs autodiff reference)' }),
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
    // SIMD when the widths fit its lanes (dim a multiple of 8); the JS loop below otherwise
    const kernel = MlpKernel.fits(d, h2) ? new MlpKernel(numItems, d, h2, V, w, W2, b2, h.subarray(d, d + h2)) : undefined;
    // first layer splits into a user part and an item part, computed once per row (into the
    // kernel's memory when there is one)
    const itemPart = kernel ? kernel.part : new Float32Array(numItems * d);
    for (let i = 0; i < numItems; i++)
      for (let c = 0; c < d; c++) {
        let s = b1[c];
        for (let k = 0; k < d; k++) s += V[i * w + d + k] * W1[(d + k) * d + c];
        itemPart[i * d + c] = s;
      }
    const a = new Float32Array(d);
    const hu = new Float64Array(d);
    const z2 = new Float64Array(h2);
    const userParts = (uo: number): void => {
      for (let c = 0; c < d; c++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += U[uo + d + k] * W1[k * d + c];
        a[c] = s;
        hu[c] = h[c] * U[uo + c];
      }
    };
    return {
      numUsers,
      numItems,
      scoreUsers(users, out) {
        for (let b = 0; b < users.length; b++) {
          const uo = users[b] * w;
          userParts(uo);
          if (kernel) {
            kernel.scoreUser(hu, a, out, b * numItems);
            continue;
          }
          for (let i = 0; i < numItems; i++) {
            const vo = i * w;
            const po = i * d;
            let s = 0;
            for (let k = 0; k < d; k++) s += hu[k] * V[vo + k];
            // second layer row by row over the active first-layer units (ReLU zeros skipped)
            for (let c = 0; c < h2; c++) z2[c] = b2[c];
            for (let k = 0; k < d; k++) {
              const z = a[k] + itemPart[po + k];
              if (!(z > 0)) continue;
              const ro = k * h2;
              for (let c = 0; c < h2; c++) z2[c] += z * W2[ro + c];
            }
            for (let c = 0; c < h2; c++) if (z2[c] > 0) s += h[d + c] * z2[c];
            out[b * numItems + i] = s;
          }
        }
      },
    };
  },
};
