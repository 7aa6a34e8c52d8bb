import { describe, expect, it } from 'vitest';
import { csrFromRows, Rng } from '@robustrec/core';
import { dotProductScorer, topItems } from '@robustrec/scoring';
import { ServePool } from '../src/serve-pool';

describe('ServePool (serving worker over shared memory)', () => {
  it('answers concurrent requests of two models with exactly topItems lists, grows its result buffers for large k, and drops removed models', async () => {
    const rng = new Rng(11);
    const [numUsers, numItems, dim] = [40, 300, 8];
    const table = (n: number): Float32Array => Float32Array.from({ length: n * dim }, () => Math.fround(0.1 * rng.normal()));
    const a = dotProductScorer(table(numUsers), table(numItems), dim);
    const b = dotProductScorer(table(numUsers), table(numItems), dim);
    const seen = csrFromRows(numUsers, numItems, Object.fromEntries(Array.from({ length: numUsers }, (_, u) => [u, [u, (7 * u) % numItems, 299]])));
    const pool = new ServePool(1, 4);
    try {
      pool.add('a', a, seen);
      pool.add('b', b, seen);
      // 3 x 40 requests at once: batches of up to 4 leave while the worker is busy, both models and both mask settings interleaved
      const reqs = Array.from({ length: 120 }, (_, i) => ({ key: i % 3 ? 'a' : 'b', user: i % numUsers, k: 1 + (i % 20), exclude: i % 2 === 0 }));
      const got = await Promise.all(reqs.map((r) => pool.recommend(r.key, r.user, r.k, r.exclude)));
      reqs.forEach((r, i) => {
        const want = topItems(r.key === 'a' ? a : b, Uint32Array.of(r.user), r.k, r.exclude ? [seen] : []);
        expect(Array.from(got[i]!.items)).toEqual(Array.from(want.items));
        expect(Array.from(got[i]!.scores)).toEqual(Array.from(want.scores));
      });
      // k = every item, in a batch: larger than the initial result buffers (4 x 64)
      const all = await Promise.all([0, 1, 2, 3].map((u) => pool.recommend('a', u, numItems, true)));
      all.forEach((r, u) => expect(Array.from(r.items)).toEqual(Array.from(topItems(a, Uint32Array.of(u), numItems, [seen]).items)));
      expect(pool.stats.batches).toBeLessThan(pool.stats.users);
      pool.remove('b');
      expect(pool.has('b')).toBe(false);
      await expect(pool.recommend('b', 0, 5, true)).rejects.toThrow(/not in the serving pool/);
      expect(Array.from((await pool.recommend('a', 5, 5, false)).items)).toEqual(Array.from(topItems(a, Uint32Array.of(5), 5).items));
    } finally {
      await pool.close();
    }
    await expect(pool.recommend('a', 0, 5, true)).rejects.toThrow(/closed|not in the serving pool/);
  });
});

describe('ServePool worker failures', () => {
  it('replaces a worker that died, and stops respawning one that keeps dying', async () => {
    const rng = new Rng(2);
    const table = (n: number): Float32Array => Float32Array.from({ length: n * 4 }, () => Math.fround(rng.normal()));
    const a = dotProductScorer(table(10), table(50), 4);
    const seen = csrFromRows(10, 50, { 0: [1] });
    const pool = new ServePool(1, 4);
    const worker = (): { terminate(): Promise<number> } => (pool as unknown as { workers: Array<{ helper: { worker: { terminate(): Promise<number> } } }> }).workers[0]!.helper.worker;
    const exited = async (): Promise<void> => {
      await worker().terminate();
      await new Promise((r) => setTimeout(r, 20));
    };
    try {
      pool.add('a', a, seen);
      const want = Array.from(topItems(a, Uint32Array.of(3), 5, [seen]).items);
      expect(Array.from((await pool.recommend('a', 3, 5, true)).items)).toEqual(want);
      await exited();
      // a fresh worker took its place and is sent the model again
      expect(Array.from((await pool.recommend('a', 3, 5, true)).items)).toEqual(want);
      for (let i = 0; i < 4; i++) await exited();
      await expect(pool.recommend('a', 3, 5, true)).rejects.toThrow(/serving workers keep failing: exited with code/);
    } finally {
      await pool.close();
    }
  });
});

