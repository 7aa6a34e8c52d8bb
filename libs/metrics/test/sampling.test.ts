import { describe, expect, it } from 'vitest';
import { csrFromPairs, Rng, type Csr } from '@robustrec/core';
import { dotProductScorer } from '@robustrec/scoring';
import { evaluateRanking, mergeShards, metricStats, selectUsers, type RankingInput, type RankingResult } from '../src/index';

/**
 * A synthetic model and dataset: users and items in dim 8 with a shared signal, so that a
 * user's test items tend to rank high and per-user metrics vary (not all zero).
 */
function synthetic(seed: number, numUsers = 1500, numItems = 240): RankingInput {
  const rng = new Rng(seed);
  const dim = 8;
  const U = Float32Array.from({ length: numUsers * dim }, () => Math.fround(rng.normal()));
  const V = Float32Array.from({ length: numItems * dim }, () => Math.fround(rng.normal()));
  const score = (u: number, i: number): number => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += U[u * dim + d]! * V[i * dim + d]!;
    return s;
  };
  const tr: [number[], number[]] = [[], []], te: [number[], number[]] = [[], []];
  for (let u = 0; u < numUsers; u++)
    for (let i = 0; i < numItems; i++) {
      const p = 0.04 / (1 + Math.exp(-score(u, i)));
      const x = rng.next();
      if (x < p) (tr[0].push(u), tr[1].push(i));
      else if (x < 1.5 * p) (te[0].push(u), te[1].push(i));
    }
  const train: Csr = csrFromPairs(numUsers, numItems, tr[0], tr[1]);
  const test: Csr = csrFromPairs(numUsers, numItems, te[0], te[1]);
  return { scorer: dotProductScorer(U, V, dim), numGenuineUsers: numUsers - 20, exclude: [train], relevant: test, targets: Uint32Array.of(5, 77, 190), targetExclude: [train, test], ks: [5, 20], threads: 1 };
}

/** Users a full evaluation of `input` ranks (every genuine user when there are targets). */
const populationOf = (input: RankingInput): Uint32Array => {
  const out: number[] = [];
  for (let u = 0; u < input.numGenuineUsers; u++) if (input.targets?.length || input.relevant.indptr[u + 1]! > input.relevant.indptr[u]!) out.push(u);
  return Uint32Array.from(out);
};

