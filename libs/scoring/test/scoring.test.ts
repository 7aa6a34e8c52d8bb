import { describe, expect, it } from 'vitest';
import { csrFromRows, Rng } from '@robustrec/core';
import { DotKernel, dotProductScorer, scalarScore, topItems, TopK } from '../src/index';

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

describe('DotKernel.selectRow (SIMD prefilter, 16-bit ranking pass)', () => {
  const values = {
    // small integers: many exact score ties, which must break by lower item id
    tied: (r: Rng) => r.int(5) - 2,
    // floats, with a few large entries: quantisation error is real and uneven across rows
    normal: (r: Rng) => Math.fround(r.normal() * (r.next() < 0.01 ? 3 : 0.1)),
  };
  // item counts on both sides of the first scanned stretch and of a prefilter chunk, some not
  // multiples of 16; odd dim exercises the zero-padded dimension pair
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
          const expected = Array.from({ length: users }, (_, u) => {
            const ex = Array.from({ length: numItems }, (_, i) => scalarScore(U, V, dim, u, i));
            const order = ex
              .map((_, i) => i)
              .filter((i) => !masked[u]!.has(i))
              .sort((a, b) => ex[b]! - ex[a]! || a - b)
              .slice(0, k);
            return { order, scores: order.map((i) => ex[i]!) };
          });
          for (const mode of ['scoreBlock', 'rankBlock'] as const) {
            kernel[mode](U, ids, 0, users);
            for (let u = 0; u < users; u++) {
              const row = kernel.row(u);
              for (const i of masked[u]!) row[i] = -Infinity;
              const out = new Int32Array(k).fill(-1);
              const scores = new Float32Array(k).fill(Number.NaN);
              const got = kernel.selectRow(u, sel, out, 0, scores);
              expect(got, `${mode} user ${u} k ${k}`).toBe(expected[u]!.order.length);
              expect(Array.from(out.subarray(0, got)), `${mode} user ${u} k ${k}`).toEqual(expected[u]!.order);
              expect(Array.from(scores.subarray(0, got))).toEqual(expected[u]!.scores);
            }
          }
        }
      });
});
