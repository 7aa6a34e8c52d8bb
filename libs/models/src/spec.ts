import { invalidArgument } from '@robustrec/core';

/** A numeric parameter a backbone or defense accepts. */
export interface ParamSpec {
  default: number;
  min?: number;
  max?: number;
  /** min is exclusive (e.g. must be > 0) */
  positive?: boolean;
  integer?: boolean;
  description: string;
}

/** A string option with its allowed values. */
export interface OptionSpec {
  default: string;
  values: readonly string[];
  description: string;
}

export interface ComponentSpec {
  name: string;
  description: string;
  params: Record<string, ParamSpec>;
  options: Record<string, OptionSpec>;
}

export interface ResolvedComponent {
  name: string;
  params: Record<string, number>;
  options: Record<string, string>;
}

/** Fills defaults and validates params/options; `field` is e.g. "config.defense". */
export function resolveComponent(
  spec: ComponentSpec,
  input: { params?: Record<string, number>; options?: Record<string, string> },
  field: string,
): ResolvedComponent {
  const params: Record<string, number> = {};
  for (const [k, v] of Object.entries(input.params ?? {})) {
    const f = `${field}.params.${k}`;
    const p = spec.params[k];
    if (!p) throw invalidArgument(f, `unknown parameter for ${spec.name} (accepted: ${Object.keys(spec.params).join(', ') || 'none'})`);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgument(f, `must be a finite number, got ${v}`);
    if (p.integer && !Number.isInteger(v)) throw invalidArgument(f, `must be an integer, got ${v}`);
    if (p.positive && !(v > 0)) throw invalidArgument(f, `must be > 0, got ${v}`);
    if (p.min !== undefined && v < p.min) throw invalidArgument(f, `must be >= ${p.min}, got ${v}`);
    if (p.max !== undefined && v > p.max) throw invalidArgument(f, `must be <= ${p.max}, got ${v}`);
    params[k] = v;
  }
  for (const [k, p] of Object.entries(spec.params)) if (!(k in params)) params[k] = p.default;
  const options: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.options ?? {})) {
    const f = `${field}.options.${k}`;
    const o = spec.options[k];
    if (!o) throw invalidArgument(f, `unknown option for ${spec.name} (accepted: ${Object.keys(spec.options).join(', ') || 'none'})`);
    if (!o.values.includes(v)) throw invalidArgument(f, `must be one of ${o.values.join(', ')}, got ${JSON.stringify(v)}`);
    options[k] = v;
  }
  for (const [k, o] of Object.entries(spec.options)) if (!(k in options)) options[k] = o.default;
  return { name: spec.name, params, options };
}

export const defaultParams = (s: ComponentSpec): Record<string, number> =>
  Object.fromEntries(Object.entries(s.params).map(([k, p]) => [k, p.default]));
export const defaultOptions = (s: ComponentSpec): Record<string, string> =>
  Object.fromEntries(Object.entries(s.options).map(([k, o]) => [k, o.default]));
