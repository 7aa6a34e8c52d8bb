import { checkNumber, invalidArgument, notFound, resolveComponent, Rng, type ComponentSpec, type Csr } from '@robustrec/core';
import { itemPopularity } from './common';
import { generators } from './generators/index';

export type TargetSelection = 'unpopular' | 'popular' | 'random';

/** An attack request before resolution (mirrors AttackConfig of attack.proto). */
export interface AttackRequest {
  generator: string;
  params?: Record<string, number>;
  options?: Record<string, string>;
  targetItems?: number[];
  numTargets?: number;
  targetSelection?: TargetSelection;
  budgetFraction?: number;
  numFakeUsers?: number;
  profileLength?: number;
  seed?: number;
}

/** Every field set: what a generator (built-in or external) receives. */
export interface ResolvedAttack {
  generator: string;
  params: Record<string, number>;
  options: Record<string, string>;
  targetItems: number[];
  numFakeUsers: number;
  profileLength: number;
  seed: number;
}

export const DEFAULTS = { numTargets: 5, budgetFraction: 0.01, seed: 2024, unpopularQuantile: 0.1 } as const;

/**
 * The spec of an external generator from what it describes of itself (AttackGenerator.Describe):
 * its params and options with their defaults, unbounded beyond being finite (a plug-in checks
 * its own ranges).
 */
export function externalSpec(d: { name: string; description: string; defaultParams: Record<string, number>; defaultOptions: Record<string, string> }): ComponentSpec {
  return {
    name: d.name,
    description: d.description,
    params: Object.fromEntries(Object.entries(d.defaultParams).map(([k, v]) => [k, { default: v, description: '' }])),
    options: Object.fromEntries(Object.entries(d.defaultOptions).map(([k, v]) => [k, { default: v, description: '' }])),
  };
}

/**
 * Chooses targets when none are given. "unpopular" (the paper's setting): uniformly among
 * items with at least one training interaction and popularity at most the 10th percentile
 * of those items' popularity; "popular"
 * (the paper's Figure 4): among items at or above the 90th percentile of popularity; "random": any item.
 */
export function chooseTargets(train: Csr, k: number, selection: TargetSelection, rng: Rng): number[] {
  const pop = itemPopularity(train);
  let pool: number[];
  if (selection === 'random') pool = Array.from({ length: pop.length }, (_, i) => i);
  else {
    const seen = Array.from({ length: pop.length }, (_, i) => i).filter((i) => pop[i]! > 0);
    const sorted = seen.map((i) => pop[i]!).sort((a, b) => a - b);
    if (selection === 'unpopular') {
      const cut = sorted[Math.floor(DEFAULTS.unpopularQuantile * (sorted.length - 1))] ?? 0;
      pool = seen.filter((i) => pop[i]! <= cut);
    } else {
      const cut = sorted[Math.floor((1 - DEFAULTS.unpopularQuantile) * (sorted.length - 1))] ?? 0;
      pool = seen.filter((i) => pop[i]! >= cut);
    }
  }
  if (pool.length < k) throw invalidArgument('config.num_targets', `only ${pool.length} items qualify as ${selection} targets, ${k} asked`);
  return rng.sample(pool.length, k).map((j) => pool[j]!).sort((a, b) => a - b);
}

/**
 * Resolves the parameters common to every attack (targets, budget, profile length, seed)
 * against the training data, and the generator-specific params against `spec` (the
 * built-in spec, or externalSpec of the external generator's Describe answer).
 */
export function resolveAttack(req: AttackRequest, train: Csr, numItems: number, spec: ComponentSpec, rng?: Rng): ResolvedAttack {
  const numGenuine = train.numRows;
  const seed = req.seed ? checkNumber('config.seed', req.seed, 0, Number.MAX_SAFE_INTEGER, true) : DEFAULTS.seed;
  const { params, options } = resolveComponent(spec, req, 'generator');
  let targetItems: number[];
  if (req.targetItems?.length) {
    req.targetItems.forEach((t, i) => checkNumber(`config.target_items[${i}]`, t, 0, numItems - 1, true));
    targetItems = [...new Set(req.targetItems)].sort((a, b) => a - b);
  } else {
    const k = req.numTargets ? checkNumber('config.num_targets', req.numTargets, 1, numItems, true) : DEFAULTS.numTargets;
    targetItems = chooseTargets(train, k, req.targetSelection ?? 'unpopular', (rng ?? new Rng(seed)).fork('targets'));
  }
  let numFakeUsers: number;
  if (req.numFakeUsers) numFakeUsers = checkNumber('config.num_fake_users', req.numFakeUsers, 1, 10_000_000, true);
  else {
    // 0 / unset means the default; NaN is refused like every other NaN (it used to fall through to the default)
    const frac = req.budgetFraction === undefined || req.budgetFraction === 0 ? DEFAULTS.budgetFraction : checkNumber('config.budget_fraction', req.budgetFraction, 0, 10);
    numFakeUsers = Math.max(1, Math.floor(frac * numGenuine + 1e-9)); // 1% of 29,858 = 298 as in the paper
  }
  const avg = Math.round(train.indptr[numGenuine]! / Math.max(1, numGenuine));
  const profileLength = req.profileLength
    ? checkNumber('config.profile_length', req.profileLength, 1, numItems, true)
    : Math.min(numItems, Math.max(avg, targetItems.length + 1));
  // profiles hold targets plus at least one filler (DP-style generators use one target each)
  if (profileLength < 2) throw invalidArgument('config.profile_length', `must be at least 2, got ${profileLength}`);
  return { generator: spec.name, params, options, targetItems, numFakeUsers, profileLength, seed };
}

/**
 * Most items one profile may hold (GenerateProfilesRequest.max_profile_length): profile_length
 * is the mean a generator aims for, and lengths may spread around it (the built-ins'
 * length_spread <= 1 gives at most 2 x profile_length), but never below what the targets plus
 * one filler need. At most numItems.
 */
export function maxProfileLength(cfg: { profileLength: number; targetItems: number[] }, numItems: number): number {
  return Math.min(numItems, Math.max(2 * cfg.profileLength, cfg.targetItems.length + 1));
}

/** The spec of a built-in generator; NOT_FOUND for an unknown name. */
export function builtinSpec(name: string): ComponentSpec {
  const g = generators.get(name);
  if (!g) throw notFound('generator', name);
  return g.spec;
}
