import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gowallaDir, rowOf } from '@robustrec/core';
import { exportAuthorsProfiles, parseAuthorsProfiles, poison, profileSetIdOf, statistics, syntheticInteractions, validateProfileSet } from '../src';

const clean = syntheticInteractions({ numUsers: 300, numItems: 200, meanInteractions: 15, seed: 3 });

describe('poisoning', () => {
  const set = {
    targetItems: [7, 42],
    profiles: [
      { name: 'f0', items: [7, 42, 1, 2, 7] }, // duplicate collapses
      { name: 'f1', items: [42, 199] },
    ],
  };
  const p = poison(clean, set);

  it('appends fake users after the genuine ones, train only, flagged by numGenuineUsers', () => {
    expect(p.numGenuineUsers).toBe(300);
    expect(p.numUsers).toBe(302);
    expect(p.numItems).toBe(200);
    expect(Array.from(rowOf(p.train, 300))).toEqual([1, 2, 7, 42]);
    expect(Array.from(rowOf(p.train, 301))).toEqual([42, 199]);
    for (const u of [300, 301]) {
      expect(rowOf(p.valid, u).length).toBe(0);
      expect(rowOf(p.test, u).length).toBe(0);
    }
    expect(Array.from(p.targetItems)).toEqual([7, 42]);
  });

  it('leaves genuine users untouched and is deterministic', () => {
    for (const u of [0, 150, 299]) {
      expect(Array.from(rowOf(p.train, u))).toEqual(Array.from(rowOf(clean.train, u)));
      expect(Array.from(rowOf(p.test, u))).toEqual(Array.from(rowOf(clean.test, u)));
    }
    expect(poison(clean, set).id).toBe(p.id);
    expect(p.id).not.toBe(clean.id);
    const s = statistics(p);
    expect([s.users, s.fakeUsers, s.fakeInteractions]).toEqual([300, 2, 6]);
    expect(s.interactions).toBe(statistics(clean).interactions);
  });

  it('rejects out-of-range items naming the profile and re-poisoning', () => {
    expect(() => poison(clean, { targetItems: [1], profiles: [{ name: 'x', items: [1, 200] }] })).toThrow(/profile_set\.profiles\[0\] \(x\): item 200 is outside/);
    expect(() => poison(clean, { targetItems: [300], profiles: [{ name: 'x', items: [1] }] })).toThrow(/target_items\[0\]/);
    expect(() => poison(p, set)).toThrow(expect.objectContaining({ code: 'FAILED_PRECONDITION' }));
  });
});

describe("authors' profile format", () => {
  const json = '{"target_items": ["5", "9"], "fake_users": {"fake_user_0": ["5", "1", "2"], "fake_user_1": ["9"], "n\\u00e9": ["9", "3"]}}';

  it('parses, drops short profiles, exports byte-identically', () => {
    const all = parseAuthorsProfiles(json, 'x.json');
    expect(all.targetItems).toEqual([5, 9]);
    expect(all.profiles.map((p) => p.name)).toEqual(['fake_user_0', 'fake_user_1', 'né']);
    expect(exportAuthorsProfiles(all)).toBe(json);
    const long = parseAuthorsProfiles(json, 'x.json', 2);
    expect(long.dropped).toBe(1);
    expect(long.profiles.map((p) => p.name)).toEqual(['fake_user_0', 'né']);
  });

  it('rejects bad documents with the location', () => {
    expect(() => parseAuthorsProfiles('{', 'a.json')).toThrow(/^a\.json: invalid JSON/);
    expect(() => parseAuthorsProfiles('{"target_items": ["1"], "fake_users": {"u": ["1", "x"]}}', 'a.json')).toThrow(/a\.json: fake_users\.u\[1\]: not an item id: "x"/);
    expect(() => parseAuthorsProfiles('{"target_items": "1", "fake_users": {}}', 'a.json')).toThrow(/target_items/);
  });

  it('content-addresses over dataset, targets and profiles', () => {
    const a = validateProfileSet({ datasetId: 'd1', ...parseAuthorsProfiles(json, 'x') }, 10);
    expect(profileSetIdOf(a)).toBe(profileSetIdOf({ ...a }));
    expect(profileSetIdOf({ ...a, datasetId: 'd2' })).not.toBe(profileSetIdOf(a));
    expect(profileSetIdOf({ ...a, targetItems: [5] })).not.toBe(profileSetIdOf(a));
  });

  it.skipIf(!gowallaDir())("round-trips the authors' Random-attack file byte for byte", () => {
    const path = join(gowallaDir()!, 'attacks', 'random.json');
    expect(existsSync(path)).toBe(true);
    const text = readFileSync(path, 'utf8');
    const parsed = parseAuthorsProfiles(text, 'random.json', 0);
    expect(parsed.targetItems).toEqual([18443, 34868, 29335, 34106, 22009]);
    expect(parsed.profiles.length).toBe(Object.keys(JSON.parse(text).fake_users).length);
    expect(exportAuthorsProfiles(parsed)).toBe(text);
  });
});
