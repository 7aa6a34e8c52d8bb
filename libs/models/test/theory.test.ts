import { describe, expect, it } from 'vitest';
import { Phi, checkTheorem12, checkTheorem34, checkTheorem3Snr, compareRules, phiDiff } from '../src/theory/index';

// small seeded sweeps: 2 seeds × 1500 draws of v(0), 50 users
const o = { seeds: 2, draws: 1500 };
const mean = (r: { values: Record<string, { mean: number }> }, k: string): number => r.values[k]!.mean;

describe('theory lab: normal CDF', () => {
  it('Phi and phiDiff match known values, without cancellation in the tail', () => {
    expect(Phi(0)).toBeCloseTo(0.5, 7);
    expect(Phi(1.959964)).toBeCloseTo(0.975, 6);
    expect(Phi(-1)).toBeCloseTo(0.158655, 6);
    // Φ(9) − Φ(8) ≈ 6.22e-16: the plain difference of two numbers near 1 loses it
    expect(phiDiff(9, 8) / 6.2210e-16).toBeCloseTo(1, 2);
  });
});

describe('theory lab: Theorems 1 and 2 (adversarial training lowers the error)', () => {
  it('Theorem 1 holds for every user inside the precondition, with a strict population gap', () => {
    const r = checkTheorem12(1, [0, 0.5, 0.9], o);
    for (const row of r.rows) {
      expect(row.inCondition).toBe(1);
      expect(row.holds).toBe(true);
      expect(mean(row, 'lhs')).toBeGreaterThan(mean(row, 'rhs'));
    }
    // the gap grows with ε (γ grows)
    expect(r.rows[2]!.gapMean).toBeGreaterThan(r.rows[0]!.gapMean);
  });

  it('Theorem 2 holds under poisoning, and the poison does raise the error', () => {
    const clean = checkTheorem12(1, [0.5], o).rows[0]!;
    const r = checkTheorem12(2, [0.5], { ...o, params: { nFake: 10, alpha: 0.5 } });
    const row = r.rows[0]!;
    expect(row.holds).toBe(true);
    expect(mean(row, 'lhs')).toBeGreaterThan(mean(row, 'rhs'));
    expect(mean(row, 'lhs')).toBeGreaterThan(mean(clean, 'lhs'));
  });

  it('is deterministic for a seed', () => {
    const a = checkTheorem12(1, [0.5], { seeds: 1, draws: 500 });
    const b = checkTheorem12(1, [0.5], { seeds: 1, draws: 500 });
    expect(a.rows).toEqual(b.rows);
  });
});

describe('theory lab: Theorems 3 and 4 (bounds on the one-epoch error reduction)', () => {
  it('Theorem 3: lower <= measured <= upper for every user, and both bounds grow with ε', () => {
    const r = checkTheorem34(3, [0, 0.5, 0.9], o);
    for (const row of r.rows) expect(row.holds).toBe(true);
    const [a, b, c] = r.rows;
    expect(mean(b!, 'upper')).toBeGreaterThan(mean(a!, 'upper'));
    expect(mean(c!, 'upper')).toBeGreaterThan(mean(b!, 'upper'));
    expect(mean(c!, 'lower')).toBeGreaterThanOrEqual(mean(a!, 'lower'));
    expect(mean(c!, 'measured')).toBeGreaterThan(mean(a!, 'measured'));
  });

  it('Theorem 3 at low signal-to-noise: the lower bound is non-vacuous and still holds', () => {
    const r = checkTheorem3Snr([0.1], 0.5, o);
    const row = r.rows[0]!;
    expect(row.holds).toBe(true);
    expect(mean(row, 'lower')).toBeGreaterThan(0.01);
    // and the bracket is narrow: upper − lower well under the measured value
    expect(mean(row, 'upper') - mean(row, 'lower')).toBeLessThan(mean(row, 'measured'));
  });

  it('Theorem 4 holds under poisoning (n\'/n = 0.1)', () => {
    const r = checkTheorem34(4, [0, 0.5, 0.9], o);
    for (const row of r.rows) expect(row.holds).toBe(true);
    expect(mean(r.rows[2]!, 'upper')).toBeGreaterThan(mean(r.rows[0]!, 'upper'));
  });

  it('the user-adaptive magnitude gives bounds at least as high as the uniform one for every user, strictly higher upper bounds', () => {
    const r = compareRules(3, [0.5, 0.9], { ...o, params: { d: 4, uBarNorm: 2 } });
    for (const x of [0.5, 0.9]) {
      const uni = r.rows.find((row) => row.x === x && row.series === 'uniform')!;
      const ada = r.rows.find((row) => row.x === x && row.series === 'adaptive')!;
      expect(ada.holds).toBe(true);
      expect(mean(ada, 'upper')).toBeGreaterThan(mean(uni, 'upper') + 0.05);
      expect(mean(ada, 'measured')).toBeGreaterThanOrEqual(mean(uni, 'measured'));
      expect(ada.inCondition).toBe(1);
    }
  });
});

describe('theory lab: negative controls (the checks are not vacuous)', () => {
  it('the reversed Theorem 1 inequality (P_adv > P_std) fails', () => {
    const r = checkTheorem12(1, [0, 0.5, 0.9], { ...o, reverse: true });
    for (const row of r.rows) {
      expect(row.holds).toBe(false);
      expect(row.violations).toBeGreaterThan(0);
    }
  });

  it('Theorem 3 with a too-small upper bound (argument halved) fails', () => {
    const r = checkTheorem34(3, [0.5], { ...o, upperScale: 0.5 });
    expect(r.rows[0]!.holds).toBe(false);
    expect(r.rows[0]!.violations).toBeGreaterThan(0);
  });

  it('far outside the precondition (ε = 4 ε_max) Theorem 1 fails: the condition is not decorative', () => {
    const row = checkTheorem12(1, [4], o).rows[0]!;
    expect(row.inCondition).toBe(0);
    expect(row.holds).toBe(false);
  });
});
