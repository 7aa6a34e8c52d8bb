import { threadId } from 'node:worker_threads';
import { invalidArgument } from '@robustrec/core';
import { BLOCK, DotKernel, newPackedItems, type PackedItems } from './kernel';
import type { Scorer } from './types';

/** A scorer whose scores are dot products of embedding rows: evaluation takes the parallel SIMD path. */
export interface DotProductScorer extends Scorer {
  readonly kind: 'dot';
  readonly userEmb: Float32Array;
  readonly itemEmb: Float32Array;
  readonly dim: number;
  /**
   * This thread's kernel (packed item table), built on first use. The tables must not change
   * once it is built (a model's scorer wraps a snapshot; a new snapshot is a new scorer).
   */
  kernel(): DotKernel;
  /**
   * The item table's shared packing, made (unpacked, cheap) on first use: this thread's kernel
   * and the ranking helpers' kernels all rank over it, and the first of them to run packs it.
   */
  packed(): PackedItems;
  /** Names this scorer's item table for the ranking helpers, which keep its packed kernel (RankTask.kernelKey). */
  readonly key: string;
}

let scorers = 0;

export function isDotProductScorer(s: Scorer): s is DotProductScorer {
  return (s as Partial<DotProductScorer>).kind === 'dot';
}

/** Scores user × item as the dot product of row-major embedding tables (the fast path). */
export function dotProductScorer(userEmb: Float32Array, itemEmb: Float32Array, dim: number): DotProductScorer {
  if (!Number.isInteger(dim) || dim < 1) throw invalidArgument('dim', `must be a positive integer, got ${dim}`);
  if (userEmb.length % dim !== 0) throw invalidArgument('userEmb', `length ${userEmb.length} is not a multiple of dim ${dim}`);
  if (itemEmb.length % dim !== 0) throw invalidArgument('itemEmb', `length ${itemEmb.length} is not a multiple of dim ${dim}`);
  const numUsers = userEmb.length / dim;
  const numItems = itemEmb.length / dim;
  let k: DotKernel | undefined;
  let p: PackedItems | undefined;
  const packed = (): PackedItems => (p ??= newPackedItems(numItems, dim));
  const kernel = (): DotKernel => (k ??= new DotKernel(itemEmb, numItems, dim, packed()));
  return {
    kind: 'dot',
    userEmb,
    itemEmb,
    dim,
    numUsers,
    numItems,
    kernel,
    packed,
    key: `dot:${threadId}:${++scorers}`,
    scoreUsers(users, out) {
      if (out.length < users.length * numItems) throw invalidArgument('out', `needs ${users.length * numItems} floats, got ${out.length}`);
      for (const u of users) if (u >= numUsers) throw invalidArgument('users', `user ${u} out of range [0, ${numUsers})`);
      const kk = kernel();
      for (let s = 0; s < users.length; s += BLOCK) {
        const n = Math.min(BLOCK, users.length - s);
        kk.scoreBlock(userEmb, users, s, n);
        for (let r = 0; r < n; r++) out.set(kk.row(r), (s + r) * numItems);
      }
    },
  };
}
