/**
 * Dot-product score kernel: WebAssembly SIMD micro-kernels (score.wat) that compute a 4-user ×
 * 8-item register block over the embedding dimension, with the item table packed into 8-item
 * panels ([panel][step][8]) so each step is two aligned loads. Users are processed in blocks of
 * BLOCK and items in cache-sized chunks of panels, so a chunk of the item table stays in L2 while
 * every user of the block passes over it.
 *
 * Two ways to score a block of users:
 * - `scoreBlock` (score_f32): every exact f32 score into `rows`, f32 multiply then f32 add,
 *   dimension by dimension, for every (user, item) pair independently, so results are
 *   bit-identical to `scalarScore` whatever the blocking or thread split (`Scorer.scoreUsers`).
 * - `rankTop` (rank_i16): the top-k path of evaluation and serving; see its comment. Its lists
 *   and scores are bit-identical to a full sort of the exact scores.
 */

import { wasm, wasmModule, type Csr, type WasmMemory } from '@robustrec/core';
import { maskRow, TopK } from './topk';

/** Users per block (multiple of 4; the control area of rank_i16 in score.wat is laid out for 64). */
export const BLOCK = 64;
/** Panels (of 8 items) per rank_i16 call: the chunk's 16-bit items stay in L2, and its candidates fit the lists. */
const RANK_PANELS = 128;
/** Bytes before rank_i16's candidate lists in the control area (thr, count, scratch). */
const CTL_HEAD = 640;
const INT_MIN = -(2 ** 31);

// The kernels' source: score.wat beside this file (compiled to gen/score.wasm at build time).
const SCORE_WASM = new URL('./gen/score.wasm', import.meta.url);

type ScoreFn = (itemOff: number, userOff: number, outOff: number, nQuads: number, p0: number, p1: number, dim: number, stride: number) => void;
type RankFn = (itemOff: number, userOff: number, nQuads: number, p0: number, p1: number, pairs: number, ctl: number, cap: number) => void;
type ExactFn = (userOff: number, itemOff: number, dim: number, listOff: number, n: number, outOff: number) => void;

/** Largest |value| of a 16-bit table entry such that a dim-long dot product cannot overflow i32. */
function quantLevels(dim: number): number {
  return Math.min(32767, Math.floor(Math.sqrt((2 ** 31 - 1) / dim)) - 1);
}

/** Unit roundoff of f32. */
const U32 = 2 ** -24;

/**
 * Candidates of the rows of one rankTop block, ids increasing: row r's (item, quantised score)
 * pairs at r·cap .. r·cap + len[r]. A row keeps every unmasked item rank_i16 handed back until
 * its threshold passes it; `tighten` moves the threshold and drops what falls below it.
 */
class Candidates {
  cap = 2048;
  items = new Int32Array(BLOCK * this.cap);
  scores = new Int32Array(BLOCK * this.cap);
  readonly len = new Int32Array(BLOCK);
  /** Length of each row when its threshold was last set. */
  readonly settled = new Int32Array(BLOCK);
  private scratch = new Float32Array(this.cap);

  /** Makes room for `more` entries in every row (doubling the rows' capacity as needed). */
  reserve(more: number): void {
    let need = 0;
    for (let r = 0; r < BLOCK; r++) need = Math.max(need, this.len[r]! + more);
    if (need <= this.cap) return;
    let cap = this.cap;
    while (cap < need) cap *= 2;
    const items = new Int32Array(BLOCK * cap);
    const scores = new Int32Array(BLOCK * cap);
    for (let r = 0; r < BLOCK; r++) {
      items.set(this.items.subarray(r * this.cap, r * this.cap + this.len[r]!), r * cap);
      scores.set(this.scores.subarray(r * this.cap, r * this.cap + this.len[r]!), r * cap);
    }
    this.cap = cap;
    this.items = items;
    this.scores = scores;
    this.scratch = new Float32Array(cap);
  }

