/**
 * Numerical checks of the paper's Theorems 1–4 (Section 3, proofs in Appendix D) on the Gaussian
 * recommender of ./gaussian.ts. Each check sweeps one parameter over several seeds and returns,
 * per sweep point, the measured left-hand side, the bound (right-hand side), whether the
 * inequality held for every genuine user of every seed, and the gap (how tight).
 *
 * The probabilities are Definition 2/3's: over v(0) ~ N(ū, σ²/(n−1) I), the user's embedding held
 * fixed at its trained value (u(t) after t standard epochs, or u(t+k) after k more adversarial
 * ones), estimated by Monte Carlo with the same draws for every sweep point and every rule
 * (common random numbers), so a difference between two columns is not sampling noise.
 */
import { Rng } from '@robustrec/core';
import { DEFAULT_PARAMS, type Draws, type GaussianParams, type GaussianSystem, type MagnitudeRule, Phi, dot, dotsWithDraws, drawItems, meanStd, norm, phiDiff, sampleSystem, train, userErrors } from './gaussian';

/* ---------------------------------------------------------------- magnitude rules */

/** min(‖u‖, ‖ū‖)/(ηλ): the largest magnitude the theorems allow for a user (their precondition). */
export const epsLimit = (uNorm: number, p: GaussianParams): number => Math.min(uNorm, p.uBarNorm) / (p.eta * p.lambda);

/** APR-style: one ε for everybody, κ times the largest ε that keeps every genuine user within the precondition. */
export const uniformRule =
  (kappa: number): MagnitudeRule =>
  (norms, p) => {
    let m = Infinity;
    for (let i = 0; i < p.n; i++) m = Math.min(m, epsLimit(norms[i]!, p));
    return new Float64Array(norms.length).fill(kappa * m);
  };

/** User-adaptive (Corollary 1): each user gets κ times its own limit, ε_u = κ·min(‖u‖, ‖ū‖)/(ηλ). */
export const adaptiveRule =
  (kappa: number): MagnitudeRule =>
  (norms, p) =>
    norms.map((x) => kappa * epsLimit(x, p));

/**
 * PamaCF's Eq. 5 form: ε_u = ρ·c(u,t), c = sigmoid((‖u‖ − mean‖u‖)/mean‖u‖), with ρ = 2κ times the
 * limit of a user of average norm (so that user gets κ of its limit, like the other two rules).
 */
export const pamacfRule =
  (kappa: number): MagnitudeRule =>
  (norms, p) => {
    let mean = 0;
    for (let i = 0; i < p.n; i++) mean += norms[i]! / p.n;
    const rho = 2 * kappa * epsLimit(mean, p);
    return norms.map((x) => rho / (1 + Math.exp(-(x - mean) / mean)));
  };

export type RuleName = 'uniform' | 'adaptive' | 'pamacf';
export const RULES: Record<RuleName, (kappa: number) => MagnitudeRule> = { uniform: uniformRule, adaptive: adaptiveRule, pamacf: pamacfRule };

/* ---------------------------------------------------------------- results */

export interface Stat {
  mean: number;
  std: number;
  n: number;
}

export interface SweepRow {
  x: number;
  /** a magnitude rule or another variant; '' when the sweep has one */
  series: string;
  /** population means over genuine users, mean ± std over seeds (e.g. lhs, rhs, lower, upper) */
  values: Record<string, Stat>;
  /** the inequality held for every genuine user of every seed (Monte-Carlo tolerance: 3 s.e.) */
  holds: boolean;
  /** (user, seed) pairs that broke it */
  violations: number;
  /** smallest and largest per-user gap (bound slack: 0 = tight), over all seeds */
  gapMin: number;
  gapMax: number;
  /** population-mean gap, mean over seeds */
  gapMean: number;
  /** share of genuine users within the theorem's precondition ε_u < min(‖u‖, ‖ū‖)/(ηλ) */
  inCondition: number;
  /** share of seeds whose real system kept the item a positive multiple of v′(0) after one adversarial epoch */
  itemPositive?: number;
  /**
   * Theorems 3/4, per-user tightness over all users and seeds: the largest measured/upper (1 = some
   * user reaches the upper bound) and the largest lower/measured among users with a measured
   * reduction above 1% (1 = the lower bound is reached).
   */
  attain?: { upper: number; lower: number };
}

