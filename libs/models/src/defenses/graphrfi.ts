import { RrError, type Csr, type Rng } from '@robustrec/core';
import type { DefenseDef } from '../types';

/**
 * GraphRfi (Zhang et al., KDD 2020; a detection-based baseline of the PamaCF paper, which trains
 * it on Random-attack profiles): a fraud detector gives each user a probability p_u of being
 * fake, and the recommender's loss weights that user's terms by 1 − p_u. The original is a GCN
 * rating model trained jointly with a neural random forest on explicit ratings and on users
 * LABELLED as fraudsters. This platform trains implicit-feedback BPR (MF, LightGCN, NeuMF) on
 * unlabelled training users, so the choices made here are:
 * - Labelled data: Random-attack fake users synthesised by the defense itself (the paper's
 *   training attack), never the training data's own fake users: every training user with an
 *   interaction is a negative (0) of the detector, injected attackers included (a
 *   positive-unlabelled setting; the defense is never told who is fake).
 *   ceil(synthetic_ratio · #training users) profiles, drawn once when the defense is created,
 *   from the run seed (root.fork('defense')): each profile's length is the degree of a training
 *   user drawn uniformly (lengths distributed as the genuine ones', so length alone separates
 *   nothing), its items uniform without replacement over all items. They get no target items:
 *   the injected attack's targets are unknown to the defense, and the popularity features are
 *   order statistics, which a few shared targets (made popular by their own attack) barely move.
 * - Detector: L2-regularised logistic regression (plain TS, float64, full batch, Newton steps
 *   with backtracking from 0; deterministic) on four standardised per-profile features, computed
 *   the same way for a training user and a synthetic one:
 *   log |P|; the median and the lower quartile of log(1 + d_i) over i ∈ P, d_i the item's degree
 *   among the OTHER users (a training user's own interactions do not make its items more popular
 *   than a synthetic profile's, which is not in the data); and the "graph" feature, the
 *   coherence of P in the model's current item space, log ||mean_{i∈P} e_i/||e_i|| || (the mean
 *   cosine of P's items with their normalised centroid), from the backbone's final (scored)
 *   item rows (LightGCN: propagated over the training graph; NeuMF: the [p ; p'] rows). The
 *   user's own embedding is not used: a synthetic profile has none, and the feature must mean
 *   the same for both classes. (Mean/std/top-decile share of popularity were tried and left
 *   out: the authors' Random profiles carry their 5 shared targets, which shift those features
 *   away from target-less synthetic ones; on Gowalla their AUC fell to 0.6–0.7.)
 * - When: refitted at the start of every epoch from warmup_epochs on (the coherence feature
 *   follows the embeddings; with random item rows it is noise), and every training user's p_u
 *   recomputed; before warmup_epochs every weight is 1.
 * - Weighting: triple b of user u counts w_u·softplus(s_uj − s_ui) in the batch's mean BPR loss
 *   (the mean stays over n: a down-weighted user's terms shrink, nobody else's grow), with
 *   w_u = (1 − p_u)^gamma, and w_u = 0 when p_u > threshold. gamma = 1, threshold = 1 (the
 *   defaults) is GraphRfi's soft weighting, nothing dropped; gamma = 0 with threshold < 1 is a
 *   hard filter. The L2 term is not weighted and the sampler is untouched (a dropped user's
 *   triples are still drawn, with weight 0). No gradient flows into p (a constant of the
 *   epoch). When every weight is 1 (gamma 0 with threshold 1, or before warmup) the step is the
 *   plain backbone's, bit for bit; a threshold that zeroes every training user stops training
 *   with FAILED_PRECONDITION naming it.
 * - Left open by the papers and fixed here: the feature set (no GCN over ratings: implicit
 *   data has none), the detector family, how the weight enters BPR, and the synthetic attack's
 *   count and length distribution. synthetic_ratio sets the detector's prior: p_u is a posterior
 *   under ~synthetic_ratio fakes per genuine user (default 0.1), so genuine users keep weights
 *   near 1 while profiles like the synthetic ones are pushed towards 0.
 * The fraud probabilities of the last refit (float32; the weights are computed from those
 * values) and the weights in force are checkpointed (defense/graphrfi.p_fraud,
 * defense/graphrfi.weight); state() reports the detector (coefficients, its AUC on its own
 * labelled data, how many users have p > 0.5, the epoch of the last refit).
 */

