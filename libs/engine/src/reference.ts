/**
 * Reference implementations of the training losses with tfjs ops and autodiff, on small
 * tensors. They define what the fused kernels must compute; tests compare losses and
 * gradients of both within 1e-5 relative. Not for production use (the cpu backend is far
 * too slow for Gowalla-sized tables).
 */
import { tf } from './backend';
import type { WeightedCsr } from './spmm';

export type ReferenceMagnitude =
  | { kind: 'uniform'; eps: number }
  /** PamaCF, published code: ρ·user_lmb·sigmoid(||u||²/mean_batch||u||² − 1) */
  | { kind: 'published'; rho: number; userLmb: number }
  /** PamaCF, paper: ρ·sigmoid(||u||/meanNorm − 1), meanNorm over all users */
  | { kind: 'paper'; rho: number; meanNorm: number }
  /** VAT: ρ·λ·sigmoid(mean_batch L / L_b − 1), L_b the triple's clean BPR loss */
  | { kind: 'loss'; rho: number; lambda: number };

export interface ReferenceBatch {
  users: Uint32Array;
  pos: Uint32Array;
  neg: Uint32Array;
  l2: number;
  adv?: { lambda: number; magnitude: ReferenceMagnitude };
  /** SharpCF's trajectory term: λ·mean_b (s⁺_b − old_b)², s⁺_b the triple's positive score, old_b a constant. */
  trajectory?: { lambda: number; old: Float32Array };
}

export interface ReferenceResult {
  loss: number;
  bpr: number;
  adv: number;
  /** Gradients w.r.t. the parameter tables, flat row-major. */
  grads: Float32Array[];
}

/**
 * A pair's score from its gathered user and item rows and the model's other parameters (the
 * dot product for MF and LightGCN; NeuMF's head). The adversarial direction and the BPR terms
 * go through it.
 */
type ScoreT = (eu: tf.Tensor2D, ei: tf.Tensor2D, extra: tf.Tensor[]) => tf.Tensor1D;
const dotScore: ScoreT = (eu, ei) => tf.sum(tf.mul(eu, ei), 1) as tf.Tensor1D;

const bprWith = (score: ScoreT, eu: tf.Tensor2D, ei: tf.Tensor2D, ej: tf.Tensor2D, extra: tf.Tensor[]): tf.Scalar =>
  tf.mean(tf.softplus(tf.sub(score(eu, ej, extra), score(eu, ei, extra)))) as tf.Scalar;
const bprT = (eu: tf.Tensor2D, ei: tf.Tensor2D, ej: tf.Tensor2D): tf.Scalar => bprWith(dotScore, eu, ei, ej, []);

const sqMean = (x: tf.Tensor2D): tf.Scalar => tf.mean(tf.sum(tf.square(x), 1)) as tf.Scalar;

/** Per-row ε from the final rows of the triples. */
function magnitudeT(eu: tf.Tensor2D, ei: tf.Tensor2D, ej: tf.Tensor2D, m: ReferenceMagnitude): tf.Tensor {
  const n = eu.shape[0];
  if (m.kind === 'uniform') return tf.fill([n, 1], m.eps);
  if (m.kind === 'loss') {
    const l = tf.softplus(tf.sub(tf.sum(tf.mul(eu, ej), 1, true), tf.sum(tf.mul(eu, ei), 1, true)));
    return tf.mul(m.rho * m.lambda, tf.sigmoid(tf.sub(tf.div(tf.mean(l), tf.maximum(l, 1e-12)), 1)));
  }
  const sq = tf.sum(tf.square(eu), 1, true);
  if (m.kind === 'published') return tf.mul(m.rho * m.userLmb, tf.sigmoid(tf.sub(tf.div(sq, tf.mean(sq)), 1)));
  return tf.mul(m.rho, tf.sigmoid(tf.sub(tf.div(tf.sqrt(sq), m.meanNorm), 1)));
}

/**
 * Loss of one batch given a function from parameter tensors to the final (scored) user and
 * item tables and to the ego tables that carry the L2 term.
 */