  /**
   * The k-th largest of row r's scores as the heap of a full scan would hold it (the f32
   * rounding of the integer), -Infinity when the row has fewer than k; by selection (Hoare
   * partitions on a copy), so the work is linear in the row, not a heap push per candidate.
   */
  kth(r: number, k: number): number {
    const n = this.len[r]!;
    if (n < k) return -Infinity;
    const a = this.scratch;
    for (let i = 0, c = r * this.cap; i < n; i++, c++) a[i] = this.scores[c]!;
    const t = k - 1;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const x = a[lo]!;
      const y = a[(lo + hi) >> 1]!;
      const z = a[hi]!;
      const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y; // median of three
      let i = lo;
      let j = hi;
      while (i <= j) {
        while (a[i]! > pivot) i++;
        while (a[j]! < pivot) j--;
        if (i <= j) {
          const w = a[i]!;
          a[i++] = a[j]!;
          a[j--] = w;
        }
      }
      if (t <= j) hi = j;
      else if (t >= i) lo = i;
      else break;
    }
    return a[t]!;
  }

  /** Drops row r's entries with score ≤ floor (they can no longer matter). */
  drop(r: number, floor: number): void {
    const base = r * this.cap;
    let w = 0;
    for (let i = 0, n = this.len[r]!; i < n; i++)
      if (this.scores[base + i]! > floor) {
        this.items[base + w] = this.items[base + i]!;
        this.scores[base + w++] = this.scores[base + i]!;
      }
    this.len[r] = w;
  }
}

/** Bytes at the start of a packed table's memory: the packing state word and the table's statistics. */
const PACK_HEAD = 64;
const UNPACKED = 0;
const PACKING = 1;
const PACKED = 2;

/**
 * The item side of DotKernel, packed once per table into one shared wasm memory: the 16-bit
 * panels rank_i16 scans and the row-major f32 copy exact_f32 rescores from. Every kernel on
 * the same table, on any thread (a RankPool's helpers, the serving threads), ranks over this
 * one copy, each with its own scratch grown at the memory's end. Before, each thread packed
 * its own: 6 B × items × dim per thread, 1.5 GB per thread at 100M interactions.
 * Plain data: posted to worker threads as is (a shared Memory is shared, not copied).
 *
 * Protocol (the packing state, word 0 of the memory): UNPACKED → PACKING by the one thread
 * whose compareExchange wins, which packs and then stores PACKED (or UNPACKED again if packing
 * threw) and notifies; any other thread that finds PACKING waits for the word to change.
 * Invariant: the packed bytes and the statistics are written only by the thread holding
 * PACKING, and read only after an Atomics load has seen PACKED (which orders the writes before
 * the reads); once PACKED they never change. Every kernel on one PackedItems must be given the
 * same item table (the caller's contract: the table is the model's, shared or copied
 * unchanged). Stress test: libs/scoring/test/packed-items.test.ts.
 */
export interface PackedItems {
  readonly memory: WasmMemory;
  readonly numItems: number;
  readonly dim: number;
}

/** Byte offsets of a packed table: 16-bit panels, then row-major f32 items. */
function packedLayout(numItems: number, dim: number): { qItemOff: number; exItemOff: number; end: number } {
  const qItemOff = PACK_HEAD;
  const exItemOff = qItemOff + Math.ceil(numItems / 8) * Math.ceil(dim / 2) * 32;
  return { qItemOff, exItemOff, end: exItemOff + numItems * dim * 4 };
}

/** A table's shared memory, unpacked (the first kernel on it packs): cheap, pages are touched only when packed. */
export function newPackedItems(numItems: number, dim: number): PackedItems {
  const { end } = packedLayout(numItems, dim);
  const pages = Math.ceil(end / 65536);
  if (pages > MAX_PAGES) throw new Error(`${numItems} items × ${dim} pack into ${(end / 2 ** 30).toFixed(2)} GiB, beyond a kernel's 4 GiB memory`);
  return { memory: new wasm.Memory({ initial: pages, maximum: MAX_PAGES, shared: true }), numItems, dim };
}

const MAX_PAGES = 65536;

/**
 * One kernel instance: the shared packed item table (PackedItems) plus this kernel's own
 * scratch at the end of the same memory (a user block, rank_i16's control area, exact
 * rescoring's lists); the packed f32 table and the score rows of `scoreBlock` live in a
 * memory of its own, made on first use (ranking alone never needs them). A table with a
 * non-finite or all-zero entry set is not quantisable: rankTop then scores exactly.
 */
