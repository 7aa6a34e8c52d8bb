import { afterAll, describe, expect, it } from 'vitest';
import { csrFromPairs, Rng, rowOf } from '@robustrec/core';
import { importInteractionFile, kCoreMask, splitPerUser } from '../src';
import { rows, scratch } from './helpers';

const tmp = scratch();
afterAll(() => tmp.cleanup());

describe('iterated k-core', () => {
  it('cascades: removing a sparse item pushes a user under the threshold', () => {
    // users 0,1 have items {0,1}; user 2 has {0,1,2}; item 2 only has user 2 -> with core 2
    // item 2 goes, then user 2 still has 2 items and stays. User 3 has {2, 3}: item 3 has
    // one user so it goes, then user 3 is left with item 2 only, which then also drops.
    const pairs = [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1], [2, 2], [3, 2], [3, 3]];
    const mask = kCoreMask(pairs.map((p) => p[0]!), pairs.map((p) => p[1]!), 4, 4, 2, 2);
    const kept = pairs.filter((_, k) => mask[k]);
    expect(kept).toEqual([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]]);
  });

  it('a core of 0 keeps everything', () => {
    expect(Array.from(kCoreMask([0, 1], [0, 0], 2, 1, 0, 0))).toEqual([1, 1]);
  });

  it('equals the fixed point of repeated pruning passes on random multigraphs (duplicates, one-sided cores)', () => {
    // the definition, written the slow way: prune every pass until nothing changes
    const passes = (us: number[], is: number[], nu: number, ni: number, cu: number, ci: number): number[] => {
      const alive = us.map(() => 1);
      for (;;) {
        const uc = new Array<number>(nu).fill(0), ic = new Array<number>(ni).fill(0);
        us.forEach((u, k) => alive[k] && (uc[u]!++, ic[is[k]!]!++));
        let removed = 0;
        us.forEach((u, k) => {
          if (alive[k] && (uc[u]! < cu || ic[is[k]!]! < ci)) (alive[k] = 0), removed++;
        });
        if (!removed) return alive;
      }
    };
    const rng = new Rng(7);
    let cascades = 0;
    for (let t = 0; t < 300; t++) {
      const nu = 1 + rng.int(30), ni = 1 + rng.int(30), n = rng.int(200);
      // skewed items so that cores cascade
      const us = Array.from({ length: n }, () => rng.int(nu));
      const is = Array.from({ length: n }, () => Math.floor(ni * rng.next() ** 2));
      const cu = rng.int(6), ci = rng.int(6);
      const want = passes(us, is, nu, ni, cu, ci);
      expect(Array.from(kCoreMask(us, is, nu, ni, cu, ci)), `case ${t}`).toEqual(want);
      if (want.some((a) => !a) && want.some((a) => a)) cascades++;
    }
    expect(cascades).toBeGreaterThan(50); // the cases exercise partial pruning, not just all or nothing
  });
});

describe('per-user split', () => {
  it('chronological: newest 20% to test, newest 10% of the rest to validation', () => {
    const items = Array.from({ length: 20 }, (_, k) => 19 - k); // oldest first: 19, 18, ..., 0
    const s = splitPerUser([items], 20, {}, undefined);
    expect(Array.from(rowOf(s.test, 0))).toEqual([0, 1, 2, 3]); // the last 4 listed
    expect(Array.from(rowOf(s.valid, 0)).sort((a, b) => a - b)).toEqual([4, 5]); // round(16 * 0.1) = 2
    expect(rowOf(s.train, 0).length).toBe(14);
  });

  it('random: seeded, disjoint, covering, independent of input order', () => {
    const items = Array.from({ length: 50 }, (_, k) => k * 3);
    const a = splitPerUser([items], 150, {}, new Rng(5));
    const b = splitPerUser([[...items].reverse()], 150, {}, new Rng(5));
    const c = splitPerUser([items], 150, {}, new Rng(6));
    expect(rows(a.test)).toEqual(rows(b.test));
    expect(rows(a.test)).not.toEqual(rows(c.test));
    const all = [...rowOf(a.train, 0), ...rowOf(a.valid, 0), ...rowOf(a.test, 0)].sort((x, y) => x - y);
    expect(all).toEqual(items);
    expect([rowOf(a.train, 0).length, rowOf(a.valid, 0).length, rowOf(a.test, 0).length]).toEqual([36, 4, 10]);
  });

  it('always leaves a training interaction', () => {
    const s = splitPerUser([[3], [1, 2]], 4, { testRatio: 0.9 }, undefined);
    expect(rows(s.train)).toEqual([[3], [1]]);
    expect(rows(s.test)).toEqual([[], [2]]);
  });
});