function referenceLoss(
  params: tf.Tensor[],
  model: (p: tf.Tensor2D[]) => { finalU: tf.Tensor2D; finalV: tf.Tensor2D; egoU: tf.Tensor2D; egoV: tf.Tensor2D },
  b: ReferenceBatch,
  /** The score and how many of `params` (after the two tables) it takes; default the dot product. */
  score: ScoreT = dotScore,
): ReferenceResult {
  return tf.tidy(() => {
    const users = tf.tensor1d(Int32Array.from(b.users), 'int32');
    const pos = tf.tensor1d(Int32Array.from(b.pos), 'int32');
    const neg = tf.tensor1d(Int32Array.from(b.neg), 'int32');
    // Δ: ε·g/||g|| per row with g = ∂BPR/∂(gathered final row), treated as a constant
    let deltas: tf.Tensor2D[] | undefined;
    if (b.adv) {
      const { finalU, finalV } = model(params as tf.Tensor2D[]);
      const eu = tf.gather(finalU, users) as tf.Tensor2D;
      const ei = tf.gather(finalV, pos) as tf.Tensor2D;
      const ej = tf.gather(finalV, neg) as tf.Tensor2D;
      const extra = params.slice(2);
      const gs = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => bprWith(score, a as tf.Tensor2D, c as tf.Tensor2D, d as tf.Tensor2D, extra))([eu, ei, ej]);
      const eps = magnitudeT(eu, ei, ej, b.adv.magnitude);
      deltas = gs.map((g) => tf.mul(eps, tf.div(g, tf.maximum(tf.norm(g, 2, 1, true), 1e-12))) as tf.Tensor2D);
    }
    const parts = { bpr: 0, adv: 0 };
    const f = (...ps: tf.Tensor[]): tf.Scalar => {
      const { finalU, finalV, egoU, egoV } = model(ps as tf.Tensor2D[]);
      const extra = ps.slice(2);
      const eu = tf.gather(finalU, users) as tf.Tensor2D;
      const ei = tf.gather(finalV, pos) as tf.Tensor2D;
      const ej = tf.gather(finalV, neg) as tf.Tensor2D;
      const bpr = bprWith(score, eu, ei, ej, extra);
      const reg = tf.mul(
        b.l2,
        tf.addN([sqMean(tf.gather(egoU, users) as tf.Tensor2D), sqMean(tf.gather(egoV, pos) as tf.Tensor2D), sqMean(tf.gather(egoV, neg) as tf.Tensor2D)]),
      );
      let total = tf.add(bpr, reg) as tf.Scalar;
      parts.bpr = bpr.dataSync()[0];
      if (b.adv && deltas) {
        const adv = bprWith(score, tf.add(eu, deltas[0]) as tf.Tensor2D, tf.add(ei, deltas[1]) as tf.Tensor2D, tf.add(ej, deltas[2]) as tf.Tensor2D, extra);
        parts.adv = adv.dataSync()[0];
        total = tf.add(total, tf.mul(b.adv.lambda, adv)) as tf.Scalar;
      }
      if (b.trajectory) {
        const diff = tf.sub(score(eu, ei, extra), tf.tensor1d(b.trajectory.old));
        total = tf.add(total, tf.mul(b.trajectory.lambda, tf.mean(tf.square(diff)))) as tf.Scalar;
      }
      return total;
    };
    const { value, grads } = tf.valueAndGrads(f)(params);
    return { loss: value.dataSync()[0], bpr: parts.bpr, adv: parts.adv, grads: grads.map((g) => g.dataSync() as Float32Array) };
  });
}

/** MF: the tables are the embeddings. */
export function referenceMfLoss(u: Float32Array, v: Float32Array, numUsers: number, numItems: number, dim: number, b: ReferenceBatch): ReferenceResult {
  const U = tf.tensor2d(u, [numUsers, dim]);
  const V = tf.tensor2d(v, [numItems, dim]);
  try {
    return referenceLoss([U, V], ([pu, pv]) => ({ finalU: pu, finalV: pv, egoU: pu, egoV: pv }), b);
  } finally {
    U.dispose();
    V.dispose();
  }
}