export interface SweepResult {
  theorem: 1 | 2 | 3 | 4;
  name: string;
  /** the inequality checked, in words */
  relation: string;
  param: string;
  /** value keys in display order, with their plot labels */
  columns: Array<[key: string, label: string]>;
  rows: SweepRow[];
  params: GaussianParams;
  seeds: number;
  draws: number;
}

export interface SweepOptions {
  seeds?: number;
  draws?: number;
  params?: Partial<GaussianParams>;
  /** first seed (seeds are seed0, seed0 + 1, …) */
  seed0?: number;
}

const resolve = (o: SweepOptions, extra: Partial<GaussianParams> = {}): { p: GaussianParams; seeds: number; draws: number; seed0: number } => ({
  p: { ...DEFAULT_PARAMS, ...extra, ...o.params },
  seeds: o.seeds ?? 5,
  draws: o.draws ?? 4000,
  seed0: o.seed0 ?? 1,
});

/** One seed's sampled system and item draws (the draws are shared by every sweep point). */
function setup(p: GaussianParams, seed: number, draws: number): { sys: GaussianSystem; dr: Draws } {
  const rng = new Rng(seed);
  const sys = sampleSystem(p, rng.fork('system'));
  const dr = drawItems(sys, draws, rng.fork('draws'));
  return { sys, dr };
}

const tol = (prob: number, D: number): number => 3 * Math.sqrt((prob * (1 - prob)) / D) + 1 / D;

/** Accumulates per-seed population means and per-user gaps into a SweepRow. */
class RowAcc {
  private vals: Record<string, number[]> = {};
  violations = 0;
  gapMin = Infinity;
  gapMax = -Infinity;
  private gaps: number[] = [];
  private cond: number[] = [];
  private item: number[] = [];
  attain?: { upper: number; lower: number };
  reach(upper: number, lower: number): void {
    this.attain ??= { upper: 0, lower: 0 };
    if (Number.isFinite(upper)) this.attain.upper = Math.max(this.attain.upper, upper);
    if (Number.isFinite(lower)) this.attain.lower = Math.max(this.attain.lower, lower);
  }
  add(values: Record<string, number>, gapMean: number, inCondition: number, itemPositive?: boolean): void {
    for (const [k, v] of Object.entries(values)) (this.vals[k] ??= []).push(v);
    this.gaps.push(gapMean);
    this.cond.push(inCondition);
    if (itemPositive !== undefined) this.item.push(itemPositive ? 1 : 0);
  }
  gap(g: number): void {
    this.gapMin = Math.min(this.gapMin, g);
    this.gapMax = Math.max(this.gapMax, g);
  }
  row(x: number, series: string): SweepRow {
    const values: Record<string, Stat> = {};
    for (const [k, v] of Object.entries(this.vals)) values[k] = meanStd(v);
    return {
      x,
      series,
      values,
      holds: this.violations === 0,
      violations: this.violations,
      gapMin: this.gapMin,
      gapMax: this.gapMax,
      gapMean: meanStd(this.gaps).mean,
      inCondition: meanStd(this.cond).mean,
      ...(this.item.length ? { itemPositive: meanStd(this.item).mean } : {}),
      ...(this.attain ? { attain: this.attain } : {}),
    };
  }
}

/* ---------------------------------------------------------------- Theorems 1 and 2 */

