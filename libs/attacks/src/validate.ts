import { invalidArgument } from '@robustrec/core';
import type { Profile } from './types';

/**
 * Checks a generator's output before anything is stored (same rule for built-in and
 * external generators): the asked count, non-empty unique names, non-empty profiles of
 * integer item ids in [0, numItems) without duplicates, each holding at least one target,
 * and every target promoted by some profile. Throws INVALID_ARGUMENT naming the profile.
 */
export function validateProfiles(profiles: Profile[], numItems: number, targets: number[], expected: number, source = 'generator'): void {
  if (profiles.length !== expected) throw invalidArgument(`${source}.profiles`, `expected ${expected} profiles, got ${profiles.length}`);
  const names = new Set<string>();
  const targetSet = new Set(targets);
  const promoted = new Set<number>();
  profiles.forEach((p, n) => {
    const field = `${source}.profiles[${n}]`;
    if (!p.name) throw invalidArgument(`${field}.name`, 'empty name');
    if (names.has(p.name)) throw invalidArgument(`${field}.name`, `duplicate name ${p.name}`);
    names.add(p.name);
    if (!p.items.length) throw invalidArgument(`${field}.items`, `profile ${p.name} is empty`);
    const seen = new Set<number>();
    let hasTarget = false;
    for (const i of p.items) {
      if (!Number.isInteger(i) || i < 0 || i >= numItems)
        throw invalidArgument(`${field}.items`, `profile ${p.name}: item id ${i} out of range [0, ${numItems})`);
      if (seen.has(i)) throw invalidArgument(`${field}.items`, `profile ${p.name}: duplicate item ${i}`);
      seen.add(i);
      if (targetSet.has(i)) {
        hasTarget = true;
        promoted.add(i);
      }
    }
    if (!hasTarget) throw invalidArgument(`${field}.items`, `profile ${p.name} holds none of the target items`);
  });
  for (const t of targets) if (!promoted.has(t)) throw invalidArgument(`${source}.profiles`, `target item ${t} appears in no profile`);
}