/** Dense Â of a WeightedCsr (small graphs only). */
function denseAdjacency(a: WeightedCsr): Float32Array {
  const n = a.numRows;
  const d = new Float32Array(n * n);
  for (let r = 0; r < n; r++) for (let p = a.indptr[r]; p < a.indptr[r + 1]; p++) d[r * n + a.indices[p]] = a.values[p];
  return d;
}

/** LightGCN: final = mean over layers 0..K of Â^k E0, E0 = [U; V]; L2 on the ego rows. */
export function referenceLightGcnLoss(
  u: Float32Array,
  v: Float32Array,
  numUsers: number,
  numItems: number,
  dim: number,
  adj: WeightedCsr,
  layers: number,
  b: ReferenceBatch,
): ReferenceResult {
  const n = numUsers + numItems;
  const A = tf.tensor2d(denseAdjacency(adj), [n, n]);
  const U = tf.tensor2d(u, [numUsers, dim]);
  const V = tf.tensor2d(v, [numItems, dim]);
  try {
    return referenceLoss(
      [U, V],
      ([pu, pv]) => {
        const e0 = tf.concat([pu, pv], 0) as tf.Tensor2D;
        let e = e0;
        let acc = e0;
        for (let k = 0; k < layers; k++) {
          e = tf.matMul(A, e);
          acc = tf.add(acc, e);
        }
        const fin = tf.div(acc, layers + 1) as tf.Tensor2D;
        const [fu, fv] = tf.split(fin, [numUsers, numItems], 0) as [tf.Tensor2D, tf.Tensor2D];
        return { finalU: fu, finalV: fv, egoU: pu, egoV: pv };
      },
      b,
    );
  } finally {
    A.dispose();
    U.dispose();
    V.dispose();
  }
}

/** NeuMF's head parameters, flat row-major as the backbone's tables hold them. */
export interface ReferenceNeuMfHead {
  /** [2·dim × dim] */
  w1: Float32Array;
  /** [dim] */
  b1: Float32Array;
  /** [dim × dim/2] */
  w2: Float32Array;
  /** [dim/2] */
  b2: Float32Array;
  /** [dim + dim/2] */
  h: Float32Array;
}

/**
 * NeuMF, written independently of libs/models' head: rows [p ; p'] of width 2·dim, score
 * hᵀ[p_u ⊙ q_i ; ReLU(ReLU([p'_u ; q'_i] W1 + b1) W2 + b2)], BPR on it, the perturbation on
 * the whole rows, L2 on the gathered rows. Gradients: the two tables, then W1, b1, W2, b2, h.
 */
export function referenceNeuMfLoss(u: Float32Array, v: Float32Array, head: ReferenceNeuMfHead, numUsers: number, numItems: number, dim: number, b: ReferenceBatch): ReferenceResult {
  const w = 2 * dim;
  const half = dim >> 1;
  const tensors = [
    tf.tensor2d(u, [numUsers, w]),
    tf.tensor2d(v, [numItems, w]),
    tf.tensor2d(head.w1, [w, dim]),
    tf.tensor1d(head.b1),
    tf.tensor2d(head.w2, [dim, half]),
    tf.tensor1d(head.b2),
    tf.tensor1d(head.h),
  ];
  const score: ScoreT = (eu, ei, [W1, b1, W2, b2, h]) => {
    const gmf = tf.mul(tf.slice(eu, [0, 0], [-1, dim]), tf.slice(ei, [0, 0], [-1, dim]));
    const x = tf.concat([tf.slice(eu, [0, dim], [-1, dim]), tf.slice(ei, [0, dim], [-1, dim])], 1);
    const z1 = tf.relu(tf.add(tf.matMul(x, W1 as tf.Tensor2D), b1!));
    const z2 = tf.relu(tf.add(tf.matMul(z1, W2 as tf.Tensor2D), b2!));
    return tf.sum(tf.mul(tf.concat([gmf, z2], 1), h!), 1) as tf.Tensor1D;
  };
  try {
    return referenceLoss(tensors, ([pu, pv]) => ({ finalU: pu!, finalV: pv!, egoU: pu!, egoV: pv! }), b, score);
  } finally {
    for (const t of tensors) t.dispose();
  }
}
