import type { common } from '@robustrec/contracts';
import type { ComponentSpec } from '@robustrec/core';

/**
 * A component's parameter schema (libs/core params.ts: backbones, defenses, attack
 * generators, the training options) as proto ComponentInfo: what clients discover before
 * they send a ComponentConfig.
 */
export function componentInfoToProto(s: ComponentSpec): common.ComponentInfo {
  return {
    name: s.name,
    description: s.description,
    params: Object.entries(s.params).map(([name, p]) => ({ name, defaultValue: p.default, min: p.min, max: p.max, positive: p.positive ?? false, integer: p.integer ?? false, description: p.description })),
    options: Object.entries(s.options).map(([name, o]) => ({ name, defaultValue: o.default, values: [...(o.values ?? [])], description: o.description })),
  };
}
