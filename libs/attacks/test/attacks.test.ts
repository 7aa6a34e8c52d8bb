import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gowallaDir, Rng, RrError, rowOf } from '@robustrec/core';
import {
  builtinSpec,
  chooseTargets,
  fromAuthorsJson,
  generators,
  GENERATION_RULES,
  itemPopularity,
  maxProfileLength,
  profileViolations,
  resolveAttack,
  runBuiltin,
  toAuthorsJson,
  validateProfiles,
  type AttackRequest,
} from '../src/index';
import { syntheticTrain } from './synthetic';

const train = syntheticTrain();
const numItems = train.numCols;
const pop = itemPopularity(train);

const resolve = (req: AttackRequest) => resolveAttack(req, train, numItems, builtinSpec(req.generator));
const expectCode = (fn: () => unknown, code: string, field: string): void => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RrError);
    expect((e as RrError).code).toBe(code);
    expect((e as RrError).message).toContain(field);
    return;
  }
  throw new Error('expected an error');
};

// small work sizes so that the optimisation attacks run in seconds on synthetic data
const FAST: Record<string, Record<string, number>> = {
  dp: { dim: 8, epochs: 3, rounds: 2, sample_users: 100, eval_users: 100 },
  rev: { dim: 8, candidates: 60, rounds: 2, init_sweeps: 2, unroll: 2, adv_users: 60, eval_users: 100 },
};

describe('registry', () => {
  it('holds the six built-in attacks under their described names', () => {
    expect([...generators.keys()]).toEqual(['random', 'bandwagon', 'average', 'segment', 'dp', 'rev']);
    for (const [name, g] of generators) {
      const d = g.spec;
      expect(d.name).toBe(name);
      expect(d.description.length).toBeGreaterThan(10);
      for (const p of Object.values(d.params)) expect(Number.isFinite(p.default)).toBe(true);
    }
  });
});

describe('common parameters', () => {
  it('defaults: 5 low-popularity targets, 1% budget (floored), average profile length, seed 2024', () => {
    const r = resolve({ generator: 'random' });
    expect(r.targetItems).toHaveLength(5);
    const seen = Array.from(pop).filter((c) => c > 0).sort((a, b) => a - b);
    const cut = seen[Math.floor(0.1 * (seen.length - 1))]!;
    for (const t of r.targetItems) expect(pop[t]).toBeGreaterThan(0), expect(pop[t]).toBeLessThanOrEqual(cut);
    expect(r.numFakeUsers).toBe(Math.floor(0.01 * train.numRows));
    expect(r.profileLength).toBe(Math.round(train.indptr[train.numRows]! / train.numRows));
    expect(r.seed).toBe(2024);
    expect(resolve({ generator: 'random' })).toEqual(r); // deterministic from the seed
    expect(resolve({ generator: 'random', seed: 5 }).targetItems).not.toEqual(r.targetItems);
  });

  it('popular selection (Figure 4) picks items from the top decile; counts and fractions', () => {
    const t = chooseTargets(train, 4, 'popular', new Rng(3));
    const sorted = Array.from(pop).filter((c) => c > 0).sort((a, b) => a - b);
    for (const i of t) expect(pop[i]).toBeGreaterThanOrEqual(sorted[Math.floor(0.9 * (sorted.length - 1))]!);
    const r = resolve({ generator: 'random', targetItems: [7, 3, 7], budgetFraction: 0.05, profileLength: 12 });
    expect(r.targetItems).toEqual([3, 7]);
    expect(r.numFakeUsers).toBe(20);
    expect(resolve({ generator: 'random', numFakeUsers: 9, budgetFraction: 0.5 }).numFakeUsers).toBe(9);
  });

  it('rejects bad input naming the field', () => {
    expectCode(() => resolve({ generator: 'random', targetItems: [numItems] }), 'INVALID_ARGUMENT', 'config.target_items[0]');
    expectCode(() => resolve({ generator: 'dp', params: { nope: 1 } }), 'INVALID_ARGUMENT', 'generator.params.nope');
    expectCode(() => resolve({ generator: 'random', options: { x: 'y' } }), 'INVALID_ARGUMENT', 'generator.options.x');
    expectCode(() => resolve({ generator: 'random', budgetFraction: -1 }), 'INVALID_ARGUMENT', 'config.budget_fraction');
    expectCode(() => resolve({ generator: 'random', numTargets: 10_000 }), 'INVALID_ARGUMENT', 'config.num_targets');
    expectCode(() => builtinSpec('nosuch'), 'NOT_FOUND', 'nosuch');
    // bounds come from the generator's spec and are checked before it runs
    expectCode(() => resolve({ generator: 'bandwagon', params: { popular_share: 2 } }), 'INVALID_ARGUMENT', 'generator.params.popular_share');
    expectCode(() => resolve({ generator: 'dp', params: { dim: 1.5 } }), 'INVALID_ARGUMENT', 'generator.params.dim');
  });
});

