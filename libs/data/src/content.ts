import { createHash } from 'node:crypto';
import type { Csr } from '@robustrec/core';
import { encodeCsr } from './binary';

/** The arrays that define a dataset's content (everything but name and provenance). */
export interface DatasetContent {
  numUsers: number;
  numGenuineUsers: number;
  numItems: number;
  train: Csr;
  valid: Csr;
  test: Csr;
  targetItems: ArrayLike<number>;
  /** Original ids of a remapped import: part of the content, as they change what ids mean. */
  userIds?: readonly string[];
  itemIds?: readonly string[];
}

/**
 * Content address: sha256 over the shape and the canonical (sorted, deduplicated) CSR
 * bytes, in a fixed order. The name is deliberately not part of it, so importing the same
 * data twice yields the same id.
 */
export function contentHash(c: DatasetContent): string {
  const h = createHash('sha256');
  h.update(`robustrec-dataset-v1 ${c.numUsers} ${c.numGenuineUsers} ${c.numItems} targets=${Array.from(c.targetItems).join(',')}\n`);
  for (const m of [c.train, c.valid, c.test]) for (const part of encodeCsr(m)) h.update(part);
  if (c.userIds) h.update(`users\n${c.userIds.join('\n')}\n`);
  if (c.itemIds) h.update(`items\n${c.itemIds.join('\n')}\n`);
  return h.digest('hex');
}

/** Dataset ids are "ds_" + the first 24 hex digits (96 bits) of the content hash. */
export const datasetIdOf = (c: DatasetContent): string => `ds_${contentHash(c).slice(0, 24)}`;
