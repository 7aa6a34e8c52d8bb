import type { Csr } from '@robustrec/core';
import { BLOCK, DotKernel } from './kernel';
import { isDotProductScorer } from './scorer';
import { maskRow, TopK } from './topk';
import type { Scorer } from './types';

/**
 * Scores blocks of up to BLOCK users and selects a row's top items. Two kinds: the SIMD dot
 * kernel (16-bit ranking pass, prefilter, exact rescoring: lists and scores equal a full
 * sort of exact scores) and any scorer's dense rows with a TopK heap.
 */
export interface BlockRanker {
  /** Scores users[start, start + n), n ≤ BLOCK. */
  score(users: Uint32Array, start: number, n: number): void;
  /** Row r of the last block; masked items are set to -Infinity in it. */
  row(r: number): Float32Array;
  /** Writes row r's top items (and scores) to items[off..), best first; returns how many. */
  select(r: number, sel: TopK, items: Int32Array, off: number, scores?: Float32Array): number;
}

/** The dot kernel of this thread over a user table. */
export function dotRanker(kernel: DotKernel, userEmb: Float32Array): BlockRanker {
  return {
    score: (users, start, n) => kernel.rankBlock(userEmb, users, start, n),
    row: (r) => kernel.row(r),
    select: (r, sel, items, off, scores) => kernel.selectRow(r, sel, items, off, scores),
  };
}

/** The best ranker for a scorer: the dot kernel for dot-product scorers, dense rows otherwise. */
export function rankerOf(scorer: Scorer): BlockRanker {
  if (isDotProductScorer(scorer)) return dotRanker(scorer.kernel(), scorer.userEmb);
  const numItems = scorer.numItems;
  const buf = new Float32Array(BLOCK * numItems);
  const row = (r: number): Float32Array => buf.subarray(r * numItems, (r + 1) * numItems);
  return {
    score: (users, start, n) => scorer.scoreUsers(users.subarray(start, start + n), buf.subarray(0, n * numItems)),
    row,
    select(r, sel, items, off, scores) {
      const x = row(r);
      const got = sel.select(x, numItems, items, off);
      if (scores) for (let j = 0; j < got; j++) scores[off + j] = x[items[off + j]!]!;
      return got;
    },
  };
}

/**
 * The one score → mask → select loop (evaluation shares, serving batches, topItems): for
 * users[start, end), the top k items with `masks` excluded go to items[i·k ..) (and their
 * scores to scores[i·k ..)) for the user at position i, padded with -1 (NaN). `sel` must
 * select k items (a caller on a hot path keeps one per k).
 */
export function rankUsers(
  ranker: BlockRanker,
  users: Uint32Array,
  start: number,
  end: number,
  masks: readonly Csr[],
  k: number,
  items: Int32Array,
  scores?: Float32Array,
  sel: TopK = new TopK(k),
): void {
  for (let s = start; s < end; s += BLOCK) {
    const n = Math.min(BLOCK, end - s);
    ranker.score(users, s, n);
    for (let r = 0; r < n; r++) {
      const i = s + r;
      maskRow(ranker.row(r), masks, users[i]!);
      const got = ranker.select(r, sel, items, i * k, scores);
      items.fill(-1, i * k + got, (i + 1) * k);
      scores?.fill(Number.NaN, i * k + got, (i + 1) * k);
    }
  }
}
