import { describe, expect, it } from 'vitest';
import { Rng } from '@robustrec/core';
import { referenceMfLoss, type ReferenceMagnitude } from '../src';

/** Shared by the JS and the wasm kernel tests: one set of fixtures, one tolerance, one check. */

export type Adv = { lambda: number; magnitude: ReferenceMagnitude };
export type FusedMf = (U: Float32Array, V: Float32Array, nu: number, ni: number, d: number, users: Uint32Array, pos: Uint32Array, neg: Uint32Array, l2: number, adv?: Adv) => { loss: number; bpr: number; adv: number; grads: Float32Array[] };

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** max |a−b| / max(|b|∞, tiny): relative to the gradient's scale */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return m / Math.max(s, 1e-30);
}

/** Per-row perturbation magnitudes of a batch from its squared user-row norms (in place). */
export function magnitudes(m: ReferenceMagnitude, sqNorms: Float32Array): Float32Array {
  if (m.kind === 'loss') throw new Error('loss-based magnitudes need the batch losses: tested through the trainer');
  const n = sqNorms.length;
  const mean = sqNorms.reduce((a, b) => a + b, 0) / n;
  for (let b = 0; b < n; b++)
    sqNorms[b] = m.kind === 'uniform' ? m.eps : m.kind === 'published' ? m.rho * m.userLmb * sigmoid(sqNorms[b]! / mean - 1) : m.rho * sigmoid(Math.sqrt(sqNorms[b]!) / m.meanNorm - 1);
  return sqNorms;
}

/** The fused MF step of `impl` against TensorFlow.js autodiff within 1e-5: BPR, APR and both PamaCF magnitudes. */
export function describeFusedMf(title: string, impl: FusedMf): void {
  describe(title, () => {
    const nu = 7, ni = 9, d = 8;
    const rng = new Rng(11);
    const rand = (len: number): Float32Array => Float32Array.from({ length: len }, () => rng.normal() * 0.5);
    const U = rand(nu * d), V = rand(ni * d);
    // repeated users and items inside the batch on purpose
    const users = Uint32Array.from([0, 1, 1, 3, 0, 6, 2, 1, 5, 0]);
    const pos = Uint32Array.from([2, 3, 3, 8, 1, 0, 4, 7, 2, 2]);
    const neg = Uint32Array.from([5, 2, 6, 1, 3, 3, 3, 0, 8, 5]);
    const cases: Array<[string, Adv | undefined]> = [
      ['BPR + L2', undefined],
      ['APR ε=0.3', { lambda: 1, magnitude: { kind: 'uniform', eps: 0.3 } }],
      ['PamaCF published', { lambda: 0.7, magnitude: { kind: 'published', rho: 0.3, userLmb: 2 } }],
      ['PamaCF paper', { lambda: 1, magnitude: { kind: 'paper', rho: 0.5, meanNorm: 1.1 } }],
    ];
    for (const [name, adv] of cases)
      it(`${name}: loss and gradients match within 1e-5`, () => {
        const l2 = 1e-2;
        const ref = referenceMfLoss(U, V, nu, ni, d, { users, pos, neg, l2, adv });
        const got = impl(U, V, nu, ni, d, users, pos, neg, l2, adv);
        expect(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss)).toBeLessThan(1e-5);
        expect(Math.abs(got.bpr - ref.bpr) / Math.abs(ref.bpr)).toBeLessThan(1e-5);
        if (adv) expect(got.adv).toBeGreaterThan(got.bpr); // the perturbation increases the loss
        expect(relErr(got.grads[0]!, ref.grads[0]!)).toBeLessThan(1e-5);
        expect(relErr(got.grads[1]!, ref.grads[1]!)).toBeLessThan(1e-5);
      });
  });
}