/**
 * Theorems 1 (clean) and 2 (α-poisoned): after t standard epochs, one more epoch of standard
 * training leaves a larger (α-poisoned) recommendation error than one epoch of adversarial
 * training: P[f(t+1) ≠ r] > P^adv[f(t+1) ≠ r], when ε < min(‖u(t)‖, ‖ū‖)/(ηλ).
 * Sweep: κ = ε_u / (min(‖u(t)‖, ‖ū‖)/(ηλ)), each user at the same fraction κ of its limit (κ ≥ 1
 * leaves the precondition). LHS = mean P_std, RHS = mean P_adv; per-user check P_std ≥ P_adv
 * (exact under common random numbers when the precondition holds) and a strict population gap.
 * `reverse` flips the inequality (a negative control: it must fail).
 */
export function checkTheorem12(theorem: 1 | 2, kappas: number[], o: SweepOptions & { reverse?: boolean } = {}): SweepResult {
  const extra: Partial<GaussianParams> = theorem === 2 ? { nFake: 5, alpha: 0.5 } : {};
  const { p, seeds, draws, seed0 } = resolve(o, extra);
  if (theorem === 1 && p.nFake > 0) throw new RangeError('Theorem 1 is the clean system: nFake must be 0');
  const accs = kappas.map(() => new RowAcc());
  for (let s = 0; s < seeds; s++) {
    const { sys, dr } = setup(p, seed0 + s, draws);
    const st = train(sys, 0);
    const users = Array.from({ length: p.n }, (_, i) => {
      const u = st.U[i]!;
      return { u, r: sys.r[i]!, norm: norm(u), dots: dotsWithDraws(u, dr) };
    });
    kappas.forEach((kappa, xi) => {
      const acc = accs[xi]!;
      let lhs = 0;
      let rhs = 0;
      let inCond = 0;
      for (const us of users) {
        const lim = epsLimit(us.norm, p);
        const eps = kappa * lim;
        if (eps < lim) inCond++;
        const e = userErrors(us.dots, dr.vv, us.r, us.norm, st.C, eps, p);
        lhs += e.std / p.n;
        rhs += e.adv / p.n;
        const gap = o.reverse ? e.adv - e.std : e.std - e.adv;
        acc.gap(gap);
        if (gap < -tol(Math.max(e.std, e.adv), draws)) acc.violations++;
      }
      const gapMean = o.reverse ? rhs - lhs : lhs - rhs;
      if (!(gapMean > 0)) acc.violations++; // the theorem's inequality is strict
      // the real system: one adversarial epoch with per-pair item perturbations (Eq. 15)
      const real = train(sys, 1, adaptiveRule(kappa));
      acc.add({ lhs, rhs }, gapMean, inCond / p.n, real.itemPositive);
    });
  }
  return {
    theorem,
    name: theorem === 1 ? 'theorem1-eps' : 'theorem2-eps',
    relation: o.reverse ? 'P_adv > P_std (reversed: a negative control)' : theorem === 1 ? 'P[f(t+1) != r] > P_adv[f(t+1) != r]' : 'P[f_alpha(t+1) != r] > P_adv[f_alpha(t+1) != r]',
    param: 'κ = ε / ε_max(u)',
    columns: [
      ['lhs', 'standard CF error (LHS)'],
      ['rhs', 'ACF error (RHS)'],
    ],
    rows: kappas.map((x, i) => accs[i]!.row(x, '')),
    params: p,
    seeds,
    draws,
  };
}

/** Theorem 2 over the number of fake users n′ (poison ratio n′/n) at a fixed κ. */
export function checkTheorem2Poison(ratios: number[], kappa: number, o: SweepOptions = {}): SweepResult {
  const rows: SweepRow[] = [];
  let last: SweepResult | undefined;
  for (const ratio of ratios) {
    const base = resolve(o, { nFake: 5, alpha: 0.5 }).p;
    const nFake = Math.round(ratio * base.n);
    last = checkTheorem12(nFake === 0 ? 1 : 2, [kappa], { ...o, params: { ...o.params, nFake, alpha: base.alpha } });
    rows.push({ ...last.rows[0]!, x: ratio });
  }
  return { ...last!, theorem: 2, name: 'theorem2-poison', param: "poison ratio n'/n", rows, params: resolve(o, { nFake: 5, alpha: 0.5 }).p };
}

