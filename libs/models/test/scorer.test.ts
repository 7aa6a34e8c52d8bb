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
