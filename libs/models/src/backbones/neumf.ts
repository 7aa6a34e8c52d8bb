import { invalidArgument } from '@robustrec/core';
import { GemmWorkspace, ParamTable, transposeInto, type Mat } from '@robustrec/engine';
import { neumfScorer, type Scorer } from '@robustrec/scoring';
import type { Backbone, BackboneDef, Head } from '../types';
import { egoRows, initNormal } from './dot';

/**
 * NeuMF: ŷ = hᵀ[p_u ⊙ q_i ; MLP([p'_u ; q'_i])], trained with BPR on ŷ (pre-sigmoid). Each
 * user/item row holds [p ; p'] (width 2·dim). MLP: 2·dim → dim → dim/2, ReLU. The embedding
 * rows go through the fused gather/scatter kernels; the MLP head is not a dot product, so it runs
 * as batched dense products (NeumfBatch below). Defenses perturb the [p ; p'] rows.
 */
interface Mlp {
  W1: ParamTable; // [2·dim × dim]
  b1: ParamTable; // [1 × dim]
  W2: ParamTable; // [dim × dim/2]
  b2: ParamTable; // [1 × dim/2]
  h: ParamTable; // [1 × dim + dim/2]
}

/** Triples per pass of the batched head: its workspace stays ~1 MB at dim 64 (cache-resident). */
const CHUNK = 256;

/**
 * The head's forward and backward over a chunk of pairs at once, as dense products on a
 * GemmWorkspace (gemm.wat, SIMD; the tfjs version cost 1.5–4 s a step of 2048 triples, the
 * per-pair JS loop after it ~0.2 s). Layout per row: [p (d) ; p' (d)]; W1 is [2d × d] row-major,
 * its top half multiplies the user's p', its bottom half the item's q'. A chunk holds n users and
 * `pairs` item rows per user (bpr: i and j, one user part shared by both scores; score: i), item
 * row t belonging to user t mod n. Forward:
 *   Zu = P'·W1top + b1,  A1 = relu(Zu + Q'·W1bot),  A2 = relu(A1·W2 + b2),
 *   s = Σ h[0..d) ⊙ p ⊙ q + h[d..)·A2;
 * backward for per-row coefficients g (∂loss/∂s, every scale included):
 *   dZ2 = g·h[d..) ⊙ [A2>0],  dZ1 = dZ2·W2ᵀ ⊙ [A1>0],  dZu = Σ over the user's rows of dZ1,
 *   ∇W2 = A1ᵀ·dZ2, ∇W1bot = Q'ᵀ·dZ1, ∇W1top = P'ᵀ·dZu, ∇q' = dZ1·W1botᵀ, ∇p' = dZu·W1topᵀ.
 * The products sum in f32, the scores' last sums (GMF half and output layer) in doubles; the
 * bias, output-weight and GMF-half gradients add into their f32 arrays row by row. The tfjs
 * reference (libs/engine reference.ts) checks loss and every gradient within 1e-5
 * (neumf-reference.test.ts).
 */
class NeumfBatch {
  private readonly h2: number;
  private readonly w: number;
  private readonly ws: GemmWorkspace;
  private readonly P: Mat; // [CHUNK × d] the users' p'
  private readonly Q: Mat; // [2·CHUNK × d] the items' q'
  private readonly A1: Mat; // [2·CHUNK × d] first layer (Zu + Q'·W1bot, then relu)
  private readonly Zu: Mat; // [CHUNK × d]
  private readonly A2: Mat; // [2·CHUNK × h2]
  private readonly dZ2: Mat; // [2·CHUNK × h2]
  private readonly dZ1: Mat; // [2·CHUNK × d]
  private readonly dZu: Mat; // [CHUNK × d]
  private readonly gQ: Mat; // [2·CHUNK × d]
  private readonly gP: Mat; // [CHUNK × d]
  private readonly W1top: Mat; // [d × d]
  private readonly W1bot: Mat;
  private readonly W1topT: Mat;
  private readonly W1botT: Mat;
  private readonly W2: Mat; // [d × h2]
  private readonly W2T: Mat; // [h2 × d]
  private readonly gW1top: Mat; // a pass's weight gradients, summed over its chunks
  private readonly gW1bot: Mat;
  private readonly gW2: Mat;
  private readonly s = new Float64Array(2 * CHUNK);
  /** ∂loss/∂s of each item row of the last forward: the caller writes it before backward. */
  readonly coef = new Float64Array(2 * CHUNK);

