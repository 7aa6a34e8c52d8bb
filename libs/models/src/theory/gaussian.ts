/**
 * The paper's theoretical setting (Section 3, Appendix D): the Gaussian single-item recommender.
 *
 * Definition 1: n users with ratings r ∈ {±1} (uniform), an average embedding ū ∈ R^d and σ > 0;
 * user embeddings u ~ N(r·ū, σ²I), the item embedding v = (1/n) Σ r·u, prediction sgn(<u, v>).
 * Standard loss (Eq. 2): L = −Σ r·<u, v>; adversarial loss (Eq. 3) adds λ·L(Θ + Δ) with the
 * first-order worst-case perturbations Δu = −ε·r·v/‖v‖, Δv = −ε·r·u/‖u‖ (Eq. 14), which gives the
 * update of Eq. 15: u ← u + η(1+λ)·r·v − ηλε·u/‖u‖ and v ← v + η(1+λ)·Σ r·u − ηλ(Σ ε)·v/‖v‖.
 *
 * Definitions 2 and 3: a user's (α-poisoned) recommendation error is a probability over the item's
 * initial embedding v(0) ~ N(ū, σ²/(n−1)·I), the user's learned embedding u held fixed. This file
 * has the sampler, the exact training dynamics (used to reach u(t), u(t+k) and the item scale C),
 * and the Monte-Carlo estimate of Definition 2/3's probabilities with common random numbers.
 * Everything random goes through the project's seeded Rng.
 */
import { Rng } from '@robustrec/core';

/** Parameters of one Gaussian recommender (the paper's symbols). */
export interface GaussianParams {
  /** genuine users */
  n: number;
  /** embedding dimension */
  d: number;
  sigma: number;
  /** ‖ū‖ */
  uBarNorm: number;
  /** learning rate η */
  eta: number;
  /** adversarial weight λ */
  lambda: number;
  /** standard (pre-training) epochs t */
  t: number;
  /** fake users n′ (0 = clean) */
  nFake: number;
  /** the fake users' box ‖u′‖∞ ≤ α */
  alpha: number;
}

export const DEFAULT_PARAMS: GaussianParams = { n: 50, d: 16, sigma: 1, uBarNorm: 1, eta: 0.02, lambda: 1, t: 2, nFake: 0, alpha: 0 };

export interface GaussianSystem {
  p: GaussianParams;
  uBar: Float64Array;
  /** ratings of the genuine users, then of the fake users */
  r: Float64Array;
  /** embeddings, genuine users first (n), then the fake users (n′) */
  U: Float64Array[];
  /** Σ over fake users of r′·u′ (the poison's contribution to v′(0), times n + n′) */
  F: Float64Array;
  /** v′(0) = (Σ r·u + F)/(n + n′) (= v(0) when clean) */
  v0: Float64Array;
}

export const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
export const norm = (a: ArrayLike<number>): number => Math.sqrt(dot(a, a));

/**
 * Samples Definition 1 (plus n′ fake users when p.nFake > 0). ū points in a random direction;
 * the fake users are the "push-down" poison: every fake user has r′·u′ = −α·sgn(ū) (each
 * coordinate at the box's edge, against ū), the strongest poison the box allows against users
 * with r = +1 along ū.
 */
export function sampleSystem(p: GaussianParams, rng: Rng): GaussianSystem {
  const { n, d, sigma, uBarNorm, nFake, alpha } = p;
  const dir = Float64Array.from({ length: d }, () => rng.normal());
  const dn = norm(dir);
  const uBar = dir.map((x) => (x / dn) * uBarNorm);
  const r = new Float64Array(n + nFake);
  const U: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    r[i] = rng.next() < 0.5 ? 1 : -1;
    U.push(Float64Array.from(uBar, (m) => r[i]! * m + sigma * rng.normal()));
  }
  const F = new Float64Array(d);
  for (let j = 0; j < nFake; j++) {
    const rr = j % 2 === 0 ? 1 : -1;
    r[n + j] = rr;
    // r′u′ = −α sgn(ū)  ⇒  u′ = −r′ α sgn(ū)
    const u = Float64Array.from(uBar, (m) => -rr * alpha * Math.sign(m));
    U.push(u);
    for (let k = 0; k < d; k++) F[k] += rr * u[k]!;
  }
  const v0 = new Float64Array(d);
  for (let i = 0; i < n + nFake; i++) for (let k = 0; k < d; k++) v0[k] += (r[i]! * U[i]![k]!) / (n + nFake);
  return { p, uBar, r, U, F, v0 };
}

/** A per-user perturbation magnitude rule: user norms (genuine and fake) → ε per user. */
export type MagnitudeRule = (userNorms: Float64Array, p: GaussianParams) => Float64Array;

/** State of a training run: embeddings, item, and the item's scale C = <v, v′(0)>/‖v′(0)‖². */
export interface TrainState {
  U: Float64Array[];
  v: Float64Array;
  /** C: the item embedding as a multiple of its initial value (the paper's M(t, η), C_{t+k}) */
  C: number;
  /** whether v stayed a positive multiple of v′(0) (the precondition of Eq. 15) at every epoch */
  itemPositive: boolean;
  /** whether every genuine user met ε_u < min(‖u‖, ‖ū‖)/(ηλ) at every adversarial epoch */
  conditionMet: boolean;
}

/**
 * Trains the whole system: p.t standard epochs (Eq. 2), then k adversarial epochs (Eq. 3 / 15)
 * with the per-user magnitude rule. Full-batch gradient steps with simultaneous updates, exactly
 * the recursions of Proposition 1 (standard) and Eq. 15 (adversarial).
 */
