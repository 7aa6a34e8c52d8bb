import { neumfScorer, type NeumfTables } from './neumf-scorer';
import type { Scorer } from './types';

/**
 * What a ranking helper needs to build a scorer on its own thread: a registered kind, a key
 * that names this scorer's tables for good (the helper keeps the scorers of the last few
 * keys), and plain data for the kind's factory (SharedArrayBuffer-backed, so posting it copies
 * nothing).
 */
export interface PortableSpec {
  kind: string;
  key: string;
  args: unknown;
}

/** A non-dot scorer the ranking helpers can rebuild (evaluation and batches then rank off the caller's thread). */
export interface PortableScorer extends Scorer {
  portable(): PortableSpec;
}

/** The kinds of portable scorer: one line each. */
const kinds: Record<string, (args: never) => Scorer> = {
  neumf: (t: NeumfTables) => neumfScorer(t),
};

export function isPortableScorer(s: Scorer): s is PortableScorer {
  return typeof (s as Partial<PortableScorer>).portable === 'function';
}

/** The scorer a spec describes, built on this thread. */
export function scorerFromSpec(spec: PortableSpec): Scorer {
  const make = kinds[spec.kind];
  if (!make) throw new Error(`unknown portable scorer kind ${JSON.stringify(spec.kind)}`);
  return make(spec.args as never);
}
