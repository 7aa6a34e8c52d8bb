import { describe, expect, it } from 'vitest';
import { Rng } from '@robustrec/core';
import { topK } from '../src/common';
import { DecayedChoice } from '../src/decayed-choice';

/** What DP's fillers were before DecayedChoice: a full scan of every item per choice. */
function fullScan(s: Float32Array, w: Float64Array, n: number, skip: Set<number>): number[] {
  const eff = new Float64Array(s.length);
  for (let i = 0; i < s.length; i++) eff[i] = w[i]! / (1 + Math.exp(-s[i]!));
  return topK(eff, n, skip);
}

describe('DecayedChoice', () => {
  // ties on purpose: scores on a coarse grid (equal sigmoids) and decays 1 and 0.5 (equal
  // weights after the same number of choices), so the index tie-break is exercised
  const cases = [
    { items: 50, groups: 1, draws: 40, decay: 0.9, grid: 0 },
    { items: 300, groups: 5, draws: 400, decay: 0.9, grid: 0 },
    { items: 200, groups: 3, draws: 300, decay: 0.5, grid: 4 },
    { items: 120, groups: 4, draws: 200, decay: 1, grid: 2 },
    { items: 80, groups: 2, draws: 100, decay: 0, grid: 1 },
    { items: 30, groups: 3, draws: 60, decay: 0.7, grid: 3 }, // n often > items left: fewer returned
  ];
  for (const c of cases) {
    it(`chooses exactly what a full scan chooses (${JSON.stringify(c)})`, () => {
      const rng = new Rng(c.items * 31 + c.groups);
      const scores = Array.from({ length: c.groups }, () => {
        const s = new Float32Array(c.items);
        for (let i = 0; i < c.items; i++) {
          const x = (rng.next() - 0.5) * 8;
          s[i] = c.grid ? Math.round(x * c.grid) / c.grid : x;
        }
        return s;
      });
      const skip = new Set([0, 7, c.items - 1]);
      const wSlow = new Float64Array(c.items).fill(1);
      const choice = new DecayedChoice(scores, c.items, skip, c.decay);
      for (let d = 0; d < c.draws; d++) {
        const g = d % c.groups;
        const n = 1 + Math.floor(rng.next() * (c.items / 3));
        const slow = fullScan(scores[g]!, wSlow, n, skip);
        for (const i of slow) wSlow[i]! *= c.decay;
        const fast = choice.take(g, n);
        expect(fast, `draw ${d}`).toEqual(slow);
        expect([...choice.weight]).toEqual([...wSlow]);
      }
    });
  }

  it('never chooses a skipped item, and ranks a non-number score last', () => {
    const s = new Float32Array([NaN, 2, 1, NaN, 3]);
    const choice = new DecayedChoice([s], 5, new Set([4]), 0.9);
    expect(choice.take(0, 5)).toEqual([1, 2, 0, 3]);
  });
});