/* ---------------------------------------------------------------- Theorems 3 and 4 */

export interface BoundOptions extends SweepOptions {
  /** adversarial epochs already run (the theorem's k) */
  k?: number;
  /** shrink the upper bound's argument by this factor (< 1: a too-small bound, a negative control) */
  upperScale?: number;
  /** the theorem-4 τ with ‖ū‖₀ (the paper) or ‖ū‖₁ (what the proof's step needs) */
  tauNorm?: 'l0' | 'l1';
}

interface BoundEval {
  measured: number;
  lower: number;
  upper: number;
  /** the proof's expression before the worst case over <r û, ū> is taken (Eq. before the bounds) */
  approx: number;
  inCondition: boolean;
}

/**
 * Per-user bounds of Theorems 3 and 4 on the one-epoch reduction in (α-poisoned) error
 * Δ = P_adv[f(t+k) ≠ r] − P_adv[f(t+k+1) ≠ r], with Ψ(u, t+k) = (1+λ)γ C_{t+k}/‖u(t+k)‖ and
 * γ = (1 − ηλε/‖u(t+k)‖)^{−1}; C_{t+k} is the trained item's scale relative to v′(0).
 */
function boundsFor(sys: GaussianSystem, st: { U: Float64Array[]; C: number }, dr: Draws, eps: Float64Array, o: BoundOptions): BoundEval[] {
  const p = sys.p;
  const { n, d, sigma, eta, lambda, nFake: nf, alpha } = p;
  const c = Math.sqrt(n - 1) / sigma;
  const ub = p.uBarNorm;
  const ub2 = ub * ub;
  const out: BoundEval[] = [];
  // Theorem 4's constants (Theorem 3 when n′ = 0)
  const beta = (nf / n) * Math.sqrt(d) * alpha + ub;
  const l0 = Array.from(sys.uBar).filter((x) => x !== 0).length;
  const l1 = Array.from(sys.uBar).reduce((s, x) => s + Math.abs(x), 0);
  const tau = 2 * n * nf * alpha * (o.tauNorm === 'l1' ? l1 : l0);
  const noise = (n * d * sigma * sigma) / ((n - 1) * (n + nf));
  const Alow = (n * n * ub2 - tau) / (n * (n + nf)) + noise;
  const Aup = (n * n * ub2 + nf * nf * d * alpha * alpha + tau) / (n * (n + nf)) + noise;
  // E‖v′(0)‖² (exact) for the proof's intermediate expression
  const Ev2 = (n * n * (ub2 + (d * sigma * sigma) / (n - 1)) + 2 * n * dot(sys.uBar, sys.F) + dot(sys.F, sys.F)) / ((n + nf) * (n + nf));
  const upperScale = o.upperScale ?? 1;
  for (let i = 0; i < n; i++) {
    const u = st.U[i]!;
    const r = sys.r[i]!;
    const un = norm(u);
    const e = userErrors(dotsWithDraws(u, dr), dr.vv, r, un, st.C, eps[i]!, p);
    const gamma = 1 / (1 - (eta * lambda * eps[i]!) / un);
    const psi = ((1 + lambda) * gamma * st.C) / un;
    const lower = phiDiff(c * (beta + eta * Alow * psi), c * beta);
    const upper = 2 * Phi(((c * eta) / 2) * Aup * psi * upperScale) - 1;
    // s = (1/n) Σ r r′ <û, u′> + <r û, ū> and w = η (n+n′)/n Ψ E‖v′(0)‖²
    const s = (r * dot(u, sys.F)) / (n * un) + (r * dot(u, sys.uBar)) / un;
    const w = eta * ((n + nf) / n) * psi * Ev2;
    const approx = phiDiff(-c * s, -c * (w + s));
    out.push({ measured: e.now - e.adv, lower, upper, approx, inCondition: eps[i]! < epsLimit(un, p) });
  }
  return out;
}

