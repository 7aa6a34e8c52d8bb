import { Rng, type Csr } from '@robustrec/core';
import { maxProfileLength, type ResolvedAttack } from './config';
import { generators } from './generators/index';
import type { GenerateOutput, ProgressEvent } from './types';
import { validateProfiles } from './validate';

/**
 * Runs a built-in generator on genuine training interactions with a resolved config and
 * validates its output. The generator's Rng is seeded from the config's seed only.
 */
export async function runBuiltin(
  cfg: ResolvedAttack,
  train: Csr,
  numItems: number,
  onProgress: (e: ProgressEvent) => Promise<void> = async () => {},
): Promise<GenerateOutput> {
  const g = generators.get(cfg.generator);
  if (!g) throw new Error(`not a built-in generator: ${cfg.generator}`);
  const out = await g.generate({
    train,
    numItems,
    targets: cfg.targetItems,
    numFakeUsers: cfg.numFakeUsers,
    profileLength: cfg.profileLength,
    params: cfg.params,
    options: cfg.options,
    rng: new Rng(cfg.seed).fork(`attack:${cfg.generator}`),
    onProgress,
  });
  validateProfiles(out.profiles, numItems, cfg.targetItems, cfg.numFakeUsers, `generator ${cfg.generator}`, maxProfileLength(cfg, numItems));
  return out;
}