/** Feature names, in the detector's order. */
export const GRAPHRFI_FEATURES = ['log_profile_size', 'median_log_popularity', 'lower_quartile_log_popularity', 'log_coherence'] as const;
const F = GRAPHRFI_FEATURES.length;

/** Profiles as a CSR-like pair (rows' item lists). */
interface Profiles {
  indptr: Uint32Array;
  indices: Uint32Array;
  count: number;
}

/**
 * Random-attack profiles: each one's length the degree of a uniformly drawn active training
 * user, its items uniform without replacement over all items.
 */
export function syntheticRandomProfiles(train: Csr, count: number, rng: Rng): Profiles {
  const active: number[] = [];
  for (let u = 0; u < train.numRows; u++) if (train.indptr[u + 1] > train.indptr[u]) active.push(u);
  const ni = train.numCols;
  const indptr = new Uint32Array(count + 1);
  const items: number[] = [];
  const mark = new Uint8Array(ni);
  for (let f = 0; f < count; f++) {
    const u = active[rng.int(active.length)];
    const k = Math.min(train.indptr[u + 1] - train.indptr[u], ni);
    const start = items.length;
    while (items.length - start < k) {
      const i = rng.int(ni);
      if (mark[i]) continue;
      mark[i] = 1;
      items.push(i);
    }
    for (let q = start; q < items.length; q++) mark[items[q]] = 0;
    indptr[f + 1] = items.length;
  }
  return { indptr, indices: Uint32Array.from(items), count };
}

/**
 * The popularity features of each profile into x (row-major, F per row): log |P|, and the median
 * and lower quartile of log(1 + d_i) over P, d_i the item's degree among the OTHER users
 * (deg − own: own = 1 for a training user, whose interactions deg counts, 0 for a synthetic
 * profile, which is not in the data).
 */
function popularityFeatures(p: Profiles, deg: Float64Array, own: number, x: Float64Array, lps: Float64Array): void {
  for (let r = 0; r < p.count; r++) {
    const a = p.indptr[r], b = p.indptr[r + 1];
    const k = b - a;
    const o = r * F;
    x[o] = Math.log(Math.max(k, 1));
    if (k === 0) {
      x[o + 1] = x[o + 2] = 0;
      continue;
    }
    const v = lps.subarray(0, k);
    for (let q = a; q < b; q++) v[q - a] = Math.log1p(Math.max(deg[p.indices[q]] - own, 0));
    v.sort();
    x[o + 1] = quantile(v, 0.5);
    x[o + 2] = quantile(v, 0.25);
  }
}

/** The q-quantile of sorted v, linear between order statistics. */
function quantile(v: Float64Array, q: number): number {
  const h = q * (v.length - 1);
  const lo = Math.floor(h);
  return lo + 1 < v.length ? v[lo] + (h - lo) * (v[lo + 1] - v[lo]) : v[lo];
}

/** log ||mean of the unit item rows of each profile|| into x[r·F + 3]. */
function coherenceFeature(p: Profiles, unit: Float64Array, w: number, x: Float64Array): void {
  const acc = new Float64Array(w);
  for (let r = 0; r < p.count; r++) {
    const a = p.indptr[r], b = p.indptr[r + 1];
    acc.fill(0);
    for (let q = a; q < b; q++) {
      const o = p.indices[q] * w;
      for (let c = 0; c < w; c++) acc[c] += unit[o + c];
    }
    let s = 0;
    for (let c = 0; c < w; c++) s += acc[c] * acc[c];
    const k = b - a;
    x[r * F + 3] = Math.log(Math.max(k > 0 ? Math.sqrt(s) / k : 0, 1e-6));
  }
}

