import type { Csr } from './csr';

/**
 * A dataset as every library sees it in memory. Users 0..numGenuineUsers-1 are genuine;
 * users numGenuineUsers..numUsers-1 are injected fake users (train only) that every
 * evaluation excludes.
 */
export interface InteractionData {
  readonly id: string;
  readonly numUsers: number;
  readonly numGenuineUsers: number;
  readonly numItems: number;
  readonly train: Csr;
  readonly valid: Csr;
  readonly test: Csr;
  /** Target items of the attack that poisoned this dataset (empty for clean data). */
  readonly targetItems: Uint32Array;
}