  constructor(
    private readonly d: number,
    private readonly m: Mlp,
  ) {
    const h2 = (this.h2 = d >> 1);
    this.w = 2 * d;
    const C = CHUNK;
    this.ws = new GemmWorkspace(C * d * 4 + 2 * C * (4 * d + 2 * h2) + 7 * d * d + 3 * d * h2 + 64);
    const ws = this.ws;
    this.P = ws.mat(C, d);
    this.Q = ws.mat(2 * C, d);
    this.A1 = ws.mat(2 * C, d);
    this.Zu = ws.mat(C, d);
    this.A2 = ws.mat(2 * C, h2);
    this.dZ2 = ws.mat(2 * C, h2);
    this.dZ1 = ws.mat(2 * C, d);
    this.dZu = ws.mat(C, d);
    this.gQ = ws.mat(2 * C, d);
    this.gP = ws.mat(C, d);
    this.W1top = ws.mat(d, d);
    this.W1bot = ws.mat(d, d);
    this.W1topT = ws.mat(d, d);
    this.W1botT = ws.mat(d, d);
    this.W2 = ws.mat(d, h2);
    this.W2T = ws.mat(h2, d);
    this.gW1top = ws.mat(d, d);
    this.gW1bot = ws.mat(d, d);
    this.gW2 = ws.mat(d, h2);
  }

  /** Copies the head's weights into the workspace (once per pass: they do not change within it). */
  loadWeights(): void {
    const { d, h2 } = this;
    const W1 = this.m.W1.data;
    this.W1top.data.set(W1.subarray(0, d * d));
    this.W1bot.data.set(W1.subarray(d * d, 2 * d * d));
    this.W2.data.set(this.m.W2.data.subarray(0, d * h2));
    transposeInto(this.W1top.data, d, d, this.W1topT.data);
    transposeInto(this.W1bot.data, d, d, this.W1botT.data);
    transposeInto(this.W2.data, d, h2, this.W2T.data);
    this.gW1top.data.fill(0);
    this.gW1bot.data.fill(0);
    this.gW2.data.fill(0);
  }

  /**
   * Forward of chunk rows [b0, b0 + n) of eu against items[p]'s same rows (p < items.length):
   * scores into this.s (item row p·n + b), activations kept for backward.
   */
  forward(eu: Float32Array, items: Float32Array[], b0: number, n: number): Float64Array {
    const { d, h2, w, ws } = this;
    const pairs = items.length;
    const rows = pairs * n;
    const P = this.P.data, Q = this.Q.data, Zu = this.Zu.data, A1 = this.A1.data, A2 = this.A2.data;
    const b1 = this.m.b1.data, b2 = this.m.b2.data, h = this.m.h.data;
    for (let b = 0; b < n; b++) {
      const o = (b0 + b) * w + d;
      for (let k = 0; k < d; k++) P[b * d + k] = eu[o + k];
    }
    for (let p = 0; p < pairs; p++) {
      const it = items[p];
      for (let b = 0; b < n; b++) {
        const o = (b0 + b) * w + d, q = (p * n + b) * d;
        for (let k = 0; k < d; k++) Q[q + k] = it[o + k];
      }
    }
    ws.mul(this.P, this.W1top, this.Zu, n, d, d);
    for (let b = 0; b < n; b++) for (let k = 0; k < d; k++) Zu[b * d + k] += b1[k];
    for (let p = 0; p < pairs; p++) A1.set(Zu.subarray(0, n * d), p * n * d);
    ws.mul(this.Q, this.W1bot, this.A1, rows, d, d, true);
    for (let q = 0; q < rows * d; q++) if (!(A1[q] > 0)) A1[q] = 0;
    for (let t = 0; t < rows; t++) for (let c = 0; c < h2; c++) A2[t * h2 + c] = b2[c];
    ws.mul(this.A1, this.W2, this.A2, rows, d, h2, true);
    const s = this.s;
    for (let p = 0; p < pairs; p++) {
      const it = items[p];
      for (let b = 0; b < n; b++) {
        const t = p * n + b;
        const uo = (b0 + b) * w;
        let out = 0;
        for (let k = 0; k < d; k++) out += h[k] * eu[uo + k] * it[uo + k];
        for (let c = 0; c < h2; c++) {
          const a = A2[t * h2 + c];
          if (a > 0) out += h[d + c] * a;
          else A2[t * h2 + c] = 0;
        }
        s[t] = out;
      }
    }
    return s;
  }