export function train(sys: GaussianSystem, k: number, rule?: MagnitudeRule): TrainState {
  const { p, r } = sys;
  const { eta, lambda, d } = p;
  const uBarNorm = norm(sys.uBar);
  const U = sys.U.map((u) => Float64Array.from(u));
  let v = Float64Array.from(sys.v0);
  let itemPositive = true;
  let conditionMet = true;
  const N = U.length;
  for (let e = 0; e < p.t + k; e++) {
    const adv = e >= p.t;
    const norms = Float64Array.from(U, (u) => norm(u));
    const eps = adv && rule ? rule(norms, p) : new Float64Array(N);
    if (adv) for (let i = 0; i < p.n; i++) if (!(eps[i]! < Math.min(norms[i]!, uBarNorm) / (eta * lambda))) conditionMet = false;
    const g = new Float64Array(d);
    for (let i = 0; i < N; i++) for (let q = 0; q < d; q++) g[q] += r[i]! * U[i]![q]!;
    const vn = norm(v);
    let epsSum = 0;
    for (let i = 0; i < N; i++) {
      const u = U[i]!;
      const a = adv ? 1 + lambda : 1;
      const shrink = adv ? 1 - (eta * lambda * eps[i]!) / norms[i]! : 1;
      for (let q = 0; q < d; q++) u[q] = shrink * u[q]! + eta * a * r[i]! * v[q]!;
      epsSum += eps[i]!;
    }
    const a = adv ? 1 + lambda : 1;
    const vShrink = adv ? 1 - (eta * lambda * epsSum) / vn : 1;
    v = v.map((x, q) => vShrink * x + eta * a * g[q]!);
    if (dot(v, sys.v0) <= 0) itemPositive = false;
  }
  return { U, v, C: dot(v, sys.v0) / dot(sys.v0, sys.v0), itemPositive, conditionMet };
}

/**
 * Monte-Carlo draws of Definition 2/3's v′(0): v(0) = ū + ξ, ξ ~ N(0, σ²/(n−1)·I), and
 * v′(0) = (n·v(0) + F)/(n + n′). Stored as rows (D × d) with their squared norms.
 */
export interface Draws {
  D: number;
  d: number;
  V: Float64Array;
  vv: Float64Array;
}

export function drawItems(sys: GaussianSystem, D: number, rng: Rng): Draws {
  const { n, d, sigma, nFake } = sys.p;
  const s = sigma / Math.sqrt(n - 1);
  const V = new Float64Array(D * d);
  const vv = new Float64Array(D);
  for (let j = 0; j < D; j++) {
    let q2 = 0;
    for (let q = 0; q < d; q++) {
      const x = (n * (sys.uBar[q]! + s * rng.normal()) + sys.F[q]!) / (n + nFake);
      V[j * d + q] = x;
      q2 += x * x;
    }
    vv[j] = q2;
  }
  return { D, d, V, vv };
}

/** <u, v′(0)_j> for every draw j. */
export function dotsWithDraws(u: ArrayLike<number>, dr: Draws): Float64Array {
  const out = new Float64Array(dr.D);
  for (let j = 0; j < dr.D; j++) {
    let s = 0;
    const o = j * dr.d;
    for (let q = 0; q < dr.d; q++) s += u[q]! * dr.V[o + q]!;
    out[j] = s;
  }
  return out;
}

/**
 * One user's error probabilities over the draws (Definition 2/3), the user's embedding u fixed and
 * the item at v = C·v′(0):
 * - now:  P[r<u, v′(0)> ≤ 0] (the error at the current epoch);
 * - std:  P[r<u + η r C v′(0), v′(0)> ≤ 0] (after one standard epoch, Eq. 13);
 * - adv:  P[r<(1 − ηλε/‖u‖)u + η(1+λ) r C v′(0), v′(0)> ≤ 0] (after one adversarial epoch, Eq. 16);
 * the next item is a positive multiple of v′(0) (the paper's precondition; checked separately on
 * the trained system), so only the user's update decides the sign.
 */
export function userErrors(dots: Float64Array, vv: Float64Array, r: number, uNorm: number, C: number, eps: number, p: GaussianParams): { now: number; std: number; adv: number } {
  const { eta, lambda } = p;
  const shrink = 1 - (eta * lambda * eps) / uNorm;
  let now = 0;
  let std = 0;
  let adv = 0;
  for (let j = 0; j < dots.length; j++) {
    const rd = r * dots[j]!;
    if (rd <= 0) now++;
    if (rd + eta * C * vv[j]! <= 0) std++;
    if (shrink * rd + eta * (1 + lambda) * C * vv[j]! <= 0) adv++;
  }
  const D = dots.length;
  return { now: now / D, std: std / D, adv: adv / D };
}

/** erfc with fractional error < 1.2e-7 everywhere (Numerical Recipes' Chebyshev fit). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const ans =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? ans : 2 - ans;
}

/** Standard normal CDF Φ. */
export const Phi = (x: number): number => 0.5 * erfc(-x / Math.SQRT2);

/** Φ(b) − Φ(a) computed in the tail where both are on one side (no cancellation). */
export function phiDiff(b: number, a: number): number {
  if (a >= 0 && b >= 0) return 0.5 * (erfc(a / Math.SQRT2) - erfc(b / Math.SQRT2));
  return Phi(b) - Phi(a);
}

/** Mean and (sample) standard deviation. */
export function meanStd(xs: number[]): { mean: number; std: number; n: number } {
  const n = xs.length;
  const mean = xs.reduce((s, x) => s + x, 0) / Math.max(1, n);
  const v = n > 1 ? xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(v), n };
}
