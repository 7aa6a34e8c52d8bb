import { describe, expect, it } from 'vitest';
import { columnCounts, csrUnion, rowOf } from '@robustrec/core';
import { statistics, syntheticInteractions } from '../src';

describe('synthetic generator', () => {
  const d = syntheticInteractions({ numUsers: 1500, numItems: 1000, meanInteractions: 25, clusters: 10, seed: 11 });

  it('is reproducible from its seed and differs across seeds', () => {
    const again = syntheticInteractions({ numUsers: 1500, numItems: 1000, meanInteractions: 25, clusters: 10, seed: 11 });
    expect(again.id).toBe(d.id);
    expect(Array.from(again.test.indices)).toEqual(Array.from(d.test.indices));
    expect(syntheticInteractions({ numUsers: 1500, numItems: 1000, meanInteractions: 25, clusters: 10, seed: 12 }).id).not.toBe(d.id);
  });

  it('has the requested size and an 80/20 split with 10% validation', () => {
    const s = statistics(d);
    expect(s.users).toBe(1500);
    expect(s.avgInteractionsPerUser).toBeGreaterThan(20);
    expect(s.avgInteractionsPerUser).toBeLessThan(30);
    expect(d.test.indices.length / s.interactions).toBeCloseTo(0.2, 1);
    expect(d.valid.indices.length / (s.interactions - d.test.indices.length)).toBeCloseTo(0.1, 1);
    for (let u = 0; u < d.numUsers; u++) expect(rowOf(d.train, u).length).toBeGreaterThan(0);
  });

  it('has long-tail popularity: the top 10% of items hold far more than 10% of interactions', () => {
    const pop = Array.from(statistics(d).itemPopularity).sort((a, b) => b - a);
    const total = pop.reduce((a, b) => a + b, 0);
    const top = pop.slice(0, 100).reduce((a, b) => a + b, 0);
    expect(top / total).toBeGreaterThan(0.3);
    expect(pop.filter((c) => c === 0).length).toBeLessThan(500); // but the tail is still used
  });

  it('has cluster structure: tail items co-occur in groups, unlike a cluster-free control', () => {
    // Dispersion (variance / mean) of pairwise overlaps on non-head items: without clusters
    // overlaps are Poisson-like (about 1); taste groups make some pairs overlap a lot.
    const dispersion = (clusters: number): number => {
      const x = syntheticInteractions({ numUsers: 1500, numItems: 1000, meanInteractions: 25, clusters, seed: 11 });
      const all = csrUnion(x.train, x.valid, x.test);
      const pop = columnCounts(all);
      const head = new Set(Array.from(pop.keys()).sort((a, b) => pop[b]! - pop[a]!).slice(0, 200));
      const sets = Array.from({ length: 300 }, (_, u) => new Set([...rowOf(all, u)].filter((i) => !head.has(i))));
      let sum = 0;
      let sq = 0;
      let n = 0;
      for (let u = 0; u < 300; u++)
        for (let v = u + 1; v < 300; v++) {
          const o = [...sets[u]!].filter((i) => sets[v]!.has(i)).length;
          sum += o;
          sq += o * o;
          n++;
        }
      const mean = sum / n;
      return (sq / n - mean * mean) / mean;
    };
    const control = dispersion(1);
    expect(control).toBeLessThan(1.5);
    expect(dispersion(10)).toBeGreaterThan(1.6 * control);
  });

  it('validates options with the field name', () => {
    expect(() => syntheticInteractions({ numUsers: 1 })).toThrow(/synthetic\.num_users/);
    expect(() => syntheticInteractions({ numItems: 20, meanInteractions: 15 })).toThrow(/synthetic\.mean_interactions/);
  });
});