export class DotKernel {
  readonly numPanels: number;
  /** Floats between consecutive users' rows in `rows`. */
  readonly rowStride: number;
  /** The item table this kernel ranks over (pass it to other threads' kernels on the same table). */
  readonly packed: PackedItems;
  private readonly memory: WasmMemory;
  private readonly rankI16: RankFn;
  private readonly exactF32: ExactFn;
  private readonly qItemOff: number;
  private readonly qUserOff: number;
  private readonly ctlOff: number;
  /** Exact rescoring: row-major f32 items (shared), one user row, an item list and its scores (numItems each). */
  private readonly exItemOff: number;
  private readonly exUserOff: number;
  private readonly exListOff: number;
  private readonly exOutOff: number;
  private readonly cap = RANK_PANELS * 8;
  /** f32 part (scoreBlock): its own memory and kernel, made when first needed. */
  private f32?: { memory: WasmMemory; score: ScoreFn; itemOff: number; userOff: number; outOff: number };
  private readonly panelsPerChunk: number;
  /** Dimension pairs of the 16-bit tables (dim rounded up to even, zero padded). */
  private readonly pairs: number;
  private readonly levels: number;
  /** Scale of the 16-bit item table (value ≈ scale × entry); 0 when not quantisable. */
  private readonly itemScale: number;
  /** Largest sum of |entries| of a quantised item row, and largest L2 norm of an item row. */
  private readonly itemL1: number;
  private readonly itemL2: number;
  /** Per row of the block being ranked: candidate margin in quantised units (NaN: score exactly). */
  private readonly margins = new Float64Array(BLOCK);
  /** Per row: sum of |quantised entries| of the user (the scale its scores grow with). */
  private readonly userL1 = new Float64Array(BLOCK);
  private readonly cands = new Candidates();
  /**
   * Per k: a low estimate of (k-th best quantised score) / userL1 from the last block, which
   * seeds the next block's thresholds (see rankTop); NaN: no estimate.
   */
  private readonly seedRatio = new Map<number, number>();
  private readonly seeds = new Float64Array(BLOCK);
  /** Rows ranked a second time because their seed was too high (tests, benches). */
  redone = 0;
  /** Masked items of the block's rows, sorted, row r at maskStart[r]..maskStart[r + 1]. */
  private masked = new Int32Array(1024);
  private readonly maskStart = new Int32Array(BLOCK + 1);

  /**
   * `packed`: the table's shared packing (another kernel's `packed`, or newPackedItems);
   * omitted, the kernel packs a table of its own. Each kernel grows the shared memory by its
   * scratch (~8 B × items + 0.5 MiB) for the memory's lifetime: keep kernels, don't make one per call.
   */
  constructor(
    private readonly itemEmb: Float32Array,
    readonly numItems: number,
    readonly dim: number,
    packed?: PackedItems,
  ) {
    if (!(dim >= 1) || itemEmb.length !== numItems * dim) throw new Error(`item table of ${itemEmb.length} floats does not match ${numItems} × ${dim}`);
    if (packed && (packed.numItems !== numItems || packed.dim !== dim)) throw new Error(`packed table of ${packed.numItems} × ${packed.dim} does not match ${numItems} × ${dim}`);
    this.packed = packed ?? newPackedItems(numItems, dim);
    this.memory = this.packed.memory;
    this.numPanels = Math.ceil(numItems / 8);
    this.rowStride = this.numPanels * 8;
    this.pairs = Math.ceil(dim / 2);
    this.levels = quantLevels(dim);
    ({ qItemOff: this.qItemOff, exItemOff: this.exItemOff } = packedLayout(numItems, dim));
    // this kernel's scratch: grow returns the old size, so each kernel's region is its own
    // even when several threads grow the memory at once
    const scratch = BLOCK * this.pairs * 4 + CTL_HEAD + 2 * BLOCK * this.cap * 4 + dim * 4 + 2 * (numItems + 4) * 4 + 64;
    const pages = Math.ceil(scratch / 65536);
    const base = this.memory.grow(pages) * 65536;
    this.qUserOff = base;
    this.ctlOff = this.qUserOff + BLOCK * this.pairs * 4;
    this.exUserOff = align16(this.ctlOff + CTL_HEAD + 2 * BLOCK * this.cap * 4);
    this.exListOff = align16(this.exUserOff + dim * 4);
    // lists padded to a multiple of 4 (exact_f32 scores four at a time)
    this.exOutOff = align16(this.exListOff + (numItems + 4) * 4);
    const instance = new wasm.Instance(wasmModule(SCORE_WASM), { env: { mem: this.memory } }).exports;
    this.rankI16 = instance.rank_i16 as RankFn;
    this.exactF32 = instance.exact_f32 as ExactFn;
    const stats = ensurePacked(this.packed, itemEmb);
    this.itemScale = stats.itemScale;
    this.itemL1 = stats.itemL1;
    this.itemL2 = stats.itemL2;
    // ~128 KiB of packed f32 items per chunk: stays in L2 while the block's users pass over it
    this.panelsPerChunk = Math.max(1, Math.floor(4096 / dim));
  }