describe.each([...generators.keys()])('%s generator', (name) => {
  it('produces valid, realistic, reproducible profiles', async () => {
    const req: AttackRequest = { generator: name, numFakeUsers: 24, params: FAST[name] };
    const cfg = resolve(req);
    const out = await runBuiltin(cfg, train, numItems); // validates ids, count, targets
    expect(out.profiles).toHaveLength(24);
    const lens = out.profiles.map((p) => p.items.length);
    const mean = lens.reduce((a, b) => a + b, 0) / lens.length;
    expect(Math.abs(mean - cfg.profileLength)).toBeLessThan(0.25 * cfg.profileLength);
    expect(new Set(lens).size).toBeGreaterThan(1); // no single tell-tale length
    for (const p of out.profiles) expect(p.items).toEqual([...new Set(p.items)].sort((a, b) => a - b));
    const again = await runBuiltin(cfg, train, numItems);
    expect(again.profiles).toEqual(out.profiles);
    const other = await runBuiltin({ ...cfg, seed: cfg.seed + 1 }, train, numItems);
    expect(other.profiles).not.toEqual(out.profiles);
  });
});

const meanFillerPop = (profiles: { items: number[] }[], targets: number[]): number => {
  const f = profiles.flatMap((p) => p.items.filter((i) => !targets.includes(i)));
  return f.reduce((a, i) => a + pop[i]!, 0) / f.length;
};

