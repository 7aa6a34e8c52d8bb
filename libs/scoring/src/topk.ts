import type { Csr } from '@robustrec/core';

/** Sets the items of row `user` of every mask matrix to -Infinity in a score row. */
export function maskRow(row: Float32Array, masks: readonly Csr[], user: number): void {
  for (const m of masks) {
    if (user >= m.numRows) continue;
    const ix = m.indices;
    for (let p = m.indptr[user]!, e = m.indptr[user + 1]!; p < e; p++) row[ix[p]!] = -Infinity;
  }
}

/**
 * Top-K selection over a score row with a size-K min-heap and a running threshold, so a
 * row of 40k scores costs one compare per item instead of a sort. Order: score desc, then
 * item id asc (the order a stable full sort gives); -Infinity (masked) and NaN never enter.
 *
 * Incremental use (reset, then scan/offer items in increasing id order, then finish) lets a
 * caller skip items it knows score at most `threshold`.
 */
export class TopK {
  private readonly hs: Float32Array;
  private readonly hi: Int32Array;
  private size = 0;
  private thr = -Infinity;

  constructor(readonly k: number) {
    this.hs = new Float32Array(k);
    this.hi = new Int32Array(k);
  }

  /** Selects the top items of row[0..n) into out[off..off+k), best first; returns how many (≤ k). */
  select(row: Float32Array, n: number, out: Uint32Array | Int32Array, off: number): number {
    this.reset();
    this.scan(row, 0, n);
    return this.finish(out, off);
  }

  reset(): void {
    this.size = 0;
    this.thr = -Infinity;
  }

  /** Items scoring at most this cannot enter (-Infinity until K items are held). */
  get threshold(): number {
    return this.thr;
  }

  /** Offers items from..to-1 (ids above every item offered so far). */
  scan(row: Float32Array, from: number, to: number): void {
    let thr = this.thr;
    for (let j = from; j < to; j++) {
      const s = row[j]!;
      if (!(s > thr)) continue;
      this.push(s, j);
      thr = this.thr;
    }
  }

  /** Offers item j with score s (ids above every item offered so far). */
  offerOne(s: number, j: number): void {
    if (s > this.thr) this.push(s, j);
  }

  /** Writes the held items (and their scores, when given) to out[off..), best first; returns how many (≤ k). */
  finish(out: Uint32Array | Int32Array, off: number, scores?: Float32Array): number {
    const hs = this.hs;
    const hi = this.hi;
    const size = this.size;
    // pop worst first, filling from the back
    for (let m = size; m > 0; m--) {
      out[off + m - 1] = hi[0]!;
      if (scores) scores[off + m - 1] = hs[0]!;
      const ls = hs[m - 1]!;
      const li = hi[m - 1]!;
      if (m > 1) this.siftDown(0, ls, li, m - 1);
    }
    this.reset();
    return size;
  }

  /** Adds item j with score s > threshold. */
  private push(s: number, j: number): void {
    const K = this.k;
    const hs = this.hs;
    const hi = this.hi;
    if (this.size < K) {
      // sift up (the new item has the largest id so far: it loses every tie)
      let c = this.size++;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (hs[p]! < s || (hs[p] === s && hi[p]! > j)) break;
        hs[c] = hs[p]!;
        hi[c] = hi[p]!;
        c = p;
      }
      hs[c] = s;
      hi[c] = j;
      if (this.size === K) this.thr = hs[0]!;
    } else {
      this.siftDown(0, s, j, K);
      this.thr = hs[0]!;
    }
  }

  /** Places (s, id) at position c of a heap of the given size, moving worse children up. */
  private siftDown(c: number, s: number, id: number, size: number): void {
    const hs = this.hs;
    const hi = this.hi;
    for (;;) {
      let w = 2 * c + 1;
      if (w >= size) break;
      const r = w + 1;
      // pick the worse child: lower score, or equal score and larger id
      if (r < size && (hs[r]! < hs[w]! || (hs[r] === hs[w] && hi[r]! > hi[w]!))) w = r;
      if (hs[w]! < s || (hs[w] === s && hi[w]! > id)) {
        hs[c] = hs[w]!;
        hi[c] = hi[w]!;
        c = w;
      } else break;
    }
    hs[c] = s;
    hi[c] = id;
  }
}