  /** The f32 part: packed items ([panel][dim][8]), a user block and BLOCK score rows, in a memory of its own, made on first use. */
  private f32Part(): { memory: WasmMemory; score: ScoreFn; itemOff: number; userOff: number; outOff: number } {
    if (this.f32) return this.f32;
    const { dim, numItems } = this;
    const itemOff = 0;
    const userOff = itemOff + this.numPanels * dim * 32;
    const outOff = userOff + BLOCK * dim * 4;
    const end = outOff + BLOCK * this.rowStride * 4;
    const pages = Math.ceil(end / 65536);
    if (pages > MAX_PAGES) throw new Error(`score rows of ${numItems} items × ${dim} need ${(end / 2 ** 30).toFixed(2)} GiB, beyond a kernel's 4 GiB memory`);
    // the kernels import a shared memory; this one is private to the kernel all the same
    const memory = new wasm.Memory({ initial: pages, maximum: pages, shared: true });
    const score = new wasm.Instance(wasmModule(SCORE_WASM), { env: { mem: memory } }).exports.score_f32 as ScoreFn;
    const packed = new Float32Array(memory.buffer, itemOff, this.numPanels * dim * 8);
    // panel p, dimension d, lane l  <-  item 8p+l, dimension d (zero padding)
    for (let i = 0; i < numItems; i++) {
      const base = (i >> 3) * dim * 8 + (i & 7);
      for (let k = 0; k < dim; k++) packed[base + k * 8] = this.itemEmb[i * dim + k]!;
    }
    return (this.f32 = { memory, score, itemOff, userOff, outOff });
  }

  /** Scale of the shared 16-bit item table as this kernel read it (0: not quantisable; tests). */
  get quantisationScale(): number {
    return this.itemScale;
  }

  /** Output block of scoreBlock: BLOCK rows of rowStride scores (valid: the first numItems of each row). */
  get rows(): Float32Array {
    const { memory, outOff } = this.f32Part();
    return new Float32Array(memory.buffer, outOff, BLOCK * this.rowStride);
  }

  /**
   * Scores `count` (≤ BLOCK) users into `rows` (row r = users[start + r]), exactly; user
   * rows come from a row-major user table.
   */
  scoreBlock(userEmb: Float32Array, users: ArrayLike<number>, start: number, count: number): void {
    const dim = this.dim;
    const { memory, score, itemOff, userOff, outOff } = this.f32Part();
    const ub = new Float32Array(memory.buffer, userOff, BLOCK * dim);
    const nQuads = Math.ceil(count / 4);
    // pack users: quad q, dimension d, lane r  <-  user 4q+r
    ub.fill(0, 0, nQuads * 4 * dim);
    for (let r = 0; r < count; r++) {
      const src = users[start + r]! * dim;
      const base = (r >> 2) * dim * 4 + (r & 3);
      for (let k = 0; k < dim; k++) ub[base + k * 4] = userEmb[src + k]!;
    }
    const stride = this.rowStride * 4;
    for (let p0 = 0; p0 < this.numPanels; p0 += this.panelsPerChunk)
      score(itemOff, userOff, outOff, nQuads, p0, Math.min(p0 + this.panelsPerChunk, this.numPanels), dim, stride);
  }