const softplus = (z: number): number => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));
const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

export interface Detector {
  /** Standardisation of the features (mean, std per feature). */
  mean: number[];
  std: number[];
  /** Coefficients of the standardised features, then the bias. */
  coef: number[];
  /** Newton steps taken. */
  steps: number;
}

/**
 * L2-regularised logistic regression, (1/N)·Σ [softplus(z) − y·z] + l2/2·||β||² (bias not
 * penalised), by Newton steps with backtracking from β = 0. x: N rows of F features.
 */
export function fitDetector(x: Float64Array, y: Uint8Array, l2: number, maxSteps: number): Detector {
  const N = y.length;
  const D = F + 1;
  const mean = new Array<number>(F).fill(0), std = new Array<number>(F).fill(0);
  for (let r = 0; r < N; r++) for (let f = 0; f < F; f++) mean[f] += x[r * F + f];
  for (let f = 0; f < F; f++) mean[f] /= N;
  for (let r = 0; r < N; r++) for (let f = 0; f < F; f++) std[f] += (x[r * F + f] - mean[f]) ** 2;
  for (let f = 0; f < F; f++) std[f] = Math.sqrt(std[f] / N) || 1;
  const z = new Float64Array(N * D);
  for (let r = 0; r < N; r++) {
    for (let f = 0; f < F; f++) z[r * D + f] = (x[r * F + f] - mean[f]) / std[f];
    z[r * D + F] = 1;
  }
  const beta = new Float64Array(D);
  const objective = (b: Float64Array): number => {
    let s = 0;
    for (let r = 0; r < N; r++) {
      let t = 0;
      for (let d = 0; d < D; d++) t += z[r * D + d] * b[d];
      s += softplus(t) - (y[r] ? t : 0);
    }
    let reg = 0;
    for (let d = 0; d < F; d++) reg += b[d] * b[d];
    return s / N + (l2 / 2) * reg;
  };
  let obj = objective(beta);
  let steps = 0;
  const g = new Float64Array(D), H = new Float64Array(D * D), trial = new Float64Array(D);
  for (; steps < maxSteps; steps++) {
    g.fill(0);
    H.fill(0);
    for (let r = 0; r < N; r++) {
      const o = r * D;
      let t = 0;
      for (let d = 0; d < D; d++) t += z[o + d] * beta[d];
      const p = sigmoid(t);
      const e = p - y[r];
      const h = p * (1 - p);
      for (let d = 0; d < D; d++) {
        g[d] += e * z[o + d];
        for (let c = 0; c <= d; c++) H[d * D + c] += h * z[o + d] * z[o + c];
      }
    }
    for (let d = 0; d < D; d++) {
      g[d] = g[d] / N + (d < F ? l2 * beta[d] : 0);
      for (let c = 0; c <= d; c++) H[d * D + c] = H[c * D + d] = H[d * D + c] / N;
      H[d * D + d] += (d < F ? l2 : 0) + 1e-12;
    }
    const delta = solveSpd(H, g, D);
    let t = 1, improved = false;
    for (let h = 0; h < 40; h++, t /= 2) {
      for (let d = 0; d < D; d++) trial[d] = beta[d] - t * delta[d];
      const o2 = objective(trial);
      if (o2 <= obj) {
        obj = o2;
        beta.set(trial);
        improved = true;
        break;
      }
    }
    let size = 0;
    for (let d = 0; d < D; d++) size = Math.max(size, Math.abs(t * delta[d]));
    if (!improved || size < 1e-9) {
      steps++;
      break;
    }
  }
  return { mean, std, coef: Array.from(beta), steps };
}

