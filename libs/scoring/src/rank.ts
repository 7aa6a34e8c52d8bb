import type { Csr } from '@robustrec/core';
import { BLOCK, DotKernel } from './kernel';
import { isDotProductScorer } from './scorer';
import { maskRow, TopK } from './topk';
import type { Scorer } from './types';

/**
 * Ranks blocks of up to BLOCK users. Two kinds: the SIMD dot kernel (fused 16-bit ranking pass
 * and exact rescoring: lists and scores equal a full sort of exact scores) and any scorer's
 * dense rows, masked, with a TopK heap.
 */
export interface BlockRanker {
  /**
   * The top `sel.k` items of users[start, start + n) (n ≤ BLOCK) with `masks` excluded: the
   * user at position i gets items[i·k ..) best first, scores[i·k ..) when given, padded with
   * -1 (NaN).
   */
  rank(users: Uint32Array, start: number, n: number, masks: readonly Csr[], sel: TopK, items: Int32Array, scores?: Float32Array): void;
}

/** The dot kernel of this thread over a user table. */
export function dotRanker(kernel: DotKernel, userEmb: Float32Array): BlockRanker {
  return { rank: (users, start, n, masks, sel, items, scores) => kernel.rankTop(userEmb, users, start, n, masks, sel, items, scores) };
}

/** The best ranker for a scorer: the dot kernel for dot-product scorers, dense rows otherwise. */
export function rankerOf(scorer: Scorer): BlockRanker {
  if (isDotProductScorer(scorer)) return dotRanker(scorer.kernel(), scorer.userEmb);
  const numItems = scorer.numItems;
  const buf = new Float32Array(BLOCK * numItems);
  return {
    rank(users, start, n, masks, sel, items, scores) {
      scorer.scoreUsers(users.subarray(start, start + n), buf.subarray(0, n * numItems));
      const k = sel.k;
      for (let r = 0; r < n; r++) {
        const x = buf.subarray(r * numItems, (r + 1) * numItems);
        maskRow(x, masks, users[start + r]!);
        const off = (start + r) * k;
        const got = sel.select(x, numItems, items, off);
        if (scores) for (let j = 0; j < got; j++) scores[off + j] = x[items[off + j]!]!;
        items.fill(-1, off + got, off + k);
        scores?.fill(Number.NaN, off + got, off + k);
      }
    },
  };
}

/**
 * The one rank loop (evaluation shares, serving batches, topItems): for users[start, end), the
 * top k items with `masks` excluded go to items[i·k ..) (and their scores to scores[i·k ..)) for
 * the user at position i, padded with -1 (NaN). `sel` must select k items (a caller on a hot
 * path keeps one per k).
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
  if (sel.k !== k) throw new Error(`selector of ${sel.k} items for k = ${k}`);
  for (let s = start; s < end; s += BLOCK) ranker.rank(users, s, Math.min(BLOCK, end - s), masks, sel, items, scores);
}

/**
 * rankUsers in time slices, for a thread that must stay responsive (an event loop serving
 * gRPC): yields after each slice of users, sized from the previous slice's time per user to
 * take about `sliceMs` (1 to BLOCK users). A NeuMF user costs ~20 ms here, so a fixed block of
 * 64 or 256 users held the loop for seconds and the calls it was serving timed out. Each
 * user's list does not depend on the slicing.
 */
export function* rankInSlices(
  ranker: BlockRanker,
  users: Uint32Array,
  start: number,
  end: number,
  masks: readonly Csr[],
  k: number,
  items: Int32Array,
  scores?: Float32Array,
  sliceMs = 20,
): Generator<void, void> {
  const sel = new TopK(k);
  let per = 1;
  for (let s = start; s < end; ) {
    const e = Math.min(end, s + per);
    const t0 = performance.now();
    rankUsers(ranker, users, s, e, masks, k, items, scores, sel);
    const msPerUser = Math.max((performance.now() - t0) / (e - s), 1e-3);
    per = Math.max(1, Math.min(BLOCK, Math.floor(sliceMs / msPerUser)));
    s = e;
    if (s < end) yield;
  }
}