  /** Row r of the last scoreBlock (its first numItems scores); mask items by setting -Infinity. */
  row(r: number): Float32Array {
    return this.rows.subarray(r * this.rowStride, r * this.rowStride + this.numItems);
  }

  /**
   * The top k items of each of users[start, start + count) (count ≤ BLOCK) with the items of
   * `masks` excluded: row r's items to items[(start + r)·k ..) best first (ties: lower id),
   * their exact scores to scores[..) when given, padded with -1 (NaN). `sel` selects k.
   *
   * How: rank_i16 scores 16-bit copies of the tables (exact integer arithmetic, twice the f32
   * kernel's speed) a chunk of items at a time and hands back only the items above each row's
   * threshold. A row keeps what it was handed (masked items dropped); its threshold is the
   * k-th best of those quantised scores minus a proven error bound (`margins`), set again by
   * selection whenever 2k more have arrived. An item never handed back scores below the
   * final k-th by more than the bound; at the end every kept item within the bound of the
   * k-th quantised score is rescored exactly (exact_f32) and the exact top k selected. The
   * bound covers quantisation, f32 rounding of the exact score and the i32 -> f32 rounding of
   * the quantised scores, so the result equals a full sort of the exact scores (tested,
   * including that a zero bound fails). No score row is written: per user the work beyond
   * the 16-bit products is a few hundred candidates.
   */
  rankTop(
    userEmb: Float32Array,
    users: ArrayLike<number>,
    start: number,
    count: number,
    masks: readonly Csr[],
    sel: TopK,
    items: Int32Array | Uint32Array,
    scores?: Float32Array,
    seeded = true,
  ): void {
    const k = sel.k;
    if (!this.itemScale) return this.rankExact(userEmb, users, start, count, masks, sel, items, scores);
    this.packUsers(userEmb, users, start, count);
    this.collectMasks(users, start, count, masks);
    const cands = this.cands;
    const { margins, maskStart, numItems, cap } = this;
    const mem = this.memory.buffer;
    const thr = new Int32Array(mem, this.ctlOff, BLOCK);
    const got = new Int32Array(mem, this.ctlOff + 256, BLOCK);
    const cItems = new Int32Array(mem, this.ctlOff + CTL_HEAD, BLOCK * cap);
    const cScores = new Int32Array(mem, this.ctlOff + CTL_HEAD + BLOCK * cap * 4, BLOCK * cap);
    const maskAt = Int32Array.from(maskStart.subarray(0, BLOCK));
    const masked = this.masked;
    const nQuads = Math.ceil(count / 4);
    // conversions between f32 scores and the kernel's integer thresholds (see `floorOf`)
    const convert = Math.ceil(U32 * this.dim * this.levels * this.levels) + 2;
    cands.len.fill(0);
    cands.settled.fill(0);
    // Seeds: a row may start from a threshold guessed from the last block's k-th scores (ratio ×
    // the user's scale) instead of keeping everything until it has seen 2k items. A guess that
    // was too high is caught at the end (the row's k-th kept score must clear it by the bound:
    // then no item that matters was dropped) and the row is ranked again without a seed.
    const ratio = seeded ? (this.seedRatio.get(k) ?? Number.NaN) : Number.NaN;
    const seed = this.seeds;
    for (let r = 0; r < count; r++) {
      const guess = ratio * this.userL1[r]!;
      seed[r] = Number.isFinite(guess) && !Number.isNaN(margins[r]!) && this.userL1[r]! > 0 ? Math.max(INT_MIN, Math.min(2 ** 31 - 1, Math.floor(guess))) : INT_MIN;
      thr[r] = seed[r]!;
    }
    thr.fill(2 ** 31 - 1, count, nQuads * 4); // padding rows keep nothing
    // without seeds a short first call gives each row ~2k items for a first threshold; then
    // calls as long as everything before them (up to RANK_PANELS): a threshold from n items
    // passes ~k of the next n, so a row is handed back ~k items per call, ~k·log2(items/k) in all
    let p1 = Math.min(this.numPanels, RANK_PANELS, Number.isNaN(ratio) ? Math.ceil((2 * k) / 8) + 1 : RANK_PANELS);
    for (let p0 = 0; p0 < this.numPanels; p0 = p1, p1 = Math.min(this.numPanels, p0 + Math.min(RANK_PANELS, 2 * p0))) {
      this.rankI16(this.qItemOff, this.qUserOff, nQuads, p0, p1, this.pairs, this.ctlOff, cap);
      cands.reserve(8 * (p1 - p0));
      const ci = cands.items;
      const cs = cands.scores;
      for (let r = 0; r < count; r++) {
        const n = got[r]!;
        if (n === 0) continue;
        const mEnd = maskStart[r + 1]!;
        let m = maskAt[r]!;
        let w = r * cands.cap + cands.len[r]!;
        for (let c = r * cap, e = c + n; c < e; c++) {
          const item = cItems[c]!;
          if (item >= numItems) break; // zero padding of the last panel
          while (m < mEnd && masked[m]! < item) m++;
          if (m < mEnd && masked[m] === item) continue;
          ci[w] = item;
          cs[w++] = cScores[c]!;
        }
        maskAt[r] = m;
        const len = (cands.len[r] = w - r * cands.cap);
        // a new threshold once the row has 2k more entries than when it was last set (each
        // selection is linear in the row: often enough to keep the kernel filtering, rarely
        // enough that selecting costs ~1.5 passes over the candidates)
        if (len - cands.settled[r]! >= 2 * k) {
          thr[r] = Math.max(seed[r]!, floorOf(exactThreshold(cands.kth(r, k), margins[r]!), convert));
          cands.drop(r, thr[r]!);
          cands.settled[r] = cands.len[r]!;
        }
      }
    }
    const redo: number[] = [];
    let lowest = Infinity;
    const list = new Int32Array(mem, this.exListOff, numItems + 4);
    for (let r = 0; r < count; r++) {
      const off = (start + r) * k;
      if (Number.isNaN(margins[r]!)) {
        this.rankRowExact(userEmb, users[start + r]!, r, sel, items, off, scores);
        continue;
      }
      const kth = cands.kth(r, k);
      // a seed is sound iff the row kept k items and its final threshold is at or above the seed
      if (seed[r] !== INT_MIN && (kth === -Infinity || floorOf(exactThreshold(kth, margins[r]!), convert) < seed[r]!)) {
        redo.push(r);
        continue;
      }
      if (kth !== -Infinity && this.userL1[r]! > 0) lowest = Math.min(lowest, kth / this.userL1[r]!);
      // every item whose quantised score could be within the bound of the k-th: rescored exactly
      const bound = exactThreshold(kth, margins[r]!);
      let n = 0;
      for (let c = r * cands.cap, e = c + cands.len[r]!; c < e; c++) if (Math.fround(cands.scores[c]!) > bound) list[n++] = cands.items[c]!;
      this.rescore(userEmb, users[start + r]!, list, n, sel, items, off, scores);
    }
    // the next block's seed: the lowest ratio of this one, lowered by a tenth of its size
    if (seeded) {
      if (this.seedRatio.size >= 4 && !this.seedRatio.has(k)) this.seedRatio.clear();
      this.seedRatio.set(k, lowest === Infinity ? Number.NaN : lowest - 0.1 * Math.abs(lowest) - 1);
    }
    if (redo.length) {
      this.redone += redo.length;
      const again = Uint32Array.from(redo, (r) => users[start + r]!);
      const top = new Int32Array(redo.length * k);
      const sc = scores ? new Float32Array(redo.length * k) : undefined;
      this.rankTop(userEmb, again, 0, redo.length, masks, sel, top, sc, false);
      redo.forEach((r, i) => {
        items.set(top.subarray(i * k, (i + 1) * k), (start + r) * k);
        sc && scores!.set(sc.subarray(i * k, (i + 1) * k), (start + r) * k);
      });
    }
  }

