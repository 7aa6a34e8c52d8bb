import type { ComponentSpec, Csr, Rng } from '@robustrec/core';

/** One fake user's profile: item ids (targets included), sorted, unique. */
export interface Profile {
  name: string;
  items: number[];
}

export interface ProgressEvent {
  phase: string;
  done: number;
  total: number;
  message?: string;
}


export interface GenerateInput {
  /** Training interactions of the genuine users only (the black-box attacker's view). */
  train: Csr;
  numItems: number;
  targets: number[];
  numFakeUsers: number;
  /** Mean profile length including targets. */
  profileLength: number;
  /** The request's params/options over the generator's defaults, validated against its spec. */
  params: Record<string, number>;
  options: Record<string, string>;
  rng: Rng;
  /**
   * Reports progress; awaiting it yields to the event loop so a long attack does not
   * starve the gRPC server. Throws (e.g. CANCELLED) when the caller gave up.
   */
  onProgress: (e: ProgressEvent) => Promise<void>;
}

export interface GenerateOutput {
  profiles: Profile[];
  /** Optional diagnostics, e.g. surrogate T-HR@50. */
  diagnostics?: Array<{ name: string; k: number; value: number }>;
}

export interface AttackGenerator {
  /** Name, description, and accepted params (defaults, bounds) and options: the platform's one parameter schema. */
  readonly spec: ComponentSpec;
  generate(input: GenerateInput): Promise<GenerateOutput>;
}