describe('attack-specific behaviour', () => {
  it('bandwagon and average fillers are more popular than random ones', async () => {
    const base = { numFakeUsers: 40, seed: 9 };
    const r = await runBuiltin(resolve({ generator: 'random', ...base }), train, numItems);
    const b = await runBuiltin(resolve({ generator: 'bandwagon', ...base }), train, numItems);
    const a = await runBuiltin(resolve({ generator: 'average', ...base }), train, numItems);
    const targets = resolve({ generator: 'random', ...base }).targetItems;
    expect(meanFillerPop(b.profiles, targets)).toBeGreaterThan(1.5 * meanFillerPop(r.profiles, targets));
    expect(meanFillerPop(a.profiles, targets)).toBeGreaterThan(1.5 * meanFillerPop(r.profiles, targets));
    for (const p of r.profiles) for (const t of targets) expect(p.items).toContain(t);
  });

  it('segment profiles share the items most co-interacted with the targets', async () => {
    const targets = [10, 11];
    const out = await runBuiltin(resolve({ generator: 'segment', targetItems: targets, numFakeUsers: 10, params: { segment_size: 4 } }), train, numItems);
    const co = new Map<number, number>();
    for (let u = 0; u < train.numRows; u++) {
      const row = Array.from(rowOf(train, u));
      if (row.some((i) => targets.includes(i))) for (const i of row) if (!targets.includes(i)) co.set(i, (co.get(i) ?? 0) + 1);
    }
    const top = [...co.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    for (const p of out.profiles) expect(p.items).toContain(top);
  });

  it('dp: fake users split evenly across targets (one target each with all_targets 0), decayed fillers spread', async () => {
    const cfg = resolve({ generator: 'dp', numFakeUsers: 30, params: { ...FAST.dp, all_targets: 0 } });
    const out = await runBuiltin(cfg, train, numItems);
    const per = new Map<number, number>();
    for (const p of out.profiles) {
      const ts = p.items.filter((i) => cfg.targetItems.includes(i));
      expect(ts).toHaveLength(1);
      per.set(ts[0]!, (per.get(ts[0]!) ?? 0) + 1);
      expect(p.name).toMatch(new RegExp(`^fake_user_${ts[0]}_subuser_\\d+$`));
    }
    expect([...per.values()]).toEqual(cfg.targetItems.map(() => 6));
    const fillers = new Set(out.profiles.flatMap((p) => p.items));
    expect(fillers.size).toBeGreaterThan(2 * cfg.profileLength);
    const all = await runBuiltin(resolve({ generator: 'dp', numFakeUsers: 10, params: FAST.dp }), train, numItems);
    for (const p of all.profiles) for (const t of cfg.targetItems) expect(p.items).toContain(t);
    const thr = out.diagnostics!.find((d) => d.name === 'surrogate_t_hr')!;
    expect(thr.value).toBeGreaterThanOrEqual(0);
    expect(thr.value).toBeLessThanOrEqual(1);
  });

  it('rev: every profile holds all targets, fillers come from the candidate set, best round kept', async () => {
    const cfg = resolve({ generator: 'rev', numFakeUsers: 12, params: FAST.rev });
    const out = await runBuiltin(cfg, train, numItems);
    const order = Array.from({ length: numItems }, (_, i) => i).sort((a, b) => pop[b]! - pop[a]! || a - b);
    const cand = new Set([...cfg.targetItems, ...order.filter((i) => !cfg.targetItems.includes(i)).slice(0, 60)]);
    for (const p of out.profiles) {
      for (const t of cfg.targetItems) expect(p.items).toContain(t);
      for (const i of p.items) expect(cand.has(i)).toBe(true);
    }
    const best = out.diagnostics!.find((d) => d.name === 'best_round')!.value;
    expect(best).toBeGreaterThanOrEqual(0);
    expect(best).toBeLessThanOrEqual(2);
  });

  it('rev: the selection decay spreads fillers over more items than plain top-x', async () => {
    const fillers = async (decay: number): Promise<{ distinct: number; maxUses: number }> => {
      const cfg = resolve({ generator: 'rev', numFakeUsers: 24, params: { ...FAST.rev, candidates: 0, decay } });
      const out = await runBuiltin(cfg, train, numItems);
      const uses = new Map<number, number>();
      for (const p of out.profiles) for (const i of p.items) if (!cfg.targetItems.includes(i)) uses.set(i, (uses.get(i) ?? 0) + 1);
      return { distinct: uses.size, maxUses: Math.max(...uses.values()) };
    };
    const plain = await fillers(1);
    const spread = await fillers(0.3);
    expect(spread.distinct).toBeGreaterThan(plain.distinct);
    expect(spread.maxUses).toBeLessThan(plain.maxUses);
  });
});

describe('validation and the authors JSON format', () => {
  const profiles = [
    { name: 'a', items: [1, 2, 3] },
    { name: 'b', items: [2, 4] },
  ];
  it('accepts well-formed profiles and rejects malformed ones with FAILED_PRECONDITION naming the source and the rule', () => {
    validateProfiles(profiles, 10, [2], 2);
    expectCode(() => validateProfiles(profiles, 10, [2], 3, 'generator x'), 'FAILED_PRECONDITION', 'generator x broke rule count');
    expectCode(() => validateProfiles([profiles[0]!, { name: 'b', items: [2, 10] }], 10, [2], 2), 'FAILED_PRECONDITION', 'rule items-range');
    expectCode(() => validateProfiles([profiles[0]!, { name: 'b', items: [4, 5] }], 10, [2], 2), 'FAILED_PRECONDITION', 'rule has-target');
    expectCode(() => validateProfiles([profiles[0]!, { name: 'a', items: [2] }], 10, [2], 2), 'FAILED_PRECONDITION', 'duplicate name');
    expectCode(() => validateProfiles([profiles[0]!, { name: 'b', items: [] }], 10, [2], 2), 'FAILED_PRECONDITION', 'rule length');
    expectCode(() => validateProfiles(profiles, 10, [2, 9], 2), 'FAILED_PRECONDITION', 'target item 9');
    // profile_length is a mean; the hard bound is max_profile_length
    expectCode(() => validateProfiles(profiles, 10, [2], 2, 'g', 2), 'FAILED_PRECONDITION', '3 items, max_profile_length is 2');
  });

  it('lists every broken rule once, naming its first instance and counting the others', () => {
    const bad = [
      { name: '', items: [1, 1, 12] },
      { name: 'x', items: [2] },
      { name: 'x', items: [3, 4, 5, 6, 7] },
      { name: 'y', items: [] },
    ];
    const v = profileViolations(bad, { numItems: 10, targets: [1, 2, 8], expected: 3, maxLength: 4 });
    expect(v.map((x) => x.rule).sort()).toEqual(['count', 'has-target', 'items-range', 'items-unique', 'length', 'name', 'targets-covered'].sort());
    expect(v.find((x) => x.rule === 'length')!.message).toBe('profiles[2] (x): 5 items, max_profile_length is 4 (and 1 more profiles)');
    expect(v.find((x) => x.rule === 'targets-covered')!.message).toBe('target item 8 appears in no profile');
    expect(profileViolations(profiles, { numItems: 10, targets: [2], expected: 2, maxLength: 3 })).toEqual([]);
    for (const r of v) expect(Object.keys(GENERATION_RULES)).toContain(r.rule);
  });

  it('max_profile_length allows the built-ins their length spread and always the targets plus one filler', () => {
    expect(maxProfileLength({ profileLength: 27, targetItems: [1, 2, 3, 4, 5] }, 1000)).toBe(54);
    expect(maxProfileLength({ profileLength: 2, targetItems: [1, 2, 3, 4, 5] }, 1000)).toBe(6);
    expect(maxProfileLength({ profileLength: 27, targetItems: [1] }, 30)).toBe(30);
  });

  it('round-trips the authors format and drops short profiles like their loader', () => {
    const json = toAuthorsJson([2], profiles);
    expect(JSON.parse(json)).toEqual({ target_items: ['2'], fake_users: { a: ['1', '2', '3'], b: ['2', '4'] } });
    expect(fromAuthorsJson(json)).toEqual({ targets: [2], profiles, dropped: 0 });
    expect(fromAuthorsJson(json, 'f', 3).dropped).toBe(1);
    expectCode(() => fromAuthorsJson('{"target_items":["x"],"fake_users":{}}', 'f.json'), 'INVALID_ARGUMENT', 'f.json.target_items[0]');
    expectCode(() => fromAuthorsJson('nope', 'f.json'), 'INVALID_ARGUMENT', 'f.json');
  });

  const dir = gowallaDir();
  it.skipIf(!dir || !existsSync(join(dir ?? '', 'attacks', 'dp.json')))('reads the authors published Gowalla DP file', () => {
    const a = fromAuthorsJson(readFileSync(join(dir!, 'attacks', 'dp.json'), 'utf8'), 'dp.json', 10);
    expect(a.targets).toHaveLength(5);
    expect(a.profiles.length).toBeGreaterThanOrEqual(295);
    validateProfiles(a.profiles, 40981, a.targets, a.profiles.length, 'dp.json');
  });
});
