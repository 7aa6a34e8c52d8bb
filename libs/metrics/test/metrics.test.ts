import { describe, expect, it } from 'vitest';
import { csrFromPairs, csrFromRows, Rng, type Csr } from '@robustrec/core';
import { BLOCK, dotProductScorer, neumfScorer, scalarScore, type PortableScorer, type Scorer } from '@robustrec/scoring';
import { evaluateRanking, evaluateRankingAsync, type RankingResult } from '../src/index';

/** A scorer that hides the dot-product structure (forces the generic single-thread path). */
const opaque = (s: Scorer): Scorer => ({ numUsers: s.numUsers, numItems: s.numItems, scoreUsers: (u, o) => s.scoreUsers(u, o) });

describe('evaluateRanking, hand-checked example', () => {
  // dim 1: user 0 (+1) ranks items 0,1,2,3,4; user 1 (-1) ranks 4,3,2,1,0; user 2 is fake.
  const scorer = dotProductScorer(Float32Array.from([1, -1, 1]), Float32Array.from([5, 4, 3, 2, 1]), 1);
  const train = csrFromRows(3, 5, { 0: [0], 1: [4], 2: [3] });
  const test = csrFromRows(3, 5, { 0: [2, 4], 1: [3] });
  const input = { scorer, numGenuineUsers: 2, exclude: [train], relevant: test, targets: Uint32Array.from([1, 3]), ks: [1, 2, 3], threads: 1 };
  const l = (r: number): number => 1 / Math.log2(r + 1);

  const check = (r: RankingResult): void => {
    // user 0, item 0 masked: 1,2,3,4 -> hits at ranks 2 and 4 (|test| = 2)
    // user 1, item 4 masked: 3,2,1,0 -> hit at rank 1 (|test| = 1)
    expect(r.usersEvaluated).toBe(2);
    expect(r.metrics['recall@1']).toBeCloseTo((0 + 1) / 2, 12);
    expect(r.metrics['recall@2']).toBeCloseTo((1 / 2 + 1) / 2, 12);
    expect(r.metrics['recall@3']).toBeCloseTo((1 / 2 + 1) / 2, 12); // rank 4 is outside k = 3
    expect(r.metrics['ndcg@1']).toBeCloseTo((0 + 1) / 2, 12);
    // user 0: DCG = l(2); IDCG over min(2, k) = 2 positions = 1 + l(2)
    expect(r.metrics['ndcg@2']).toBeCloseTo((l(2) / (1 + l(2)) + 1) / 2, 12);
    expect(r.metrics['ndcg@3']).toBeCloseTo((l(2) / (1 + l(2)) + 1) / 2, 12);
    // target 1: user 0 ranks it 1st, user 1 3rd (both eligible); the fake user never counts
    // target 3: user 1 has it in test (ineligible); user 0 ranks it 3rd
    expect(r.perTarget).toEqual([
      expect.objectContaining({ item: 1, users: 2, metrics: expect.objectContaining({ 't_hr@1': 0.5, 't_hr@2': 0.5, 't_hr@3': 1 }) }),
      expect.objectContaining({ item: 3, users: 1, metrics: expect.objectContaining({ 't_hr@1': 0, 't_hr@2': 0, 't_hr@3': 1 }) }),
    ]);
    expect(r.perTarget[0]!.metrics['t_ndcg@3']).toBeCloseTo((1 + l(3)) / 2, 12);
    expect(r.perTarget[1]!.metrics['t_ndcg@3']).toBeCloseTo(l(3), 12);
    expect(r.metrics['t_hr@1']).toBeCloseTo((0.5 + 0) / 2, 12);
    expect(r.metrics['t_hr@3']).toBeCloseTo(1, 12);
    expect(r.metrics['t_ndcg@1']).toBeCloseTo(0.25, 12);
    expect(r.metrics['t_ndcg@3']).toBeCloseTo(((1 + 0.5) / 2 + 0.5) / 2, 12);
  };

  it('computes every metric as worked out by hand', () => check(evaluateRanking(input)));
  it('gives the same through the generic scorer path and the async API', async () => {
    check(evaluateRanking({ ...input, scorer: opaque(scorer) }));
    check(await evaluateRankingAsync(input));
  });
  it('defaults to k = 10, 20, 50 and skips attack metrics without targets', () => {
    const r = evaluateRanking({ scorer, numGenuineUsers: 2, exclude: [train], relevant: test });
    expect(Object.keys(r.metrics).sort()).toEqual(['ndcg@10', 'ndcg@20', 'ndcg@50', 'recall@10', 'recall@20', 'recall@50']);
    expect(r.metrics['recall@10']).toBe(1);
    expect(r.perTarget).toEqual([]);
  });
  it('rejects bad input with INVALID_ARGUMENT naming the field', () => {
    expect(() => evaluateRanking({ ...input, ks: [0] })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/ks/) }));
    expect(() => evaluateRanking({ ...input, targets: Uint32Array.from([9]) })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/targets/) }));
    expect(() => evaluateRanking({ ...input, numGenuineUsers: 4 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/numGenuineUsers/) }));
    expect(() => dotProductScorer(new Float32Array(5), new Float32Array(4), 2)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

/** Sort-everything reference straight from the definitions (reference notes §4). */
function bruteForce(U: Float32Array, V: Float32Array, dim: number, numGenuine: number, exclude: Csr[], rel: Csr, targets: number[], tex: Csr[], ks: number[]): Record<string, number> {
  const numItems = V.length / dim;
  const has = (ms: Csr[], u: number, i: number): boolean => ms.some((m) => u < m.numRows && Array.from(m.indices.subarray(m.indptr[u]!, m.indptr[u + 1]!)).includes(i));
  const ranking = (u: number): number[] => {
    const s = Array.from({ length: numItems }, (_, i) => scalarScore(U, V, dim, u, i));
    return [...s.keys()].filter((i) => !has(exclude, u, i)).sort((a, b) => s[b]! - s[a]! || a - b);
  };
  const out: Record<string, number> = {};
  const ranked = Array.from({ length: numGenuine }, (_, u) => ranking(u));
  for (const k of ks) {
    let rec = 0, nd = 0, n = 0;
    for (let u = 0; u < numGenuine; u++) {
      const relItems = Array.from(rel.indices.subarray(rel.indptr[u]!, rel.indptr[u + 1]!));
      if (!relItems.length) continue;
      const topk = ranked[u]!.slice(0, k);
      const hits = topk.map((i) => relItems.includes(i));
      rec += hits.filter(Boolean).length / relItems.length;
      let dcg = 0, idcg = 0;
      hits.forEach((h, p) => (dcg += h ? 1 / Math.log2(p + 2) : 0));
      for (let p = 0; p < Math.min(relItems.length, k); p++) idcg += 1 / Math.log2(p + 2);
      nd += dcg / idcg;
      n++;
    }
    out[`recall@${k}`] = rec / n;
    out[`ndcg@${k}`] = nd / n;
    if (targets.length) {
      let hr = 0, tn = 0;
      for (const t of targets) {
        let h = 0, g = 0, m = 0;
        for (let u = 0; u < numGenuine; u++) {
          if (has(tex, u, t)) continue;
          const rank = ranked[u]!.indexOf(t) + 1;
          m++;
          if (rank <= k) (h++, (g += 1 / Math.log2(rank + 1)));
        }
        hr += h / m;
        tn += g / m;
      }
      out[`t_hr@${k}`] = hr / targets.length;
      out[`t_ndcg@${k}`] = tn / targets.length;
    }
  }
  return out;
}

describe('evaluateRanking against a brute-force reference', () => {
  const cases = [
    { name: 'normal embeddings', numUsers: 300, numGenuine: 285, numItems: 203, dim: 16, value: (r: Rng) => Math.fround(r.normal() * 0.1) },
    // small integers: many exact score ties, which must break by lower item id
    { name: 'tied integer embeddings', numUsers: 300, numGenuine: 290, numItems: 61, dim: 3, value: (r: Rng) => r.int(3) - 1 },
  ];
  for (const c of cases) {
    it(`matches on random data (${c.name}), with 1 and 2 threads, dot and generic paths`, async () => {
      const rng = new Rng(42);
      const U = Float32Array.from({ length: c.numUsers * c.dim }, () => c.value(rng));
      const V = Float32Array.from({ length: c.numItems * c.dim }, () => c.value(rng));
      const pairs = (p: number): Csr => {
        const r: number[] = [], col: number[] = [];
        for (let u = 0; u < c.numUsers; u++) for (let i = 0; i < c.numItems; i++) if (rng.next() < p) (r.push(u), col.push(i));
        return csrFromPairs(c.numUsers, c.numItems, r, col);
      };
      const train = pairs(0.1), valid = pairs(0.03), test = pairs(0.05);
      const targets = [3, 17, 40];
      const ks = [1, 5, 20];
      const scorer = dotProductScorer(U, V, c.dim);
      const input = { scorer, numGenuineUsers: c.numGenuine, exclude: [train, valid], relevant: test, targets: Uint32Array.from(targets), targetExclude: [train, valid, test], ks };
      const expected = bruteForce(U, V, c.dim, c.numGenuine, [train, valid], test, targets, [train, valid, test], ks);
      const one = evaluateRanking({ ...input, threads: 1 });
      for (const [key, v] of Object.entries(expected)) expect(one.metrics[key], key).toBeCloseTo(v, 12);
      expect(Object.keys(one.metrics).sort()).toEqual(Object.keys(expected).sort());
      // deterministic whatever the split: identical, not merely close
      expect(evaluateRanking({ ...input, threads: 2 }).metrics).toEqual(one.metrics);
      expect((await evaluateRankingAsync({ ...input, threads: 2 })).metrics).toEqual(one.metrics);
      expect(evaluateRanking({ ...input, scorer: opaque(scorer) }).metrics).toEqual(one.metrics);
    });
  }
});

describe('evaluateRankingAsync with a scorer that is not a dot product (NeuMF path)', () => {
  it('yields to the event loop at least every BLOCK users (time slices, not blocks of 256) and ranks exactly as the blocking call', async () => {
    const [nu, ni, dim] = [600, 10000, 64];
    const rng = new Rng(11);
    const U = Float32Array.from({ length: nu * dim }, () => rng.normal());
    const V = Float32Array.from({ length: ni * dim }, () => rng.normal());
    const r: number[] = [], c: number[] = [];
    for (let u = 0; u < nu; u++) for (let q = 0; q < 5; q++) (r.push(u), c.push(rng.int(ni)));
    const test = csrFromPairs(nu, ni, r, c);
    const inner = opaque(dotProductScorer(U, V, dim));
    // users scored since the event loop last turned: a self-rescheduling setImmediate runs once
    // per turn, so between two of its runs exactly one slice of the evaluation runs
    let since = 0, most = 0, turns = 0, on = true;
    const scorer: Scorer = { numUsers: nu, numItems: ni, scoreUsers: (users, out) => {
      since += users.length;
      most = Math.max(most, since);
      inner.scoreUsers(users, out);
    } };
    const input = { scorer, numGenuineUsers: nu, exclude: [], relevant: test, ks: [20] };
    const blocking = evaluateRanking(input);
    expect(most).toBe(nu); // the blocking call never yields
    since = 0;
    most = 0;
    const tick = (): void => {
      since = 0;
      turns++;
      if (on) setImmediate(tick);
    };
    setImmediate(tick);
    const got = await evaluateRankingAsync(input);
    on = false;
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(BLOCK); // fixed blocks of 4·BLOCK = 256 users before
    expect(turns).toBeGreaterThanOrEqual(Math.ceil(nu / BLOCK));
    expect(got.metrics).toEqual(blocking.metrics);
  });

  it('ranks a portable scorer (NeuMF) on the ranking threads, never on the event loop, exactly as the blocking call', async () => {
    const [nu, ni, d] = [600, 3000, 16];
    const rng = new Rng(12);
    const r = (n: number): Float32Array => Float32Array.from({ length: n }, () => 0.5 * rng.normal());
    const w = 2 * d;
    const neumf = neumfScorer({ numUsers: nu, numItems: ni, width: w, U: r(nu * w), V: r(ni * w), W1: r(w * d), b1: r(d), W2: r(d * (d / 2)), b2: r(d / 2), h: r(d + d / 2) });
    let here = 0; // users scored on this thread
    const scorer: PortableScorer = { ...neumf, scoreUsers: (users, out) => ((here += users.length), neumf.scoreUsers(users, out)) };
    const rows: number[] = [], cols: number[] = [];
    for (let u = 0; u < nu; u++) for (let q = 0; q < 4; q++) (rows.push(u), cols.push(rng.int(ni)));
    const input = { scorer, numGenuineUsers: nu, exclude: [], relevant: csrFromPairs(nu, ni, rows, cols), ks: [20], threads: 2 };
    const blocking = evaluateRanking(input);
    expect(here).toBe(nu);
    here = 0;
    const got = await evaluateRankingAsync(input);
    expect(here).toBe(0); // rebuilt on the helpers from its portable spec (before: every user ranked here)
    expect(got.metrics).toEqual(blocking.metrics);
    expect(got.metrics['recall@20']).toBeGreaterThan(0);
  });
});