/** Solves H·v = g for a symmetric positive definite H (Cholesky). */
function solveSpd(H: Float64Array, g: Float64Array, D: number): Float64Array {
  const L = new Float64Array(D * D);
  for (let i = 0; i < D; i++)
    for (let j = 0; j <= i; j++) {
      let s = H[i * D + j];
      for (let k = 0; k < j; k++) s -= L[i * D + k] * L[j * D + k];
      L[i * D + j] = i === j ? Math.sqrt(Math.max(s, 1e-300)) : s / L[j * D + j];
    }
  const v = new Float64Array(D);
  for (let i = 0; i < D; i++) {
    let s = g[i];
    for (let k = 0; k < i; k++) s -= L[i * D + k] * v[k];
    v[i] = s / L[i * D + i];
  }
  for (let i = D - 1; i >= 0; i--) {
    let s = v[i];
    for (let k = i + 1; k < D; k++) s -= L[k * D + i] * v[k];
    v[i] = s / L[i * D + i];
  }
  return v;
}

/** p = σ(β·standardised x) of each row. */
export function predictDetector(det: Detector, x: Float64Array, rows: number, out: Float64Array): void {
  for (let r = 0; r < rows; r++) {
    let t = det.coef[F];
    for (let f = 0; f < F; f++) t += det.coef[f] * ((x[r * F + f] - det.mean[f]) / det.std[f]);
    out[r] = sigmoid(t);
  }
}

