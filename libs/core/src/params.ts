import { invalidArgument } from './errors';

/**
 * The platform's one parameter-schema mechanism: backbones, defenses, attack generators and
 * the training options declare their numeric parameters and string options here (default,
 * bounds, description), and every request is resolved against them the same way: defaults
 * filled in, bounds checked, errors naming the field path ("config.defense.params.eps").
 */

/** A numeric parameter. */
export interface ParamSpec {
  default: number;
  min?: number;
  max?: number;
  /** min is exclusive (e.g. must be > 0) */
  positive?: boolean;
  integer?: boolean;
  description: string;
}

/** A string option; `values` lists the allowed ones (absent: any string). */
export interface OptionSpec {
  default: string;
  values?: readonly string[];
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

/** Checks one value against its spec; INVALID_ARGUMENT names `field`. */
export function checkParam(field: string, p: ParamSpec, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgument(field, `must be a finite number, got ${v}`);
  if (p.integer && !Number.isInteger(v)) throw invalidArgument(field, `must be an integer, got ${v}`);
  if (p.positive && !(v > 0)) throw invalidArgument(field, `must be > 0, got ${v}`);
  if (p.min !== undefined && v < p.min) throw invalidArgument(field, `must be >= ${p.min}, got ${v}`);
  if (p.max !== undefined && v > p.max) throw invalidArgument(field, `must be <= ${p.max}, got ${v}`);
  return v;
}

/**
 * Resolves numeric values against their specs: unknown names are refused, given values
 * checked, missing (undefined) ones take their default. `fieldOf` names a value's field path.
 */
export function resolveParams(specs: Record<string, ParamSpec>, input: Record<string, number | undefined>, fieldOf: (name: string) => string, owner: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    const p = specs[k];
    if (!p || !Object.hasOwn(specs, k)) throw invalidArgument(fieldOf(k), `unknown parameter for ${owner} (accepted: ${Object.keys(specs).join(', ') || 'none'})`);
    out[k] = checkParam(fieldOf(k), p, v);
  }
  for (const [k, p] of Object.entries(specs)) if (!(k in out)) out[k] = p.default;
  return out;
}

/** Resolves string options the same way. */
export function resolveOptions(specs: Record<string, OptionSpec>, input: Record<string, string | undefined>, fieldOf: (name: string) => string, owner: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    const o = specs[k];
    if (!o || !Object.hasOwn(specs, k)) throw invalidArgument(fieldOf(k), `unknown option for ${owner} (accepted: ${Object.keys(specs).join(', ') || 'none'})`);
    if (typeof v !== 'string') throw invalidArgument(fieldOf(k), `must be a string, got ${JSON.stringify(v)}`);
    if (o.values && !o.values.includes(v)) throw invalidArgument(fieldOf(k), `must be one of ${o.values.join(', ')}, got ${JSON.stringify(v)}`);
    out[k] = v;
  }
  for (const [k, o] of Object.entries(specs)) if (!(k in out)) out[k] = o.default;
  return out;
}

/** Fills defaults and validates a component's params/options; `field` is e.g. "config.defense". */
export function resolveComponent(
  spec: ComponentSpec,
  input: { params?: Record<string, number>; options?: Record<string, string> },
  field: string,
): ResolvedComponent {
  return {
    name: spec.name,
    params: resolveParams(spec.params, input.params ?? {}, (k) => `${field}.params.${k}`, spec.name),
    options: resolveOptions(spec.options, input.options ?? {}, (k) => `${field}.options.${k}`, spec.name),
  };
}

export const defaultParams = (s: Pick<ComponentSpec, 'params'>): Record<string, number> =>
  Object.fromEntries(Object.entries(s.params).map(([k, p]) => [k, p.default]));
export const defaultOptions = (s: Pick<ComponentSpec, 'options'>): Record<string, string> =>
  Object.fromEntries(Object.entries(s.options).map(([k, o]) => [k, o.default]));
