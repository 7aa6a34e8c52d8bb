/**
 * Dot-product score kernel: a WebAssembly SIMD (f32x4) micro-kernel (score.wat) that
 * computes a 4-user × 8-item register block over the embedding dimension, with the item
 * table packed into 8-item panels ([panel][dim][8]) so each step is two aligned loads.
 * Users are processed in blocks of BLOCK and items in cache-sized chunks of panels, so a
 * chunk of the item table stays in L2 while every user of the block passes over it.
 *
 * Arithmetic is f32 multiply then f32 add, dimension by dimension, for every (user, item)
 * pair independently: results are bit-identical to `scalarScore` whatever the blocking
 * or thread split (deterministic evaluation). The top-k path runs the same micro-kernel on
 * 16-bit copies of the tables and rescores its candidates exactly (see DotKernel), so its
 * lists and scores are bit-identical too.
 */

import { wasm, wasmModule } from '@robustrec/core';
import type { TopK } from './topk';

/** Users per block (multiple of 4). */
export const BLOCK = 64;
/** Scores the top-k selection scans before the SIMD prefilter takes over (sets a first threshold). */
const FIRST = 1024;
/** Scores per prefilter call: bounds the candidate buffer (one slot per score in the worst case). */
const CHUNK = 4096;

// The kernels' source: score.wat beside this file (compiled to gen/score.wasm at build time).
const SCORE_WASM = new URL('./gen/score.wasm', import.meta.url);

type ScoreFn = (itemOff: number, userOff: number, outOff: number, nQuads: number, p0: number, p1: number, dim: number, stride: number) => void;
type AboveFn = (rowOff: number, groups: number, thrBits: number, outOff: number) => number;

/** Largest |value| of a 16-bit table entry such that a dim-long dot product cannot overflow i32. */
function quantLevels(dim: number): number {
  return Math.min(32767, Math.floor(Math.sqrt((2 ** 31 - 1) / dim)) - 1);
}

/** Unit roundoff of f32. */
const U32 = 2 ** -24;

/**
 * One kernel instance: its own wasm memory holding the packed item tables (f32 and a 16-bit
 * copy), a user block and an output block.
 *
 * Two ways to score a block of users:
 * - `scoreBlock`: exact f32 scores (bit-identical to `scalarScore`), for callers that need
 *   every score (`Scorer.scoreUsers`).
 * - `rankBlock` + `selectRow`: the top-k path of evaluation and serving. Rows first get
 *   16-bit quantised scores (twice the kernel's speed); selectRow takes the k-th best of
 *   those, keeps every item whose quantised score is within a proven error bound of it, and
 *   rescores just those candidates exactly. The lists and scores are therefore exactly the
 *   ones the f32 path gives; the bound covers quantisation, f32 rounding of the exact score
 *   and of the i32 -> f32 conversion (see `margin`). A table with a non-finite or all-zero
 *   entry set falls back to exact scoring.
 */
export class DotKernel {
  readonly numPanels: number;
  /** Floats between consecutive users' rows in `rows`. */
  readonly rowStride: number;
  /** Output block: BLOCK rows of rowStride scores (valid: the first numItems of each row). */
  readonly rows: Float32Array;
  /** Whether rows hold quantised scores (after rankBlock on a quantisable table). */
  private approx = false;
  private readonly userBlock: Float32Array;
  private readonly score: ScoreFn;
  private readonly scoreApprox: ScoreFn;
  private readonly above: AboveFn;
  private readonly itemOff = 0;
  private readonly qItemOff: number;
  private readonly userOff: number;
  private readonly qUserOff: number;
  private readonly outOff: number;
  private readonly candOff: number;
  private readonly cand: Uint32Array;
  private readonly bits = new Float32Array(1);
  private readonly bitsI = new Int32Array(this.bits.buffer);
  private readonly panelsPerChunk: number;
  /** Dimension pairs of the 16-bit tables (dim rounded up to even, zero padded). */
  private readonly pairs: number;
  private readonly levels: number;
  /** Scale of the 16-bit item table (value ≈ scale × entry); 0 when not quantisable. */
  private readonly itemScale: number;
  /** Largest sum of |entries| of a quantised item row, and largest L2 norm of an item row. */
  private readonly itemL1: number;
  private readonly itemL2: number;
  private readonly qUsers: Int16Array;
  /** Per row of the last rankBlock: candidate margin in quantised units, and the user. */
  private readonly margins = new Float64Array(BLOCK);
  private readonly rowUsers = new Int32Array(BLOCK);
  private lastUserEmb: Float32Array = new Float32Array(0);