  /** Quantises the block's users into the 16-bit user block and sets their margins. */
  private packUsers(userEmb: Float32Array, users: ArrayLike<number>, start: number, count: number): void {
    const dim = this.dim;
    const qu = new Int16Array(this.memory.buffer, this.qUserOff, BLOCK * this.pairs * 2);
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
      // a non-finite user: NaN margin, which rankTop treats as "score this row exactly"
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
      this.userL1[r] = l1;
    }
  }

  /** Sorted masked items of each row of the block (rank_i16 hands candidates back in id order). */
  private collectMasks(users: ArrayLike<number>, start: number, count: number, masks: readonly Csr[]): void {
    let n = 0;
    for (let r = 0; r < count; r++) {
      const u = users[start + r]!;
      this.maskStart[r] = n;
      for (const m of masks) {
        if (u >= m.numRows) continue;
        const a = m.indptr[u]!;
        const b = m.indptr[u + 1]!;
        if (n + b - a > this.masked.length) {
          const grown = new Int32Array(Math.max(2 * this.masked.length, n + b - a));
          grown.set(this.masked.subarray(0, n));
          this.masked = grown;
        }
        this.masked.set(m.indices.subarray(a, b), n);
        n += b - a;
      }
      this.masked.subarray(this.maskStart[r]!, n).sort();
    }
    this.maskStart[count] = n;
  }

  /** Rows of a non-quantisable table: exact scores, masked, selected. */
  private rankExact(userEmb: Float32Array, users: ArrayLike<number>, start: number, count: number, masks: readonly Csr[], sel: TopK, items: Int32Array | Uint32Array, scores?: Float32Array): void {
    this.scoreBlock(userEmb, users, start, count);
    for (let r = 0; r < count; r++) {
      const row = this.row(r);
      maskRow(row, masks, users[start + r]!);
      sel.reset();
      sel.scan(row, 0, this.numItems);
      this.finishRow(sel, items, (start + r) * sel.k, scores);
    }
  }

  /** One row whose user has a non-finite entry: every unmasked item scored exactly. */
  private rankRowExact(userEmb: Float32Array, user: number, r: number, sel: TopK, items: Int32Array | Uint32Array, off: number, scores?: Float32Array): void {
    const list = new Int32Array(this.memory.buffer, this.exListOff, this.numItems + 4);
    let n = 0;
    let m = this.maskStart[r]!;
    const mEnd = this.maskStart[r + 1]!;
    for (let j = 0; j < this.numItems; j++) {
      while (m < mEnd && this.masked[m]! < j) m++;
      if (m < mEnd && this.masked[m] === j) continue;
      list[n++] = j;
    }
    this.rescore(userEmb, user, list, n, sel, items, off, scores);
  }

  /** Exact scores of list[0..n) (increasing ids) for a user (exact_f32), selected into items[off..). */
  private rescore(userEmb: Float32Array, user: number, list: Int32Array, n: number, sel: TopK, items: Int32Array | Uint32Array, off: number, scores?: Float32Array): void {
    const dim = this.dim;
    new Float32Array(this.memory.buffer, this.exUserOff, dim).set(userEmb.subarray(user * dim, (user + 1) * dim));
    for (let i = n; i & 3; i++) list[i] = 0; // padding: scored, never read
    this.exactF32(this.exUserOff, this.exItemOff, dim, this.exListOff, n, this.exOutOff);
    const exact = new Float32Array(this.memory.buffer, this.exOutOff, n);
    sel.reset();
    for (let i = 0; i < n; i++) sel.offerOne(exact[i]!, list[i]!);
    this.finishRow(sel, items, off, scores);
  }

  private finishRow(sel: TopK, items: Int32Array | Uint32Array, off: number, scores?: Float32Array): void {
    const got = sel.finish(items, off, scores);
    items.fill(-1, off + got, off + sel.k);
    scores?.fill(Number.NaN, off + got, off + sel.k);
  }
}

