import { attack } from '@robustrec/contracts';
import type { AttackRequest, ResolvedAttack, TargetSelection } from '@robustrec/attacks';
import { defaultOptions, defaultParams, type ComponentSpec } from '@robustrec/core';
import { componentInfoToProto } from '@robustrec/grpc';

const SELECTION: Record<number, TargetSelection> = {
  [attack.TargetSelection.TARGET_SELECTION_UNSPECIFIED]: 'unpopular',
  [attack.TargetSelection.TARGET_SELECTION_UNPOPULAR]: 'unpopular',
  [attack.TargetSelection.TARGET_SELECTION_POPULAR]: 'popular',
  [attack.TargetSelection.TARGET_SELECTION_RANDOM]: 'random',
};

/** proto AttackConfig -> library request (0 / empty mean "default", as in attack.proto). */
export function requestFromProto(c: attack.AttackConfig): AttackRequest {
  return {
    generator: c.generator?.name ?? '',
    params: c.generator?.params ?? {},
    options: c.generator?.options ?? {},
    targetItems: c.targetItems,
    numTargets: c.numTargets || undefined,
    targetSelection: SELECTION[c.targetSelection] ?? 'unpopular',
    budgetFraction: c.budgetFraction === 0 ? undefined : c.budgetFraction, // NaN goes on to be refused
    numFakeUsers: c.numFakeUsers || undefined,
    profileLength: c.profileLength || undefined,
    seed: c.seed || undefined,
  };
}

/** Resolved config -> proto AttackConfig sent to a generator (every common field set). */
export function resolvedToProto(r: ResolvedAttack, selection: attack.TargetSelection): attack.AttackConfig {
  return {
    generator: { name: r.generator, params: r.params, options: r.options },
    targetItems: r.targetItems,
    numTargets: r.targetItems.length,
    targetSelection: selection,
    budgetFraction: 0,
    numFakeUsers: r.numFakeUsers,
    profileLength: r.profileLength,
    seed: r.seed,
  };
}

export function infoFromSpec(s: ComponentSpec, builtin: boolean, address: string, whiteBox = false): attack.GeneratorInfo {
  const { params, options } = componentInfoToProto(s);
  return { name: s.name, description: s.description, builtin, address, defaultParams: defaultParams(s), defaultOptions: defaultOptions(s), params, options, whiteBox };
}
