import { describe, expect, it } from 'vitest';
import { Rng } from '@robustrec/core';
import { createScorer } from '../src';

describe('dot-product scorer', () => {
  it('equals the plain dot products for odd user counts and item tails', () => {
    const rng = new Rng(4);
    const nu = 7, ni = 263, d = 12;
    const U = Float32Array.from({ length: nu * d }, () => rng.normal());
    const V = Float32Array.from({ length: ni * d }, () => rng.normal());
    const s = createScorer({ backbone: 'lightgcn', tensors: { user_embedding: { shape: [nu, d], data: U }, item_embedding: { shape: [ni, d], data: V } } });
    const users = Uint32Array.from([6, 0, 3]);
    const out = new Float32Array(users.length * ni);
    s.scoreUsers(users, out);
    for (let b = 0; b < users.length; b++)
      for (let i = 0; i < ni; i++) {
        let x = 0;
        for (let k = 0; k < d; k++) x += U[users[b] * d + k] * V[i * d + k];
        expect(out[b * ni + i]).toBeCloseTo(x, 4);
      }
  });
  it('rejects an unknown backbone', () => {
    expect(() => createScorer({ backbone: 'bert4rec', tensors: {} })).toThrow(/model.backbone/);
  });
});

describe('NeuMF scorer', () => {
  // d = 6: the JS loop (h2 = 3 does not fit SIMD lanes); d = 8: the SIMD kernel item by item;
  // d = 16, 32: four items at a time (h2 a multiple of 8) with an item tail (97 items)
  for (const d of [6, 8, 16, 32])
  it(`equals its formula, s = hᵀ[p ⊙ q ; relu(W2ᵀ relu(W1ᵀ[p′ ; q′] + b1) + b2)], ReLUs on and off (dim ${d})`, () => {
    const rng = new Rng(9);
    const nu = 5, ni = 97, w = 2 * d, h2 = d / 2;
    const r = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
    const U = r(nu * w), V = r(ni * w), W1 = r(w * d), b1 = r(d), W2 = r(d * h2), b2 = r(h2), h = r(d + h2);
    const tensors = {
      user_embedding: { shape: [nu, w], data: U }, item_embedding: { shape: [ni, w], data: V },
      mlp_w1: { shape: [w, d], data: W1 }, mlp_b1: { shape: [d], data: b1 }, mlp_w2: { shape: [d, h2], data: W2 }, mlp_b2: { shape: [h2], data: b2 }, output_h: { shape: [d + h2], data: h },
    };
    const users = Uint32Array.from([4, 0, 2]);
    const out = new Float32Array(users.length * ni);
    createScorer({ backbone: 'neumf', tensors }).scoreUsers(users, out);
    let on = 0, off = 0;
    for (let b = 0; b < users.length; b++)
      for (let i = 0; i < ni; i++) {
        const u = users[b] * w, v = i * w;
        const x = [...U.subarray(u + d, u + w), ...V.subarray(v + d, v + w)];
        const z1 = Array.from({ length: d }, (_, c) => Math.max(0, b1[c] + x.reduce((acc, xk, k) => acc + xk * W1[k * d + c], 0)));
        const z2 = Array.from({ length: h2 }, (_, c) => Math.max(0, b2[c] + z1.reduce((acc, zk, k) => acc + zk * W2[k * h2 + c], 0)));
        for (const z of [...z1, ...z2]) z > 0 ? on++ : off++;
        let want = 0;
        for (let k = 0; k < d; k++) want += h[k] * U[u + k] * V[v + k];
        for (let c = 0; c < h2; c++) want += h[d + c] * z2[c];
        expect(Math.abs(out[b * ni + i] - want)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want)));
      }
    expect(on).toBeGreaterThan(100); // both sides of every ReLU were exercised
    expect(off).toBeGreaterThan(100);
  });
});

