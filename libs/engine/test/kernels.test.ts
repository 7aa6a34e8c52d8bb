import { describe, expect, it } from 'vitest';
import { Rng, csrFromPairs } from '@robustrec/core';
import { describeFusedMf, magnitudes, relErr, type FusedMf } from './fused-mf-cases';
import {
  bprDot, gatherRows, l2Local, perturbRows, referenceLightGcnLoss, normalizedAdjacency, spmm, spmmSparseInput,
  rowSqNorms, scatterAddRows, Propagation, balancedSplit,
} from '../src';

const rand = (rng: Rng, n: number, std = 0.5): Float32Array => Float32Array.from({ length: n }, () => rng.normal() * std);

/** The fused MF step exactly as the trainer composes it (gather, BPR, Δ, adversarial BPR, L2, scatter). */
const fusedMf: FusedMf = (U, V, nu, ni, d, users, pos, neg, l2, adv) => {
  const n = users.length;
  const [eu, ei, ej, gu, gi, gj, pu, pi, pj] = Array.from({ length: 9 }, () => new Float32Array(n * d));
  gatherRows(U, d, users, n, eu);
  gatherRows(V, d, pos, n, ei);
  gatherRows(V, d, neg, n, ej);
  const bpr = bprDot(eu, ei, ej, n, d, 1, gu, gi, gj);
  let advLoss = 0;
  if (adv) {
    const eps = new Float32Array(n);
    rowSqNorms(eu, n, d, eps);
    magnitudes(adv.magnitude, eps);
    perturbRows(eu, gu, eps, n, d, pu);
    perturbRows(ei, gi, eps, n, d, pi);
    perturbRows(ej, gj, eps, n, d, pj);
    advLoss = bprDot(pu, pi, pj, n, d, adv.lambda, gu, gi, gj);
  }
  const reg = l2Local(eu, gu, n, d, l2) + l2Local(ei, gi, n, d, l2) + l2Local(ej, gj, n, d, l2);
  const gU = new Float32Array(nu * d), gV = new Float32Array(ni * d);
  scatterAddRows(gU, d, users, n, gu);
  scatterAddRows(gV, d, pos, n, gi);
  scatterAddRows(gV, d, neg, n, gj);
  return { loss: bpr + reg + (adv ? adv.lambda * advLoss : 0), bpr, adv: advLoss, grads: [gU, gV] };
};

describeFusedMf('fused MF kernels vs tfjs autodiff', fusedMf);

describe('sparse propagation', () => {
  const r = csrFromPairs(4, 5, [0, 0, 1, 2, 2, 2, 3], [0, 4, 1, 1, 2, 4, 3]);
  const a = normalizedAdjacency(r);
  it('builds D^-1/2 A D^-1/2 symmetric', () => {
    const n = 9;
    const dense = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let p = a.indptr[i]; p < a.indptr[i + 1]; p++) dense[i * n + a.indices[p]] = a.values[p];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(dense[i * n + j]).toBeCloseTo(dense[j * n + i], 7);
    // user 2 (degree 3) – item 1 (users 1 and 2, degree 2)
    expect(dense[2 * n + 4 + 1]).toBeCloseTo(1 / Math.sqrt(3 * 2), 6);
  });
  it('pull and sparse push products agree', () => {
    const rng = new Rng(3);
    const x = rand(rng, 9 * 4);
    const rows = Uint32Array.from([1, 6]);
    const xs = new Float32Array(9 * 4);
    for (const q of rows) xs.set(x.subarray(q * 4, q * 4 + 4), q * 4);
    const pull = new Float32Array(9 * 4), push = new Float32Array(9 * 4);
    spmm(a, xs, 4, pull);
    spmmSparseInput(a, xs, 4, rows, 2, push);
    for (let i = 0; i < pull.length; i++) expect(push[i]).toBeCloseTo(pull[i], 6);
  });
  // w = 16: JS kernel over shared memory; w = 64: wasm SIMD kernel over the shared arena
  for (const w of [16, 64])
    it(`full products: one thread and two give identical bits, acc fused (width ${w})`, async () => {
      // a larger graph so both threads get rows of every degree
      const rng = new Rng(11);
      const us: number[] = [], is: number[] = [];
      for (let u = 0; u < 300; u++) for (let t = 0; t < 1 + (u % 17); t++) us.push(u), is.push((u * 7 + t * 13) % 200);
      const big = normalizedAdjacency(csrFromPairs(300, 200, us, is));
      const split = balancedSplit(big);
      expect(split).toBeGreaterThan(0);
      expect(split).toBeLessThan(big.numRows);
      const n = big.numRows * w;
      const one = new Propagation(big, w, 1);
      const two = new Propagation(big, w, 2);
      expect(one.kernelName).toBe(w === 64 ? 'wasm-simd' : 'js');
      try {
        const x1 = one.alloc(n), x2 = two.alloc(n), o1 = one.alloc(n), o2 = two.alloc(n), a1 = one.alloc(n), a2 = two.alloc(n);
        x1.set(rand(rng, n));
        x2.set(x1);
        a1.set(rand(rng, n));
        a2.set(a1);
        one.product(x1, o1, a1);
        two.product(x2, o2, a2);
        expect(Buffer.from(o2.slice().buffer).equals(Buffer.from(o1.slice().buffer))).toBe(true);
        expect(Buffer.from(a2.slice().buffer).equals(Buffer.from(a1.slice().buffer))).toBe(true);
        // against the JS kernel (double accumulation) within float rounding
        const ref = new Float32Array(n);
        spmm(big, x1, w, ref);
        expect(relErr(o1, ref)).toBeLessThan(1e-6);
        // a product on an array the arena does not hold is refused, not silently wrong
        if (w === 64) expect(() => two.product(new Float32Array(n), o2)).toThrow(/Propagation.alloc/);
      } finally {
        await two.close();
      }
    });
  it('LightGCN reference runs on the same adjacency (gradient flows to non-batch rows)', () => {
    const rng = new Rng(5);
    const U = rand(rng, 4 * 3), V = rand(rng, 5 * 3);
    const res = referenceLightGcnLoss(U, V, 4, 5, 3, a, 3, { users: Uint32Array.from([0]), pos: Uint32Array.from([0]), neg: Uint32Array.from([2]), l2: 0 });
    // user 3 / item 3 are not connected to the batch's component and get no gradient; user 1 is
    expect(Math.abs(res.grads[0][3 * 3])).toBe(0);
    expect(res.grads[0].slice(3, 6).some((g) => g !== 0)).toBe(true);
  });
});

describe('arena offsets', () => {
  it('round up exactly past 2 GiB (a 32-bit bit mask would turn them negative)', async () => {
    const { alignUp } = await import('../src/arena');
    expect(alignUp(17, 16)).toBe(32);
    expect(alignUp(32, 16)).toBe(32);
    expect(alignUp(2 ** 31 + 1, 16)).toBe(2 ** 31 + 16);
    expect(alignUp(3 * 2 ** 30 + 5, 64)).toBe(3 * 2 ** 30 + 64);
    expect(alignUp(2 ** 32 - 100, 16)).toBe(2 ** 32 - 96);
  });
});
