import { describe, expect, it } from 'vitest';
import { Rng } from '@robustrec/core';
import { alsSweep, gradient, hessianVector, loss, makeProblem, mixedGradient, type Theta } from '../src/surrogate/wmf';
import { syntheticTrain } from './synthetic';

// The Rev attack's correctness rests on these derivatives: check them against finite differences.
const train = syntheticTrain(60, 40, 8, 2);
const d = 4;
const m = 3;
const cand = Uint32Array.from([0, 1, 2, 3, 4, 5]);
const p = makeProblem(train, 40, m, cand, d, 1, 0.1, 0.05);
const rng = new Rng(4);
const th: Theta = { U: Float32Array.from({ length: (60 + m) * d }, () => rng.normal() * 0.3), V: Float32Array.from({ length: 40 * d }, () => rng.normal() * 0.3) };
const X = Float32Array.from({ length: m * cand.length }, () => rng.next());
const rand = (): Theta => ({ U: Float32Array.from(th.U, () => rng.normal()), V: Float32Array.from(th.V, () => rng.normal()) });
const dotT = (a: Theta, b: Theta): number => a.U.reduce((s, x, i) => s + x * b.U[i]!, 0) + a.V.reduce((s, x, i) => s + x * b.V[i]!, 0);
const shift = (a: Theta, v: Theta, e: number): Theta => ({ U: a.U.map((x, i) => x + e * v.U[i]!), V: a.V.map((x, i) => x + e * v.V[i]!) });

describe('WMF surrogate derivatives', () => {
  it('gradient matches the directional derivative of the loss', () => {
    const v = rand();
    const e = 1e-3;
    const fd = (loss(p, shift(th, v, e), X) - loss(p, shift(th, v, -e), X)) / (2 * e);
    expect(dotT(gradient(p, th, X), v)).toBeCloseTo(fd, 0);
    expect(Math.abs(dotT(gradient(p, th, X), v) - fd) / Math.abs(fd)).toBeLessThan(1e-2);
  });

  it('Hessian-vector product is symmetric (u.Hv = v.Hu)', () => {
    const u = rand();
    const v = rand();
    const a = dotT(u, hessianVector(p, th, v, X));
    const b = dotT(v, hessianVector(p, th, u, X));
    expect(Math.abs(a - b) / Math.abs(a)).toBeLessThan(2e-2);
  });

  it('mixed gradient matches d/dX <grad, lambda> by finite differences', () => {
    const lam = rand();
    const G = new Float32Array(X.length);
    mixedGradient(p, th, lam, G, 1);
    for (const q of [0, 7, X.length - 1]) {
      const Xp = Float32Array.from(X);
      const Xm = Float32Array.from(X);
      Xp[q]! += 1e-2;
      Xm[q]! -= 1e-2;
      const fd = (dotT(gradient(p, th, Xp), lam) - dotT(gradient(p, th, Xm), lam)) / 2e-2;
      expect(Math.abs(G[q]! - fd)).toBeLessThan(1e-2 * Math.max(1, Math.abs(fd)));
    }
  });

  it('ALS sweeps decrease the loss', () => {
    const t: Theta = { U: Float32Array.from(th.U), V: Float32Array.from(th.V) };
    const before = loss(p, t, X);
    alsSweep(p, t, X);
    const mid = loss(p, t, X);
    alsSweep(p, t, X);
    expect(mid).toBeLessThan(before);
    expect(loss(p, t, X)).toBeLessThanOrEqual(mid + 1e-3);
  });
});