  /**
   * Backward of the last forward for coefficients this.coef[t] (∂loss/∂s of item row t): row
   * gradients added into gu and grads[p] (same rows as forward's), the head's bias and output
   * gradients added, and its weight gradients summed into the pass's accumulators (flush adds them).
   */
  backward(eu: Float32Array, items: Float32Array[], b0: number, n: number, gu: Float32Array, grads: Float32Array[]): void {
    const { d, h2, w, ws } = this;
    const m = this.m;
    const pairs = items.length;
    const rows = pairs * n;
    const coef = this.coef;
    const A1 = this.A1.data, A2 = this.A2.data, dZ2 = this.dZ2.data, dZ1 = this.dZ1.data, dZu = this.dZu.data;
    const h = m.h.data, gh = m.h.grad, gb1 = m.b1.grad, gb2 = m.b2.grad;
    for (let p = 0; p < pairs; p++) {
      const it = items[p], gi = grads[p];
      for (let b = 0; b < n; b++) {
        const t = p * n + b;
        const g = coef[t];
        const uo = (b0 + b) * w;
        for (let k = 0; k < d; k++) {
          const pu = eu[uo + k], qi = it[uo + k], hk = g * h[k];
          gh[k] += g * pu * qi;
          gu[uo + k] += hk * qi;
          gi[uo + k] += hk * pu;
        }
        for (let c = 0; c < h2; c++) {
          const a = A2[t * h2 + c];
          const z = a > 0 ? g * h[d + c] : 0;
          gh[d + c] += g * a;
          dZ2[t * h2 + c] = z;
          gb2[c] += z;
        }
      }
    }
    ws.mulTn(this.A1, this.dZ2, this.gW2, d, rows, h2, true);
    ws.mul(this.dZ2, this.W2T, this.dZ1, rows, h2, d);
    for (let q = 0; q < rows * d; q++) if (!(A1[q] > 0)) dZ1[q] = 0;
    for (let t = 0; t < rows; t++) for (let k = 0; k < d; k++) gb1[k] += dZ1[t * d + k];
    ws.mulTn(this.Q, this.dZ1, this.gW1bot, d, rows, d, true);
    ws.mul(this.dZ1, this.W1botT, this.gQ, rows, d, d);
    const gQ = this.gQ.data;
    for (let p = 0; p < pairs; p++) {
      const gi = grads[p];
      for (let b = 0; b < n; b++) {
        const go = (b0 + b) * w + d, q = (p * n + b) * d;
        for (let k = 0; k < d; k++) gi[go + k] += gQ[q + k];
      }
    }
    dZu.set(dZ1.subarray(0, n * d));
    for (let p = 1; p < pairs; p++) for (let q = 0; q < n * d; q++) dZu[q] += dZ1[p * n * d + q];
    ws.mulTn(this.P, this.dZu, this.gW1top, d, n, d, true);
    ws.mul(this.dZu, this.W1topT, this.gP, n, d, d);
    const gP = this.gP.data;
    for (let b = 0; b < n; b++) {
      const go = (b0 + b) * w + d;
      for (let k = 0; k < d; k++) gu[go + k] += gP[b * d + k];
    }
  }