/** Area under the ROC curve of scores for labels (1 = positive), ties counted half. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const idx = Array.from({ length: scores.length }, (_, k) => k).sort((a, b) => scores[a] - scores[b]);
  let pos = 0, neg = 0, rankSum = 0;
  for (let k = 0; k < idx.length; ) {
    let e = k;
    while (e + 1 < idx.length && scores[idx[e + 1]] === scores[idx[k]]) e++;
    const rank = (k + e) / 2 + 1;
    for (let q = k; q <= e; q++) if (labels[idx[q]]) ((pos++), (rankSum += rank));
    neg += e - k + 1;
    k = e + 1;
  }
  neg -= pos;
  return pos === 0 || neg === 0 ? NaN : (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

export const graphrfi: DefenseDef = {
  name: 'graphrfi',
  description: 'GraphRfi: a fraud detector trained on synthesised Random-attack users weights each user\'s BPR terms by (1 − p_fraud)^gamma',
  params: {
    warmup_epochs: { default: 5, min: 0, integer: true, description: 'epochs of plain BPR before the first detection (the coherence feature needs trained item rows)' },
    gamma: { default: 1, min: 0, max: 10, description: 'a user\'s BPR weight is (1 − p_fraud)^gamma (1: GraphRfi\'s 1 − p; 0: no soft down-weighting)' },
    threshold: { default: 1, min: 0, max: 1, description: 'users with p_fraud > threshold get weight 0 (1: nobody dropped)' },
    synthetic_ratio: { default: 0.1, positive: true, max: 10, description: 'synthesised Random-attack users (the detector\'s positives) per training user' },
    detector_l2: { default: 0.01, positive: true, max: 100, description: 'L2 penalty of the logistic-regression detector (standardised features)' },
    detector_steps: { default: 50, min: 1, max: 1000, integer: true, description: 'maximum Newton steps per refit' },
  },
  options: {},
  create({ params, train, rng }) {
    const nu = train.numRows;
    const ni = train.numCols;
    // item degrees in the training data
    const deg = new Float64Array(ni);
    for (let p = 0; p < train.indptr[nu]; p++) deg[train.indices[p]]++;
    const genuine: Profiles = { indptr: train.indptr, indices: train.indices, count: nu };
    let numActive = 0;
    for (let u = 0; u < nu; u++) if (train.indptr[u + 1] > train.indptr[u]) numActive++;
    const fakes = syntheticRandomProfiles(train, Math.ceil(params.synthetic_ratio * numActive), rng.fork('graphrfi.synthetic'));
    const xg = new Float64Array(nu * F);
    const xf = new Float64Array(fakes.count * F);
    const lps = new Float64Array(ni);
    popularityFeatures(genuine, deg, 1, xg, lps);
    popularityFeatures(fakes, deg, 0, xf, lps);
    const pFraud = new Float32Array(nu);
    let weights: Float32Array | undefined;
    let detector: Detector | undefined;
    let selfAuc = NaN;
    let fittedAt = -1;

    return {
      apply: () => 0,
      onEpochStart({ epoch, backbone }) {
        if (epoch < params.warmup_epochs) {
          weights = undefined;
          return;
        }
        const { items } = backbone.finalEmbeddings();
        const w = backbone.width;
        const unit = new Float64Array(ni * w);
        for (let i = 0; i < ni; i++) {
          let s = 0;
          for (let c = i * w; c < (i + 1) * w; c++) s += items[c] * items[c];
          const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
          for (let c = i * w; c < (i + 1) * w; c++) unit[c] = items[c] * inv;
        }
        coherenceFeature(genuine, unit, w, xg);
        coherenceFeature(fakes, unit, w, xf);
        // labelled set: every training user with an interaction (0), the synthetic users (1)
        const rows = numActive + fakes.count;
        const x = new Float64Array(rows * F);
        const y = new Uint8Array(rows);
        let r = 0;
        for (let u = 0; u < nu; u++) if (train.indptr[u + 1] > train.indptr[u]) x.set(xg.subarray(u * F, (u + 1) * F), r++ * F);
        x.set(xf, r * F);
        y.fill(1, r);
        detector = fitDetector(x, y, params.detector_l2, params.detector_steps);
        const px = new Float64Array(rows);
        predictDetector(detector, x, rows, px);
        selfAuc = rocAuc(px, y);
        const pu = new Float64Array(nu);
        predictDetector(detector, xg, nu, pu);
        const wt = new Float32Array(nu);
        let allOne = true, total = 0;
        for (let u = 0; u < nu; u++) {
          const active = train.indptr[u + 1] > train.indptr[u];
          const p = active ? Math.fround(pu[u]) : 0; // the stored p_fraud: weights follow from the checkpointed values
          pFraud[u] = p;
          wt[u] = p > params.threshold ? 0 : Math.pow(1 - p, params.gamma);
          if (wt[u] !== 1) allOne = false;
          if (active) total += wt[u];
        }
        if (total === 0)
          throw new RrError('FAILED_PRECONDITION', `graphrfi: threshold ${params.threshold} gives every training user weight 0 at epoch ${epoch + 1}; raise it`, 'config.defense.params.threshold');
        weights = allOne ? undefined : wt;
        fittedAt = epoch;
      },
      userWeights: () => weights,
      tensors: (): Record<string, Float32Array> => ({ 'graphrfi.p_fraud': pFraud, ...(weights ? { 'graphrfi.weight': weights } : {}) }),
      state() {
        let flagged = 0;
        for (let u = 0; u < nu; u++) if (pFraud[u] > 0.5) flagged++;
        return {
          fitted_epoch: fittedAt,
          synthetic_users: fakes.count,
          flagged,
          detector_auc: Number.isFinite(selfAuc) ? selfAuc : null,
          detector: detector ? { features: GRAPHRFI_FEATURES, coef: detector.coef, mean: detector.mean, std: detector.std, steps: detector.steps } : null,
        };
      },
      restore(t, st) {
        const p = t['graphrfi.p_fraud'];
        if (p) pFraud.set(p);
        const wt = t['graphrfi.weight'];
        weights = wt ? Float32Array.from(wt) : undefined;
        const s = st as { fitted_epoch?: number; detector_auc?: number | null; detector?: Detector | null } | undefined;
        fittedAt = s?.fitted_epoch ?? -1;
        selfAuc = s?.detector_auc ?? NaN;
        detector = s?.detector ?? undefined;
      },
    };
  },
};
