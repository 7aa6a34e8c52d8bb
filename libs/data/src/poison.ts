import { csrFromPairs, failedPrecondition, type Csr, type InteractionData } from '@robustrec/core';
import { datasetIdOf } from './content';
import { U32Column } from './columns';
import { validateProfileSet, type Profile } from './profiles';

/**
 * Derives a poisoned dataset: fake users get ids numUsers.. in profile order, all their
 * interactions go to training (duplicates within a profile collapse), valid/test get
 * empty rows for them, and numGenuineUsers stays the clean user count so every
 * evaluation can exclude them. The id is the content address of the result.
 */
export function poison(clean: InteractionData, set: { targetItems: number[]; profiles: Profile[] }): InteractionData {
  if (clean.numGenuineUsers !== clean.numUsers || clean.targetItems.length > 0)
    throw failedPrecondition(`dataset ${clean.id} is already poisoned; derive from its clean parent`);
  const checked = validateProfileSet({ datasetId: clean.id, ...set }, clean.numItems);
  const numGenuineUsers = clean.numUsers;
  const numUsers = numGenuineUsers + checked.profiles.length;
  const u = new U32Column(clean.train.indices.length + 64 * checked.profiles.length);
  const i = new U32Column(clean.train.indices.length + 64 * checked.profiles.length);
  for (let r = 0; r < clean.numUsers; r++)
    for (let p = clean.train.indptr[r]!; p < clean.train.indptr[r + 1]!; p++) {
      u.push(r);
      i.push(clean.train.indices[p]!);
    }
  checked.profiles.forEach((prof, k) => {
    for (const item of prof.items) {
      u.push(numGenuineUsers + k);
      i.push(item);
    }
  });
  const extend = (m: Csr): Csr => {
    const indptr = new Uint32Array(numUsers + 1);
    indptr.set(m.indptr);
    indptr.fill(m.indptr[m.numRows]!, m.numRows + 1);
    return { numRows: numUsers, numCols: m.numCols, indptr, indices: m.indices };
  };
  const content = {
    numUsers,
    numGenuineUsers,
    numItems: clean.numItems,
    train: csrFromPairs(numUsers, clean.numItems, u.view(), i.view()),
    valid: extend(clean.valid),
    test: extend(clean.test),
    targetItems: Uint32Array.from(checked.targetItems),
  };
  return { id: datasetIdOf(content), ...content };
}