describe('generic interaction files', () => {
  // 12 users x 12 items dense block (survives a 10-core) plus a sparse fringe that must go
  const block: string[] = [];
  for (let u = 0; u < 12; u++) for (let i = 0; i < 12; i++) block.push(`u${u},item${i},${1000 + u * 100 + i},${(u + i) % 5}`);
  const fringe = ['u99,item0,5,5', 'u0,item77,6,5'];

  it('header + column names + timestamps: k-core, remap with original ids, chronological split', async () => {
    const p = tmp.write('ratings.csv', ['user,item,ts,rating', ...block, ...fringe].join('\n') + '\n');
    const r = await importInteractionFile(p, { hasHeader: true, userColumn: 'user', itemColumn: 'item', timestampColumn: 'ts' });
    expect(r.numUsers).toBe(12);
    expect(r.numItems).toBe(12);
    expect(r.userIds).not.toContain('u99');
    expect(r.itemIds).not.toContain('item77');
    expect(r.userIds.slice(0, 3)).toEqual(['u0', 'u1', 'u10']); // string ids sorted, not file order
    expect(r.chronological).toBe(true);
    expect(r.counts).toEqual({ lines: 146, rated: 146, unique: 146, core: 144 });
    // the newest interactions (largest item index within a user's timestamps) are in test
    const u0 = r.userIds.indexOf('u0');
    const idx = (name: string): number => r.itemIds.indexOf(name);
    expect(Array.from(rowOf(r.test, u0)).sort()).toEqual([idx('item10'), idx('item11')].sort()); // round(12*0.2)=2
    expect(Array.from(rowOf(r.valid, u0))).toEqual([idx('item9')]); // round(10*0.1)=1
    expect(r.train.indices.length + r.valid.indices.length + r.test.indices.length).toBe(144);
  });

  it('no header, index columns, tab delimiter auto-detected, rating filter, duplicates collapse, seeded random split', async () => {
    const tsv = block.map((l) => l.split(',').join('\t'));
    const p = tmp.write('ratings.tsv', [...tsv, tsv[1]!].join('\n'));
    const opts = { ratingColumn: '3', minRating: 1, userCore: 0, itemCore: 0, seed: 9 };
    const r = await importInteractionFile(p, opts);
    const kept = block.filter((l) => Number(l.split(',')[3]) >= 1).length;
    expect(r.counts.rated).toBe(kept + 1);
    expect(r.counts.unique).toBe(kept);
    expect(r.chronological).toBe(false);
    expect(r.train.indices.length + r.valid.indices.length + r.test.indices.length).toBe(kept);
    const again = await importInteractionFile(p, opts);
    expect(rows(again.test)).toEqual(rows(r.test));
    expect(rows((await importInteractionFile(p, { ...opts, seed: 10 })).test)).not.toEqual(rows(r.test));
  });

  it('numeric ids sort numerically and quoted CSV fields are read', async () => {
    const p = tmp.write('quoted.csv', 'user,item\n"10","a, b"\n9,"c ""d"""\n10,c "d"\n');
    const r = await importInteractionFile(p, { hasHeader: true, userCore: 0, itemCore: 0, testRatio: 0, validRatio: 0 });
    expect(r.userIds).toEqual(['9', '10']);
    expect(r.itemIds).toEqual(['a, b', 'c "d"']);
    expect(rows(r.train)).toEqual([[1], [0, 1]]);
    expect(rows(csrFromPairs(2, 2, [], []))).toEqual([[], []]);
  });

  it('malformed lines are INVALID_ARGUMENT naming file:line', async () => {
    const bad = tmp.write('bad.csv', 'user,item,ts\n1,2,3\n1,2\n');
    await expect(importInteractionFile(bad, { hasHeader: true, timestampColumn: 'ts' })).rejects.toThrow(/^bad\.csv:3: expected at least 3 fields/);
    const badTs = tmp.write('badts.csv', '1,2,3\n\n1,3,yesterday-ish\n');
    await expect(importInteractionFile(badTs, { timestampColumn: '2' })).rejects.toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^badts\.csv:3: timestamp/) }),
    );
    await expect(importInteractionFile(badTs, { userColumn: 'user' })).rejects.toThrow(/user_column: column "user" given by name but has_header is false/);
    await expect(importInteractionFile(bad, { hasHeader: true, userColumn: 'who' })).rejects.toThrow(/user_column: no column "who"/);
    await expect(importInteractionFile(bad, { testRatio: 1.5 })).rejects.toThrow(/test_ratio/);
  });

  it('a k-core that removes everything is INVALID_ARGUMENT; a missing file NOT_FOUND', async () => {
    const p = tmp.write('tiny.csv', '1,2\n2,3\n');
    await expect(importInteractionFile(p)).rejects.toThrow(/user_core: no interactions of tiny\.csv survive the 10\/10-core/);
    await expect(importInteractionFile(`${tmp.dir}/nope.csv`)).rejects.toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });
});