const relClose = (a: number, b: number, key: string): void => expect(Math.abs(a - b), `${key}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-9 * Math.max(Math.abs(a), Math.abs(b), 1e-300));

describe('sampled evaluation', () => {
  const input = synthetic(11);
  const full = evaluateRanking(input);

  it('full evaluation: exact statistics (n = N, half-width 0), values as before', () => {
    expect(full.sampling).toEqual({ sampleUsers: 0, seed: 2024, shardIndex: 0, shardCount: 0, population: input.numGenuineUsers, usersRanked: input.numGenuineUsers });
    for (const [key, v] of Object.entries(full.metrics)) {
      const s = full.statistics[key]!;
      expect(s.mean, key).toBe(v);
      expect(s.ciHalfWidth, key).toBe(0);
    }
    expect(full.statistics['recall@20']!.count).toBe(full.usersEvaluated);
    expect(full.statistics['recall@20']!.population).toBe(full.usersEvaluated);
    for (const t of full.perTarget) expect(t.statistics['t_hr@20']).toMatchObject({ count: t.users, population: t.users, ciHalfWidth: 0 });
  });

  it('a seeded sample equals the exact metric restricted to the sampled users', () => {
    // without targets the population is the users with relevant items
    const noTargets = { ...input, targets: undefined };
    const sampled = evaluateRanking({ ...noTargets, sample: { sampleUsers: 300, seed: 99 } });
    const { users } = selectUsers(populationOf(noTargets), { sampleUsers: 300, seed: 99 });
    expect(users.length).toBe(300);
    expect(sampled.sampling).toMatchObject({ sampleUsers: 300, seed: 99, population: full.usersEvaluated, usersRanked: 300 });
    // the same evaluation with every other user's relevant items removed
    const keep = new Set(users);
    const rel = input.relevant;
    const r: number[] = [], c: number[] = [];
    for (let u = 0; u < rel.numRows; u++) if (keep.has(u)) for (let q = rel.indptr[u]!; q < rel.indptr[u + 1]!; q++) (r.push(u), c.push(rel.indices[q]!));
    const restricted = evaluateRanking({ ...noTargets, relevant: csrFromPairs(rel.numRows, rel.numCols, r, c) });
    expect(sampled.usersEvaluated).toBe(300);
    expect(restricted.usersEvaluated).toBe(300);
    expect(sampled.metrics).toEqual(restricted.metrics);
    // and the same seed draws the same users again
    expect(evaluateRanking({ ...noTargets, sample: { sampleUsers: 300, seed: 99 } }).metrics).toEqual(sampled.metrics);
    const s = sampled.statistics['recall@20']!;
    const expectedHw = (1.96 * s.stdDev) / Math.sqrt(300) * Math.sqrt((s.population - 300) / (s.population - 1));
    expect(s.ciHalfWidth).toBeCloseTo(expectedHw, 14);
    expect(s.ciHalfWidth).toBeGreaterThan(0);
  });

  it('the 95% interval covers the full-population value in at least 90 of 100 seeded samples', () => {
    const keys = ['recall@20', 'ndcg@20', 't_hr@20', 't_ndcg@20'];
    const covered = Object.fromEntries(keys.map((k) => [k, 0]));
    for (let seed = 1; seed <= 100; seed++) {
      const r = evaluateRanking({ ...input, sample: { sampleUsers: 200, seed } });
      for (const k of keys) {
        const s = r.statistics[k]!;
        expect(s.ciHalfWidth, `${k} seed ${seed}`).toBeDefined();
        if (Math.abs(s.mean - full.metrics[k]!) <= s.ciHalfWidth!) covered[k]!++;
      }
    }
    for (const k of keys) expect(covered[k], `${k}: ${covered[k]}/100`).toBeGreaterThanOrEqual(90);
  });
});

describe('sharded evaluation', () => {
  const input = synthetic(23, 1200);

  it('shards partition the users (of the population and of a sample): union = all, disjoint', () => {
    const pop = populationOf(input);
    for (const sampleUsers of [0, 500]) {
      const all = selectUsers(pop, { sampleUsers, seed: 5 }).users;
      for (const n of [1, 2, 3, 7]) {
        const seen = new Set<number>();
        let total = 0;
        for (let i = 0; i < n; i++) {
          const { users, sampling } = selectUsers(pop, { sampleUsers, seed: 5, shardIndex: i, shardCount: n });
          expect(sampling.usersRanked).toBe(users.length);
          for (const u of users) seen.add(u);
          total += users.length;
        }
        expect(total, `disjoint: ${n} shards of ${sampleUsers || 'all'}`).toBe(all.length);
        expect([...seen].sort((a, b) => a - b)).toEqual(Array.from(all));
      }
    }
  });

  it('merged shards equal the unsharded evaluation within 1e-9 relative (full and sampled)', () => {
    for (const sampleUsers of [0, 400]) {
      const whole = evaluateRanking({ ...input, sample: { sampleUsers, seed: 8 } });
      const shards = [2, 0, 1].map((i) => evaluateRanking({ ...input, sample: { sampleUsers, seed: 8, shardIndex: i, shardCount: 3 } }));
      const merged: RankingResult = mergeShards(shards);
      expect(merged.usersEvaluated).toBe(whole.usersEvaluated);
      expect(merged.sampling).toEqual({ ...whole.sampling, usersRanked: whole.sampling.usersRanked });
      expect(Object.keys(merged.metrics).sort()).toEqual(Object.keys(whole.metrics).sort());
      for (const [k, v] of Object.entries(whole.metrics)) relClose(merged.metrics[k]!, v, k);
      for (const [k, s] of Object.entries(whole.statistics)) {
        expect(merged.statistics[k]!.count, k).toBe(s.count);
        expect(merged.statistics[k]!.population, k).toBe(s.population);
        if (s.ciHalfWidth === undefined) expect(merged.statistics[k]!.ciHalfWidth, k).toBeUndefined();
        else relClose(merged.statistics[k]!.ciHalfWidth!, s.ciHalfWidth, `${k} half-width`);
      }
      whole.perTarget.forEach((t, ti) => {
        expect(merged.perTarget[ti]!.users).toBe(t.users);
        for (const [k, v] of Object.entries(t.metrics)) relClose(merged.perTarget[ti]!.metrics[k]!, v, `${t.item} ${k}`);
      });
    }
  });

  it('rejects bad sharding and sampling with INVALID_ARGUMENT naming the field', () => {
    const bad = (sample: RankingInput['sample'], field: RegExp) =>
      expect(() => evaluateRanking({ ...input, sample })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(field) }));
    bad({ shardIndex: 2, shardCount: 2 }, /shard_index/);
    bad({ shardIndex: 1 }, /shard_index/);
    bad({ shardCount: 1025 }, /shard_count/);
    bad({ sampleUsers: input.numGenuineUsers + 1 }, /sample_users.*exceeds/);
    bad({ sampleUsers: 1.5 }, /sample_users/);
    const shards = [0, 1].map((i) => evaluateRanking({ ...input, sample: { shardIndex: i, shardCount: 3 } }));
    expect(() => mergeShards(shards)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/evaluations.*missing: 2/) }));
    expect(() => mergeShards([shards[0]!, shards[0]!])).toThrow(expect.objectContaining({ message: expect.stringMatching(/twice/) }));
    expect(() => mergeShards([])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('states the interval: undefined below 2 users or for equal values, 0 for the whole population', () => {
    expect(metricStats(1, 0.5, 0.25, 10).ciHalfWidth).toBeUndefined();
    expect(metricStats(5, 0, 0, 10).ciHalfWidth).toBeUndefined();
    expect(metricStats(10, 0, 0, 10).ciHalfWidth).toBe(0);
    expect(metricStats(10, 5, 3, 10).ciHalfWidth).toBe(0);
    const s = metricStats(4, 2, 1.5, 8);
    expect(s.stdDev).toBeCloseTo(Math.sqrt((1.5 - 1) / 3), 15);
    expect(s.ciHalfWidth).toBeCloseTo((1.96 * s.stdDev) / 2 * Math.sqrt(4 / 7), 15);
  });
});
