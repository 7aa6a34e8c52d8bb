import { csrFromPairs, type Csr, type Rng } from '@robustrec/core';
import { U32Column } from './columns';

export interface SplitOptions {
  /** Fraction of each user's interactions for test (default 0.2). */
  testRatio?: number;
  /** Fraction of each user's remaining (training) interactions for validation (default 0.1). */
  validRatio?: number;
}

export interface UserInteractions {
  /** Items of the user, in chronological order when `chronological`, otherwise any order. */
  items: ArrayLike<number>;
}

/**
 * Per-user split (the paper's protocol): the last round(n·testRatio) interactions go to
 * test, then round(train·validRatio) of the rest to validation. With timestamps the
 * caller passes items oldest first and the split is chronological (test = newest,
 * validation = newest of the rest); without, each user's items are shuffled by `rng`
 * (after sorting, so the result does not depend on input order). At least one
 * interaction always stays in training.
 */
export function splitPerUser(
  perUser: ReadonlyArray<ArrayLike<number>>,
  numItems: number,
  opts: SplitOptions,
  rng: Rng | undefined,
): { train: Csr; valid: Csr; test: Csr } {
  const testRatio = opts.testRatio ?? 0.2;
  const validRatio = opts.validRatio ?? 0.1;
  const numUsers = perUser.length;
  const parts = [0, 1, 2].map(() => ({ u: new U32Column(), i: new U32Column() }));
  for (let u = 0; u < numUsers; u++) {
    let items = Array.from(perUser[u]!);
    if (rng) items = rng.shuffle(items.sort((a, b) => a - b));
    const n = items.length;
    const nTest = Math.min(Math.round(n * testRatio), Math.max(0, n - 1));
    const nTrainAll = n - nTest;
    const nValid = Math.min(Math.round(nTrainAll * validRatio), Math.max(0, nTrainAll - 1));
    const nTrain = nTrainAll - nValid;
    for (let k = 0; k < n; k++) {
      const part = parts[k < nTrain ? 0 : k < nTrainAll ? 1 : 2]!;
      part.u.push(u);
      part.i.push(items[k]!);
    }
  }
  const [train, valid, test] = parts.map((p) => csrFromPairs(numUsers, numItems, p.u.view(), p.i.view())) as [Csr, Csr, Csr];
  return { train, valid, test };
}