function boundRow(acc: RowAcc, evs: BoundEval[], draws: number, nUsers: number, itemPositive?: boolean): void {
  let measured = 0;
  let lower = 0;
  let upper = 0;
  let approx = 0;
  let inCond = 0;
  let gapMean = Infinity;
  for (const e of evs) {
    measured += e.measured / nUsers;
    lower += e.lower / nUsers;
    upper += e.upper / nUsers;
    approx += e.approx / nUsers;
    if (e.inCondition) inCond++;
    const t = tol(Math.max(0, e.measured), draws);
    const gLow = e.measured - e.lower;
    const gUp = e.upper - e.measured;
    acc.gap(Math.min(gLow, gUp));
    acc.reach(e.upper > 0 ? e.measured / e.upper : NaN, e.measured > 0.01 ? e.lower / e.measured : NaN);
    if (gLow < -t || gUp < -t) acc.violations++;
  }
  gapMean = Math.min(measured - lower, upper - measured);
  acc.add({ measured, lower, upper, approx }, gapMean, inCond / nUsers, itemPositive);
}

const boundColumns: Array<[string, string]> = [
  ['measured', 'measured reduction (LHS)'],
  ['lower', 'lower bound (RHS)'],
  ['upper', 'upper bound (RHS)'],
  ['approx', "proof's expression before worst case"],
];

/**
 * Theorems 3 (clean) and 4 (α-poisoned), swept over κ (the magnitude as a fraction of each user's
 * limit, under a magnitude rule): lower ≤ Δ ≤ upper for every genuine user, and both bounds grow
 * with ε (the paper's reading (2)). gap = min(Δ − lower, upper − Δ) per user.
 */
export function checkTheorem34(theorem: 3 | 4, kappas: number[], o: BoundOptions & { rule?: RuleName } = {}): SweepResult {
  const extra: Partial<GaussianParams> = theorem === 4 ? { nFake: 5, alpha: 0.5 } : {};
  const { p, seeds, draws, seed0 } = resolve(o, extra);
  const k = o.k ?? 0;
  const rule = RULES[o.rule ?? 'adaptive'];
  const accs = kappas.map(() => new RowAcc());
  for (let s = 0; s < seeds; s++) {
    const { sys, dr } = setup(p, seed0 + s, draws);
    kappas.forEach((kappa, xi) => {
      const st = train(sys, k, rule(kappa));
      const eps = rule(kappa)(Float64Array.from(st.U, (u) => norm(u)), p);
      boundRow(accs[xi]!, boundsFor(sys, st, dr, eps, o), draws, p.n, k > 0 ? st.itemPositive : undefined);
    });
  }
  return {
    theorem,
    name: theorem === 3 ? 'theorem3-eps' : 'theorem4-eps',
    relation: theorem === 3 ? 'lower <= Δadv P[f != r] <= upper' : 'lower < Δadv P[f_alpha != r] <= upper',
    param: 'κ = ε / ε_max(u)',
    columns: boundColumns,
    rows: kappas.map((x, i) => accs[i]!.row(x, o.rule ?? 'adaptive')),
    params: p,
    seeds,
    draws,
  };
}

/** Theorem 3 over ‖ū‖ (signal-to-noise √(n−1)‖ū‖/σ) at a fixed κ: where the bounds are tight or loose. */
export function checkTheorem3Snr(uBarNorms: number[], kappa: number, o: BoundOptions = {}): SweepResult {
  const rows: SweepRow[] = [];
  let last: SweepResult | undefined;
  for (const ub of uBarNorms) {
    last = checkTheorem34(3, [kappa], { ...o, params: { ...o.params, uBarNorm: ub } });
    rows.push({ ...last.rows[0]!, x: ub });
  }
  return { ...last!, name: 'theorem3-snr', param: '‖ū‖ (σ = 1)', rows, params: resolve(o).p };
}