  constructor(
    private readonly itemEmb: Float32Array,
    readonly numItems: number,
    readonly dim: number,
  ) {
    if (!(dim >= 1) || itemEmb.length !== numItems * dim) throw new Error(`item table of ${itemEmb.length} floats does not match ${numItems} × ${dim}`);
    this.numPanels = Math.ceil(numItems / 8);
    this.rowStride = this.numPanels * 8;
    this.pairs = Math.ceil(dim / 2);
    const itemBytes = this.numPanels * dim * 32;
    this.qItemOff = itemBytes;
    const qItemBytes = this.numPanels * this.pairs * 32;
    this.userOff = this.qItemOff + qItemBytes;
    this.qUserOff = this.userOff + BLOCK * dim * 4;
    this.outOff = this.qUserOff + BLOCK * this.pairs * 4;
    this.candOff = this.outOff + BLOCK * this.rowStride * 4;
    const total = this.candOff + CHUNK * 4;
    const memory = new wasm.Memory({ initial: Math.ceil(total / 65536) });
    const instance = new wasm.Instance(wasmModule(SCORE_WASM), { env: { mem: memory } }).exports;
    this.score = instance.score_f32 as ScoreFn;
    this.scoreApprox = instance.score_i16 as ScoreFn;
    this.above = instance.above as AboveFn;
    this.cand = new Uint32Array(memory.buffer, this.candOff, CHUNK);
    // pack items: panel p, dimension d, lane l  <-  item 8p+l, dimension d (zero padding)
    const packed = new Float32Array(memory.buffer, 0, itemBytes / 4);
    let maxAbs = 0;
    let finite = true;
    for (let i = 0; i < numItems; i++) {
      const base = (i >> 3) * dim * 8 + (i & 7);
      for (let k = 0; k < dim; k++) {
        const v = itemEmb[i * dim + k]!;
        packed[base + k * 8] = v;
        if (!Number.isFinite(v)) finite = false;
        else if (Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
      }
    }
    // 16-bit copy: panel p, pair t, half h (items 4h..4h+3), item lane l, dimension 2t+e
    this.levels = quantLevels(dim);
    this.itemScale = finite && maxAbs > 0 ? maxAbs / this.levels : 0;
    let l1 = 0;
    let l2 = 0;
    if (this.itemScale) {
      const q = new Int16Array(memory.buffer, this.qItemOff, qItemBytes / 2);
      for (let i = 0; i < numItems; i++) {
        const base = (i >> 3) * this.pairs * 16 + ((i & 7) >> 2) * 8 + (i & 3) * 2;
        let a = 0;
        let b = 0;
        for (let k = 0; k < dim; k++) {
          const v = itemEmb[i * dim + k]!;
          const e = Math.round(v / this.itemScale);
          q[base + (k >> 1) * 16 + (k & 1)] = e;
          a += Math.abs(e);
          b += v * v;
        }
        if (a > l1) l1 = a;
        if (b > l2) l2 = b;
      }
    }
    this.itemL1 = l1;
    this.itemL2 = Math.sqrt(l2);
    this.userBlock = new Float32Array(memory.buffer, this.userOff, BLOCK * dim);
    this.qUsers = new Int16Array(memory.buffer, this.qUserOff, BLOCK * this.pairs * 2);
    this.rows = new Float32Array(memory.buffer, this.outOff, BLOCK * this.rowStride);
    // ~128 KiB of packed items per chunk: stays in L2 while the block's users pass over it
    this.panelsPerChunk = Math.max(1, Math.floor(4096 / dim));
  }

  /**
   * Scores `count` (≤ BLOCK) users into `rows` (row r = users[start + r]), exactly; user
   * rows come from a row-major user table.
   */
  scoreBlock(userEmb: Float32Array, users: ArrayLike<number>, start: number, count: number): void {
    const dim = this.dim;
    const ub = this.userBlock;
    const nQuads = Math.ceil(count / 4);
    // pack users: quad q, dimension d, lane r  <-  user 4q+r
    ub.fill(0, 0, nQuads * 4 * dim);
    for (let r = 0; r < count; r++) {
      const src = users[start + r]! * dim;
      const base = (r >> 2) * dim * 4 + (r & 3);
      for (let k = 0; k < dim; k++) ub[base + k * 4] = userEmb[src + k]!;
    }
    this.approx = false;
    this.run(this.score, this.itemOff, this.userOff, nQuads, dim);
  }

  /**
   * Prepares `count` (≤ BLOCK) users for selectRow: rows get quantised scores (or exact ones
   * when the table is not quantisable). Only selectRow may read them.
   */
  rankBlock(userEmb: Float32Array, users: ArrayLike<number>, start: number, count: number): void {
    if (!this.itemScale) return this.scoreBlock(userEmb, users, start, count);
    const dim = this.dim;
    const qu = this.qUsers;
    const nQuads = Math.ceil(count / 4);
    // pack users: quad q, pair t, lane r, dimension 2t+e  <-  user 4q+r
    qu.fill(0, 0, nQuads * this.pairs * 8);
    // relative rounding of an f32 dot product of dim terms (products and sums), and of i32 -> f32
    const gamma = ((dim + 1) * U32) / (1 - (dim + 1) * U32);
    const convert = U32 * dim * this.levels * this.levels;
    for (let r = 0; r < count; r++) {
      const src = users[start + r]! * dim;
      let maxAbs = 0;
      let l2 = 0;
      for (let k = 0; k < dim; k++) {
        const v = userEmb[src + k]!;
        maxAbs = Math.max(maxAbs, Math.abs(v));
        l2 += v * v;
      }
      // a non-finite user: NaN margin, which selectRow treats as "rescore every item"
      const scale = maxAbs > 0 ? maxAbs / this.levels : 1;
      const base = (r >> 2) * this.pairs * 8 + (r & 3) * 2;
      let l1 = 0;
      for (let k = 0; k < dim; k++) {
        const e = Math.round(userEmb[src + k]! / scale);
        qu[base + (k >> 1) * 8 + (k & 1)] = e;
        l1 += Math.abs(e);
      }
      // |exact - scale·itemScale·approx| ≤ scale·itemScale·(l1/2 + itemL1/2 + dim/4) from
      // quantisation, plus gamma·|u|·|v| from the f32 rounding of the exact score; twice that
      // (the k-th item and a candidate), plus the i32 -> f32 rounding of both, plus one unit
      const err = l1 / 2 + this.itemL1 / 2 + dim / 4 + (gamma * Math.sqrt(l2) * this.itemL2) / (scale * this.itemScale);
      this.margins[r] = 2 * err + 2 * convert + 1;
      this.rowUsers[r] = users[start + r]!;
    }
    this.lastUserEmb = userEmb;
    this.approx = true;
    this.run(this.scoreApprox, this.qItemOff, this.qUserOff, nQuads, this.pairs);
  }

  private run(fn: ScoreFn, itemOff: number, userOff: number, nQuads: number, steps: number): void {
    const stride = this.rowStride * 4;
    for (let p0 = 0; p0 < this.numPanels; p0 += this.panelsPerChunk)
      fn(itemOff, userOff, this.outOff, nQuads, p0, Math.min(p0 + this.panelsPerChunk, this.numPanels), steps, stride);
  }

  /** Row r of the last scored block (its first numItems scores); mask items by setting -Infinity. */
  row(r: number): Float32Array {
    return this.rows.subarray(r * this.rowStride, r * this.rowStride + this.numItems);
  }

  /**
   * Top-k of row r of the last scored or ranked block (mask it first) into out[off..), best
   * first, with their exact scores into scores[off..) when given; returns how many. The
   * same result as `sel.select` over the exact scores.
   */
  selectRow(r: number, sel: TopK, out: Int32Array | Uint32Array, off: number, scores?: Float32Array): number {
    const row = this.row(r);
    const n = this.numItems;
    sel.reset();
    let j = Math.min(n, FIRST);
    sel.scan(row, 0, j);
    j = this.sweep(r, j, () => sel.threshold, (c, base) => sel.offer(row, this.cand, c, base));
    sel.scan(row, j, n);
    if (!this.approx) return sel.finish(out, off, scores);
    // sel held the k best quantised scores; candidates: every item within the margin of the k-th
    const t = sel.threshold - this.margins[r]!;
    // Math.fround may round up: step below it so no candidate at the bound is lost
    const thr = Number.isNaN(t) ? -Infinity : Math.fround(t) - Math.abs(t) * 2 ** -22 - 1;
    sel.reset();
    const [U, V, dim, user] = [this.lastUserEmb, this.itemEmb, this.dim, this.rowUsers[r]!];
    j = this.sweep(r, 0, () => thr, (c, base) => {
      for (let i = 0; i < c; i++) sel.offerOne(scalarScore(U, V, dim, user, base + this.cand[i]!), base + this.cand[i]!);
    });
    for (; j < n; j++) if (row[j]! > thr) sel.offerOne(scalarScore(U, V, dim, user, j), j);
    return sel.finish(out, off, scores);
  }

  /**
   * Runs the SIMD prefilter over row r from `from`, a chunk at a time: `take(count, base)` gets
   * the chunk's offsets (from base) of scores above `threshold()`, read again for each chunk,
   * in this.cand. Returns where the tail of fewer than 16 scores, left to the caller, starts.
   */
  private sweep(r: number, from: number, threshold: () => number, take: (count: number, base: number) => void): number {
    const rowOff = this.outOff + r * this.rowStride * 4;
    let j = from;
    for (;;) {
      const len = Math.min(CHUNK, (this.numItems - j) & ~15);
      if (!len) return j;
      this.bits[0] = threshold();
      take(this.above(rowOff + j * 4, len >> 4, this.bitsI[0]!, this.candOff), j);
      j += len;
    }
  }
}

/** Reference scalar score with the kernel's exact f32 arithmetic (tests, tiny tables). */
export function scalarScore(userEmb: Float32Array, itemEmb: Float32Array, dim: number, user: number, item: number): number {
  let acc = 0;
  for (let k = 0; k < dim; k++) acc = Math.fround(acc + Math.fround(userEmb[user * dim + k]! * itemEmb[item * dim + k]!));
  return acc;
}
