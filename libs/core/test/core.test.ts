import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Rng, csrFromPairs, csrHas, csrTranspose, rowOf, canonicalJson, resolveUnderRoots, RrError, repoRoot, versions } from '../src';

describe('Rng', () => {
  it('is deterministic per seed and fork label', () => {
    const a = new Rng(7), b = new Rng(7);
    const xs = Array.from({ length: 5 }, () => a.u32());
    expect(Array.from({ length: 5 }, () => b.u32())).toEqual(xs);
    expect(new Rng(7).fork('x').u32()).toBe(new Rng(7).fork('x').u32());
    expect(new Rng(7).fork('x').u32()).not.toBe(new Rng(7).fork('y').u32());
  });
  it('draws uniform ints and normals with the right moments', () => {
    const r = new Rng(1);
    let s = 0, s2 = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) { const z = r.normal(); s += z; s2 += z * z; }
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.05);
    const counts = new Array(4).fill(0);
    for (let i = 0; i < 4000; i++) counts[r.int(4)]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(120);
  });
  it('restores state', () => {
    const r = new Rng(3); r.u32();
    const st = r.state(); const x = r.next();
    const q = new Rng(99); q.restore(st);
    expect(q.next()).toBe(x);
  });
});

describe('Csr', () => {
  it('builds sorted unique rows and transposes', () => {
    const m = csrFromPairs(3, 4, [0, 0, 2, 0, 2], [3, 1, 0, 1, 2]);
    expect(Array.from(rowOf(m, 0))).toEqual([1, 3]);
    expect(Array.from(rowOf(m, 1))).toEqual([]);
    expect(Array.from(rowOf(m, 2))).toEqual([0, 2]);
    expect(csrHas(m, 0, 3)).toBe(true);
    expect(csrHas(m, 0, 2)).toBe(false);
    const t = csrTranspose(m);
    expect(Array.from(rowOf(t, 1))).toEqual([0]);
    expect(Array.from(rowOf(t, 0))).toEqual([2]);
  });
});

describe('config and provenance', () => {
  it('records the source commit with every result (git describe of the checkout, or ROBUSTREC_COMMIT)', () => {
    let head = 'unknown';
    try {
      head = execFileSync('git', ['-C', repoRoot, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      /* not a checkout: "unknown" expected */
    }
    const commit = versions().commit!;
    if (process.env.ROBUSTREC_COMMIT) expect(commit).toBe(process.env.ROBUSTREC_COMMIT);
    else if (head === 'unknown') expect(commit).toBe('unknown');
    else expect(commit).toMatch(new RegExp(`^${head.slice(0, 12)}(-dirty)?$`));
  });
  it('canonical JSON sorts keys', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [1] } })).toBe('{"a":{"c":[1],"d":2},"b":1}');
  });
  it('refuses paths outside the data roots', () => {
    expect(() => resolveUnderRoots('/etc/passwd', ['/data'])).toThrow(RrError);
    expect(() => resolveUnderRoots('/data/../etc/passwd', ['/data'])).toThrow(/outside the configured data roots/);
    expect(resolveUnderRoots('/data/x/train.txt', ['/data'])).toBe('/data/x/train.txt');
  });
});