const align16 = (x: number): number => (x + 15) & ~15;

/**
 * Packs `itemEmb` into `p` unless another kernel already has (the PackedItems protocol):
 * returns the table's statistics, written once by the packer into the memory's head.
 */
function ensurePacked(p: PackedItems, itemEmb: Float32Array): { itemScale: number; itemL1: number; itemL2: number } {
  const buf = p.memory.buffer;
  const state = new Int32Array(buf, 0, 1);
  const stats = new Float64Array(buf, 8, 3);
  for (;;) {
    const seen = Atomics.compareExchange(state, 0, UNPACKED, PACKING);
    if (seen === PACKED) break;
    if (seen === PACKING) {
      Atomics.wait(state, 0, PACKING);
      continue;
    }
    try {
      if (packHook) packHook();
      const s = packInto(p, itemEmb);
      stats[0] = s.itemScale;
      stats[1] = s.itemL1;
      stats[2] = s.itemL2;
      Atomics.store(state, 0, PACKED);
    } catch (e) {
      Atomics.store(state, 0, UNPACKED);
      throw e;
    } finally {
      Atomics.notify(state, 0);
    }
    break;
  }
  return { itemScale: stats[0]!, itemL1: stats[1]!, itemL2: stats[2]! };
}

/** Stress tests only: called by the packing thread once it holds PACKING, before it writes anything. */
let packHook: (() => void) | undefined;
export function setPackHook(f: (() => void) | undefined): void {
  packHook = f;
}

