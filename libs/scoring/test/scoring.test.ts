import { describe, expect, it } from 'vitest';
import { csrFromRows, Rng } from '@robustrec/core';
import { DotKernel, dotProductScorer, MlpKernel, scalarScore, topItems, TopK } from '../src/index';

describe('topItems', () => {
  it('returns the masked top-k with scores, best first, -1 padded', () => {
    const scorer = dotProductScorer(Float32Array.from([1, -1]), Float32Array.from([5, 4, 3]), 1);
    const train = csrFromRows(2, 3, { 0: [0], 1: [2, 1] });
    const r = topItems(scorer, Uint32Array.from([0, 1]), 2, [train]);
    expect(Array.from(r.items)).toEqual([1, 2, 0, -1]);
    expect(Array.from(r.scores).slice(0, 3)).toEqual([4, 3, -5]);
    expect(() => topItems(scorer, Uint32Array.from([0]), 4)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/k/) }));
  });
});

describe('DotKernel.rankTop (fused 16-bit ranking pass, exact rescoring)', () => {
  const values = {
    // small integers: many exact score ties, which must break by lower item id
    tied: (r: Rng) => r.int(5) - 2,
    // floats, with a few large entries: quantisation error is real and uneven across rows
    normal: (r: Rng) => Math.fround(r.normal() * (r.next() < 0.01 ? 3 : 0.1)),
  };

  /** What a full sort of exact scores gives: each user's top k unmasked items and their scores. */
  function expected(U: Float32Array, V: Float32Array, dim: number, users: number[], numItems: number, masked: Array<Set<number>>, k: number) {
    return users.map((u, n) => {
      const ex = Array.from({ length: numItems }, (_, i) => scalarScore(U, V, dim, u, i));
      const order = ex
        .map((_, i) => i)
        .filter((i) => !masked[n]!.has(i) && !Number.isNaN(ex[i]!))
        .sort((a, b) => ex[b]! - ex[a]! || a - b)
        .slice(0, k);
      return { order, scores: order.map((i) => ex[i]!) };
    });
  }

  // item counts on both sides of the first call and of a chunk (1024 items), some not multiples
  // of 8; odd dim exercises the zero-padded dimension pair
  for (const [numItems, dim] of [[700, 4], [1031, 7], [5000, 16], [9007, 5]] as const)
    for (const [name, value] of Object.entries(values))
      it(`selects and scores exactly what a full sort of exact scores does (${numItems} items, dim ${dim}, ${name})`, () => {
        const rng = new Rng(numItems + dim);
        const users = 9;
        const U = Float32Array.from({ length: users * dim }, () => value(rng));
        const V = Float32Array.from({ length: numItems * dim }, () => value(rng));
        const kernel = new DotKernel(V, numItems, dim);
        const ids = Uint32Array.from({ length: users }, (_, u) => u);
        for (const k of [1, 20, 100, numItems]) {
          const sel = new TopK(k);
          const masked = Array.from({ length: users }, () => new Set(Array.from({ length: numItems }, (_, i) => i).filter(() => rng.next() < 0.05)));
          const mask = csrFromRows(users, numItems, Object.fromEntries(masked.map((m, u) => [u, [...m].reverse()])));
          const want = expected(U, V, dim, [...ids], numItems, masked, k);
          const out = new Int32Array(users * k).fill(7);
          const scores = new Float32Array(users * k).fill(7);
          kernel.rankTop(U, ids, 0, users, [mask], sel, out, scores);
          for (let u = 0; u < users; u++) {
            const got = out.subarray(u * k, (u + 1) * k);
            const n = want[u]!.order.length;
            expect(Array.from(got.subarray(0, n)), `user ${u} k ${k}`).toEqual(want[u]!.order);
            expect(Array.from(got.subarray(n)).every((x) => x === -1)).toBe(true);
            expect(Array.from(scores.subarray(u * k, u * k + n))).toEqual(want[u]!.scores);
          }
          // scoreBlock (exact rows) agrees with the scalar reference bit for bit
          kernel.scoreBlock(U, ids, 0, users);
          for (let u = 0; u < users; u++) for (const i of [0, numItems >> 1, numItems - 1]) expect(kernel.row(u)[i]).toBe(scalarScore(U, V, dim, u, i));
        }
      });

  it('ranks many blocks (rankUsers), a non-finite user and a non-quantisable table exactly', () => {
    const rng = new Rng(11);
    const [numUsers, numItems, dim, k] = [150, 3001, 12, 50];
    const U = Float32Array.from({ length: numUsers * dim }, () => Math.fround(rng.normal()));
    const V = Float32Array.from({ length: numItems * dim }, () => Math.fround(rng.normal() * (1 + rng.int(3))));
    U[7 * dim + 3] = Number.NaN; // user 7: every score NaN, so nothing ranks
    U[8 * dim + 1] = Infinity;
    const users = Uint32Array.from({ length: 140 }, (_, i) => (i * 37) % numUsers);
    const masked = [...users].map(() => new Set(Array.from({ length: 40 }, () => rng.int(numItems))));
    const mask = csrFromRows(numUsers, numItems, Object.fromEntries([...users].map((u, i) => [u, [...masked[i]!]])));
    const want = expected(U, V, dim, [...users], numItems, masked, k);
    for (const table of [V, Float32Array.from(V, (x, i) => (i === 5 ? Number.NaN : x))]) {
      const scorer = dotProductScorer(U, table, dim);
      const want2 = table === V ? want : expected(U, table, dim, [...users], numItems, masked, k);
      const r = topItems(scorer, users, k, [mask]);
      users.forEach((_, i) => {
        const n = want2[i]!.order.length;
        expect(Array.from(r.items.subarray(i * k, i * k + n)), `position ${i}`).toEqual(want2[i]!.order);
        expect(Array.from(r.scores.subarray(i * k, i * k + n))).toEqual(want2[i]!.scores);
      });
    }
  });

  it('re-ranks a row whose seeded threshold (from the previous block) was too high, exactly', () => {
    const rng = new Rng(3);
    const [numItems, dim, k] = [2000, 8, 20];
    // items: a strong first coordinate, weak others; block 1's users point along it (high k-th
    // scores), block 2's users away from it (low ones), so block 2's seeds are far too high
    const V = Float32Array.from({ length: numItems * dim }, (_, i) => Math.fround(i % dim === 0 ? 5 + rng.normal() : 0.1 * rng.normal()));
    const U = Float32Array.from({ length: 128 * dim }, (_, i) => {
      const u = Math.floor(i / dim);
      const d = i % dim;
      return Math.fround(u < 64 ? (d === 0 ? 1 : 0.01 * rng.normal()) : d === 0 ? -0.2 : rng.normal());
    });
    const users = Uint32Array.from({ length: 128 }, (_, i) => i);
    const masked = [...users].map(() => new Set<number>());
    const want = expected(U, V, dim, [...users], numItems, masked, k);
    const kernel = new DotKernel(V, numItems, dim);
    const out = new Int32Array(128 * k);
    const scores = new Float32Array(128 * k);
    const sel = new TopK(k);
    for (const s of [0, 64]) kernel.rankTop(U, users, s, 64, [], sel, out, scores);
    expect(kernel.redone).toBeGreaterThan(0);
    users.forEach((u) => {
      expect(Array.from(out.subarray(u * k, (u + 1) * k)), `user ${u}`).toEqual(want[u]!.order);
      expect(Array.from(scores.subarray(u * k, (u + 1) * k))).toEqual(want[u]!.scores);
    });
  });
});