/** Theorem 4 over the poison ratio n′/n at a fixed κ. */
export function checkTheorem4Poison(ratios: number[], kappa: number, o: BoundOptions = {}): SweepResult {
  const rows: SweepRow[] = [];
  let last: SweepResult | undefined;
  const base = resolve(o, { nFake: 5, alpha: 0.5 }).p;
  for (const ratio of ratios) {
    last = checkTheorem34(4, [kappa], { ...o, params: { ...o.params, nFake: Math.round(ratio * base.n), alpha: base.alpha } });
    rows.push({ ...last.rows[0]!, x: ratio });
  }
  return { ...last!, name: 'theorem4-poison', param: "poison ratio n'/n", rows, params: base };
}

/* ---------------------------------------------------------------- uniform vs adaptive */

/**
 * Theorem 3's reading (2) applied to the magnitude rule: at the same κ, the user-adaptive rule
 * gives every user ε_u ≥ the uniform ε (the uniform one is capped by the smallest-norm user), so
 * Ψ, both bounds and the measured reduction are at least as large for every user (k = 0: the same
 * pre-trained state for both rules). `holds` = adaptive ≥ uniform for every user (lower, upper,
 * measured within Monte-Carlo tolerance); gap = adaptive − uniform lower bound.
 * Series: one row per (κ, rule) for uniform, adaptive and PamaCF's sigmoid rule; the adaptive
 * rows carry the comparison's verdict.
 */
export function compareRules(theorem: 3 | 4, kappas: number[], o: BoundOptions = {}): SweepResult {
  const extra: Partial<GaussianParams> = theorem === 4 ? { nFake: 5, alpha: 0.5 } : {};
  const { p, seeds, draws, seed0 } = resolve(o, extra);
  const names: RuleName[] = ['uniform', 'adaptive', 'pamacf'];
  const accs = kappas.map(() => Object.fromEntries(names.map((nm) => [nm, new RowAcc()])) as Record<RuleName, RowAcc>);
  for (let s = 0; s < seeds; s++) {
    const { sys, dr } = setup(p, seed0 + s, draws);
    const st = train(sys, 0);
    const norms = Float64Array.from(st.U, (u) => norm(u));
    kappas.forEach((kappa, xi) => {
      const evs = Object.fromEntries(names.map((nm) => [nm, boundsFor(sys, st, dr, RULES[nm](kappa)(norms, p), o)])) as Record<RuleName, BoundEval[]>;
      for (const nm of names) {
        const acc = accs[xi]![nm];
        const ev = evs[nm];
        let m = 0;
        let lo = 0;
        let up = 0;
        let inCond = 0;
        for (const e of ev) {
          m += e.measured / p.n;
          lo += e.lower / p.n;
          up += e.upper / p.n;
          if (e.inCondition) inCond++;
        }
        let gapMean = 0;
        if (nm === 'adaptive') {
          const un = evs.uniform;
          for (let i = 0; i < p.n; i++) {
            const a = ev[i]!;
            const b = un[i]!;
            acc.gap(a.lower - b.lower);
            if (a.lower < b.lower - 1e-15 || a.upper < b.upper - 1e-15 || a.measured < b.measured - tol(Math.max(a.measured, b.measured), draws)) acc.violations++;
            gapMean += (a.lower - b.lower) / p.n;
          }
        }
        acc.add({ measured: m, lower: lo, upper: up }, gapMean, inCond / p.n);
      }
    });
  }
  const rows: SweepRow[] = [];
  kappas.forEach((x, i) => names.forEach((nm) => rows.push(accs[i]![nm].row(x, nm))));
  return {
    theorem,
    name: `theorem${theorem}-rules`,
    relation: 'adaptive (Corollary 1) >= uniform (APR) for every user: lower, upper bound and measured reduction',
    param: 'κ = ε / ε_max',
    columns: [
      ['measured', 'measured reduction'],
      ['lower', 'lower bound'],
      ['upper', 'upper bound'],
    ],
    rows,
    params: p,
    seeds,
    draws,
  };
}