  /** Adds the pass's weight gradients to W1's and W2's. */
  flush(): void {
    const { d, h2 } = this;
    const gW1 = this.m.W1.grad, gW2 = this.m.W2.grad;
    const top = this.gW1top.data, bot = this.gW1bot.data, g2 = this.gW2.data;
    for (let q = 0; q < d * d; q++) {
      gW1[q] += top[q];
      gW1[d * d + q] += bot[q];
    }
    for (let q = 0; q < d * h2; q++) gW2[q] += g2[q];
  }
}

/** Which kernel ran the head's products: gemm.wat takes outputs 4 wide (dim and dim/2), gemmJs the rest. */
function headEngine(d: number): string {
  if (d % 8 === 0) return 'wasm-simd (gemm.wat)';
  if (d % 4 === 0) return 'wasm-simd (gemm.wat) for the dim-wide products, js (gemmJs) for the dim/2-wide ones';
  return 'js (gemmJs, Float32Array)';
}

/** softplus(x) = log(1 + e^x) without overflow. */
const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

function neumfHead(d: number, m: Mlp): Head {
  const tables = [m.W1, m.b1, m.W2, m.b2, m.h];
  const batch = new NeumfBatch(d, m);
  const coef = batch.coef;
  const touch = (): void => {
    for (const t of tables) t.touchAll(); // dense head parameters: grad laid out like data
  };
  return {
    bpr(eu, ei, ej, n, weight, gu, gi, gj, perRow, posScores, rowWeights) {
      touch();
      batch.loadWeights();
      let loss = 0;
      for (let b0 = 0; b0 < n; b0 += CHUNK) {
        const c = Math.min(CHUNK, n - b0);
        const s = batch.forward(eu, [ei, ej], b0, c);
        for (let b = 0; b < c; b++) {
          const sp = s[b], sn = s[c + b];
          const x = Math.fround(sn) - Math.fround(sp);
          const l = softplus(x);
          const rw = rowWeights ? rowWeights[b0 + b] : 1;
          loss += rw * l;
          if (perRow) perRow[b0 + b] = l;
          if (posScores) posScores[b0 + b] = sp;
          // d loss / d sn = rw·σ(sn − sp)/n, d / d sp its negative; `weight` scales every gradient
          const g = ((rw * sigmoid(x)) / n) * weight;
          coef[b] = -g;
          coef[c + b] = g;
        }
        batch.backward(eu, [ei, ej], b0, c, gu, [gi, gj]);
      }
      batch.flush();
      return loss / n;
    },
    score(eu, ei, n, out) {
      batch.loadWeights();
      for (let b0 = 0; b0 < n; b0 += CHUNK) {
        const c = Math.min(CHUNK, n - b0);
        const s = batch.forward(eu, [ei], b0, c);
        for (let b = 0; b < c; b++) out[b0 + b] = s[b];
      }
    },
    scoreBackward(eu, ei, n, ds, gu, gi) {
      touch();
      batch.loadWeights();
      for (let b0 = 0; b0 < n; b0 += CHUNK) {
        const c = Math.min(CHUNK, n - b0);
        batch.forward(eu, [ei], b0, c);
        for (let b = 0; b < c; b++) coef[b] = ds[b0 + b];
        batch.backward(eu, [ei], b0, c, gu, [gi]);
      }
      batch.flush();
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
      engine: () => ({ 'mlp-head': `${headEngine(d)} (batched in chunks of ${CHUNK} triples; hand-written backward checked against the tfjs autodiff reference)` }),
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
    const [numUsers, width] = t.user_embedding.shape as [number, number];
    return neumfScorer({
      numUsers,
      numItems: t.item_embedding.shape[0],
      width,
      U: t.user_embedding.data,
      V: t.item_embedding.data,
      W1: t.mlp_w1.data,
      b1: t.mlp_b1.data,
      W2: t.mlp_w2.data,
      b2: t.mlp_b2.data,
      h: t.output_h.data,
    });
  },
};