/** Writes the 16-bit panels and the f32 copy of itemEmb into p's memory; the table's statistics. */
function packInto(p: PackedItems, itemEmb: Float32Array): { itemScale: number; itemL1: number; itemL2: number } {
  const { numItems, dim } = p;
  const { qItemOff, exItemOff } = packedLayout(numItems, dim);
  const pairs = Math.ceil(dim / 2);
  const buf = p.memory.buffer;
  new Float32Array(buf, exItemOff, numItems * dim).set(itemEmb);
  let maxAbs = 0;
  let finite = true;
  for (let q = 0; q < itemEmb.length; q++) {
    const v = itemEmb[q]!;
    if (!Number.isFinite(v)) finite = false;
    else if (Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
  }
  // 16-bit table: panel p, pair t, half h (items 4h..4h+3), item lane l, dimension 2t+e
  const levels = quantLevels(dim);
  const itemScale = finite && maxAbs > 0 ? maxAbs / levels : 0;
  let l1 = 0;
  let l2 = 0;
  if (itemScale) {
    const q = new Int16Array(buf, qItemOff, (exItemOff - qItemOff) / 2);
    const inv = 1 / itemScale;
    for (let i = 0; i < numItems; i++) {
      const base = (i >> 3) * pairs * 16 + ((i & 7) >> 2) * 8 + (i & 3) * 2;
      let a = 0;
      let b = 0;
      for (let k = 0; k < dim; k++) {
        const v = itemEmb[i * dim + k]!;
        const e = Math.round(v * inv);
        q[base + (k >> 1) * 16 + (k & 1)] = e;
        a += Math.abs(e);
        b += v * v;
      }
      if (a > l1) l1 = a;
      if (b > l2) l2 = b;
    }
  }
  return { itemScale, itemL1: l1, itemL2: Math.sqrt(l2) };
}

/**
 * The quantised score above which an item may still matter, given a heap's k-th quantised
 * score t (f32) and a row's margin: t − margin, stepped below its f32 rounding (Math.fround
 * may round up) so no candidate at the bound is lost. -Infinity while the heap is not full.
 */
function exactThreshold(t: number, margin: number): number {
  const x = t - margin;
  return Number.isNaN(x) ? -Infinity : Math.fround(x) - Math.abs(x) * 2 ** -22 - 1;
}

/**
 * The kernel's integer threshold for an f32-space bound b: every integer q whose f32 rounding
 * exceeds b is above it (|fround(q) − q| ≤ convert − 2), so the kernel drops only items the
 * exact stage would never rescore and the heap would never admit.
 */
function floorOf(b: number, convert: number): number {
  if (b === -Infinity) return INT_MIN;
  return Math.max(INT_MIN, Math.min(2 ** 31 - 1, Math.floor(b) - convert));
}

/** Reference scalar score with the kernel's exact f32 arithmetic (tests, tiny tables). */
export function scalarScore(userEmb: Float32Array, itemEmb: Float32Array, dim: number, user: number, item: number): number {
  let acc = 0;
  for (let k = 0; k < dim; k++) acc = Math.fround(acc + Math.fround(userEmb[user * dim + k]! * itemEmb[item * dim + k]!));
  return acc;
}
