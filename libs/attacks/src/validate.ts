import { RrError } from '@robustrec/core';
import type { Profile } from './types';

/**
 * The rules a generator's answer must keep, built-in and external alike (docs/plugins.md and
 * attack_generator.proto state the same list). The attack service checks every one before it
 * stores anything; `robustrec generators test` reports each one a generator breaks.
 */
export const GENERATION_RULES = {
  'describe-name': 'Describe returns a generator name: 1-64 characters of [A-Za-z0-9_.-], starting with a letter or digit',
  'describe-params': "Describe's default_params are finite numbers",
  answers: 'GenerateProfiles answers a well-formed request with a stream, not an error status',
  deadline: "the stream ends before the call's deadline (the request's timeout_seconds)",
  'stream-message': 'every stream message sets one of progress, profiles, done',
  'stream-done': 'the stream ends with exactly one done message and nothing after it',
  'done-count': 'done.num_profiles equals the number of profiles sent',
  count: 'exactly config.num_fake_users profiles',
  name: 'every profile has a name of 1-256 characters, unique within the answer',
  'items-range': 'every item id is an integer in [0, num_items)',
  'items-unique': 'no item appears twice in one profile',
  length: 'every profile holds 1 to max_profile_length items, targets included',
  'has-target': 'every profile holds at least one of config.target_items',
  'targets-covered': 'every item of config.target_items appears in at least one profile',
} as const;

export type GenerationRule = keyof typeof GENERATION_RULES;

/** One broken rule, with what broke it (the first instance, and how many there were). */
export interface RuleViolation {
  rule: GenerationRule;
  message: string;
}

/** Longest profile name: the data service's request guard caps every `name` field at 256 characters. */
export const MAX_PROFILE_NAME_CHARS = 256;

export interface ProfileRules {
  numItems: number;
  targets: number[];
  /** config.num_fake_users. */
  expected: number;
  /** Most items in one profile (maxProfileLength); no bound when absent (published profile files). */
  maxLength?: number;
}

/**
 * Every profile rule the answer breaks (count, name, items-range, items-unique, length,
 * has-target, targets-covered), one entry per rule naming its first instance and the number
 * of profiles that break it. Empty when the answer is valid.
 */
export function profileViolations(profiles: Profile[], r: ProfileRules): RuleViolation[] {
  const found = new Map<GenerationRule, { first: string; n: number }>();
  const add = (rule: GenerationRule, what: string): void => {
    const f = found.get(rule);
    if (f) f.n++;
    else found.set(rule, { first: what, n: 1 });
  };
  if (profiles.length !== r.expected) add('count', `expected ${r.expected} profiles, got ${profiles.length}`);
  const names = new Set<string>();
  const targetSet = new Set(r.targets);
  const promoted = new Set<number>();
  profiles.forEach((p, n) => {
    const at = `profiles[${n}]${p.name ? ` (${p.name.slice(0, 64)})` : ''}`;
    if (!p.name) add('name', `${at}: empty name`);
    else if (p.name.length > MAX_PROFILE_NAME_CHARS) add('name', `${at}: name of ${p.name.length} characters, at most ${MAX_PROFILE_NAME_CHARS}`);
    else if (names.has(p.name)) add('name', `${at}: duplicate name`);
    names.add(p.name);
    if (!p.items.length) add('length', `${at}: no items`);
    else if (r.maxLength !== undefined && p.items.length > r.maxLength) add('length', `${at}: ${p.items.length} items, max_profile_length is ${r.maxLength}`);
    const seen = new Set<number>();
    let hasTarget = false;
    let badId: number | undefined;
    let dup: number | undefined;
    for (const i of p.items) {
      if (!Number.isInteger(i) || i < 0 || i >= r.numItems) badId ??= i;
      else if (seen.has(i)) dup ??= i;
      seen.add(i);
      if (targetSet.has(i)) {
        hasTarget = true;
        promoted.add(i);
      }
    }
    if (badId !== undefined) add('items-range', `${at}: item id ${badId} out of range [0, ${r.numItems})`);
    if (dup !== undefined) add('items-unique', `${at}: item ${dup} twice`);
    if (p.items.length && !hasTarget) add('has-target', `${at}: holds none of the target items ${r.targets.join(', ')}`);
  });
  const missing = profiles.length ? r.targets.filter((t) => !promoted.has(t)) : [];
  for (const t of missing) add('targets-covered', `target item ${t} appears in no profile`);
  return [...found].map(([rule, { first, n }]) => ({
    rule,
    message: n > 1 ? `${first} (and ${n - 1} more ${rule === 'targets-covered' ? 'targets' : 'profiles'})` : first,
  }));
}

/**
 * The error for a generator's answer that breaks a rule: FAILED_PRECONDITION (the request
 * was fine; the generator registered under that name is broken until it is fixed), naming the
 * generator and the rule. INVALID_ARGUMENT stays reserved for bad requests.
 */
export function ruleError(source: string, v: RuleViolation, suffix = ''): RrError {
  return new RrError('FAILED_PRECONDITION', `${source} broke rule ${v.rule} (${GENERATION_RULES[v.rule]}): ${v.message}${suffix}`);
}

/**
 * Checks a generator's output before anything is stored (same rules for built-in and
 * external generators, see GENERATION_RULES). Throws FAILED_PRECONDITION naming `source` and
 * the first broken rule.
 */
export function validateProfiles(profiles: Profile[], numItems: number, targets: number[], expected: number, source = 'generator', maxLength?: number): void {
  const v = profileViolations(profiles, { numItems, targets, expected, maxLength });
  if (v.length) throw ruleError(source, v[0]!);
}

/** A generator's name: what specs write in `generator:` and what registrations are keyed by. */
export const GENERATOR_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The rules a Describe answer breaks (describe-name, describe-params). */
export function describeViolations(d: { name: string; defaultParams: Record<string, number> }): RuleViolation[] {
  const out: RuleViolation[] = [];
  if (!GENERATOR_NAME_RE.test(d.name)) out.push({ rule: 'describe-name', message: d.name ? `invalid name ${JSON.stringify(d.name.slice(0, 80))}` : 'no name' });
  const bad = Object.entries(d.defaultParams).filter(([, v]) => !Number.isFinite(v));
  if (bad.length) out.push({ rule: 'describe-params', message: bad.map(([k, v]) => `default_params.${k} is ${v}`).join(', ') });
  return out;
}