describe('MlpKernel (mlp.wat)', () => {
  // Four items at a time run the second layer dense; item by item runs it over the active
  // units only. Zero units add ±0, so the two must agree bit for bit, item tails included.
  for (const [d, ni] of [[16, 97], [32, 130], [64, 1027]] as const)
    it(`four items at a time equals item by item bit for bit (dim ${d}, ${ni} items)`, () => {
      const rng = new Rng(d);
      const h2 = d / 2, w = 2 * d;
      const r = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal() * 0.5);
      const V = r(ni * w), W2 = r(d * h2), b2 = r(h2), ho = r(h2), part = r(ni * d);
      const blocked = new MlpKernel(ni, d, h2, V, w, W2, b2, ho, true);
      const single = new MlpKernel(ni, d, h2, V, w, W2, b2, ho, false);
      blocked.part.set(part);
      single.part.set(part);
      for (let u = 0; u < 3; u++) {
        const hu = r(d), a = r(d);
        const x = new Float32Array(ni), y = new Float32Array(ni);
        blocked.scoreUser(hu, a, x);
        single.scoreUser(hu, a, y);
        expect(Buffer.from(x.buffer).equals(Buffer.from(y.buffer))).toBe(true);
        expect(new Set(x).size).toBeGreaterThan(ni / 2); // real, distinct scores
      }
    });
});
