/**
 * Typed columns for importers: growable Uint32 / Float64 builders and duplicate removal of
 * (user, item) pairs by counting sort. 4 (or 8) bytes per value instead of a JS array's 8 plus
 * its growth slack, and no per-row objects.
 */

type Typed = Uint32Array | Float64Array;

/** A growable typed array (doubling; the untouched tail of a fresh buffer is not resident). */
class Column<T extends Typed> {
  private buf: T;
  length = 0;
  constructor(
    private readonly make: (n: number) => T,
    capacity: number,
  ) {
    this.buf = make(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = this.make(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  /** The values so far (a view of the buffer, not a copy). */
  view(): T {
    return this.buf.subarray(0, this.length) as T;
  }
  /** Empties the column and lets go of its buffer (views taken before keep theirs). */
  clear(): void {
    this.buf = this.make(16);
    this.length = 0;
  }
}

/** A growable Uint32Array: avoids millions of boxed numbers while parsing. */
export class U32Column extends Column<Uint32Array> {
  constructor(capacity = 1024) {
    super((n) => new Uint32Array(n), capacity);
  }
}

/** A growable Float64Array. */
export class F64Column extends Column<Float64Array> {
  constructor(capacity = 1024) {
    super((n) => new Float64Array(n), capacity);
  }
}

export interface DistinctPairs {
  /** User, item and input index of each distinct pair, sorted by user then item. */
  users: Uint32Array;
  items: Uint32Array;
  index: Uint32Array;
}

/**
 * The distinct (user, item) pairs of n interactions in (user, item) order, keeping of each
 * pair the occurrence with the smallest `times` value (ties, or no times: the first in input
 * order), i.e. the order of sorting by (user, item, time, index) and keeping each pair's first.
 *
 * One stable counting sort by user (O(n + numUsers)), then per user a pass that keeps each
 * item once (an item-indexed stamp, O(row)) and a numeric sort of the row's distinct items.
 * Scratch: 4 bytes per interaction (the permutation, which becomes `index`) plus 8 per item.
 * CONSUMES `users` and `items`: the result lives in their buffers (`items` holds the result's
 * users, `users` its items), so the caller must not read them again.
 */
export function distinctPairs(users: Uint32Array, items: Uint32Array, numUsers: number, numItems: number, times?: ArrayLike<number>): DistinctPairs {
  const n = users.length;
  const order = new Uint32Array(n);
  const end = new Uint32Array(numUsers + 1);
  for (let k = 0; k < n; k++) end[users[k]! + 1]!++;
  for (let u = 0; u < numUsers; u++) end[u + 1]! += end[u]!;
  for (let k = 0; k < n; k++) order[end[users[k]!]!++] = k;
  // end[u] is now where user u's run ends; within a run, input order. `users` is free from
  // here: it takes the kept items, `order` the kept indices (writes never pass the reads,
  // w <= j); `items` is read until the end, then takes the kept users.
  const stamp = new Uint32Array(numItems); // 1 + the last user whose run had the item
  const slot = new Uint32Array(numItems); // where that run kept it
  let scratch = new Uint32Array(64);
  let w = 0;
  let j = 0;
  for (let u = 0; u < numUsers; u++) {
    const stop = end[u]!;
    const start = w;
    let sorted = true;
    for (; j < stop; j++) {
      const k = order[j]!;
      const item = items[k]!;
      if (stamp[item] !== u + 1) {
        stamp[item] = u + 1;
        slot[item] = w;
        if (w > start && item < users[w - 1]!) sorted = false;
        order[w] = k;
        users[w] = item;
        w++;
      } else if (times && times[k]! < times[order[slot[item]!]!]!) order[slot[item]!] = k;
    }
    if (!sorted) {
      // order the run by item, its kept indices along (by the slot each item was kept in)
      const len = w - start;
      if (scratch.length < len) scratch = new Uint32Array(Math.max(len, 2 * scratch.length));
      scratch.set(order.subarray(start, w));
      users.subarray(start, w).sort();
      for (let t = start; t < w; t++) order[t] = scratch[slot[users[t]!]! - start]!;
    }
    end[u] = w;
  }
  // `items` is free now: the kept users, run by run (end[u]: where u's kept run ends)
  for (let u = 0, t = 0; u < numUsers; u++) for (const stop = end[u]!; t < stop; t++) items[t] = u;
  return { users: items.subarray(0, w), items: users.subarray(0, w), index: order.subarray(0, w) };
}

/**
 * The value of a canonical non-negative integer id ("0", or 1 to 15 digits without a leading
 * zero: exactly what String(n) writes back), else -1. The same test as the importer's numeric
 * id order (`sortedIds`).
 */
export function canonicalInt(s: string): number {
  const n = s.length;
  if (n === 0 || n > 15) return -1;
  const c0 = s.charCodeAt(0) - 48;
  if (c0 < 0 || c0 > 9 || (c0 === 0 && n > 1)) return -1;
  let v = c0;
  for (let k = 1; k < n; k++) {
    const c = s.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * Original ids -> dense indices in order of first appearance. Canonical integer ids (the usual
 * case) go to an open-addressing table of typed arrays (no string kept, nothing for the GC to
 * trace), any other id to a Map; both share one numbering.
 */
export class IdIndex {
  private keys = new Float64Array(1024).fill(-1);
  private vals = new Uint32Array(1024);
  private mask = 1023;
  private numeric = 0;
  /** Per index: its integer id, or -1 when the id is a string in `strings`. */
  private ints = new F64Column();
  private strings = new Map<string, number>();
  size = 0;

  /** The index of `id`, assigning the next one when it is new. */
  indexOf(id: string): number {
    const v = canonicalInt(id);
    if (v < 0) {
      let k = this.strings.get(id);
      if (k === undefined) {
        this.strings.set(id, (k = this.size++));
        this.ints.push(-1);
      }
      return k;
    }
    let h = IdIndex.hash(v) & this.mask;
    for (;;) {
      const key = this.keys[h]!;
      if (key === v) return this.vals[h]!;
      if (key === -1) break;
      h = (h + 1) & this.mask;
    }
    const k = this.size++;
    this.keys[h] = v;
    this.vals[h] = k;
    this.ints.push(v);
    if (++this.numeric * 2 > this.mask) this.grow();
    return k;
  }

  /** The index of an id already seen (undefined if not). */
  get(id: string): number | undefined {
    const v = canonicalInt(id);
    if (v < 0) return this.strings.get(id);
    for (let h = IdIndex.hash(v) & this.mask; ; h = (h + 1) & this.mask) {
      const key = this.keys[h]!;
      if (key === v) return this.vals[h]!;
      if (key === -1) return undefined;
    }
  }

  /** The original ids of the indices marked in `live`, in index order. */
  names(live: ArrayLike<number>): string[] {
    const ints = this.ints.view();
    const byIndex: Array<string | undefined> = [];
    if (this.strings.size) for (const [s, k] of this.strings) if (live[k]) byIndex[k] = s;
    const out: string[] = [];
    for (let k = 0; k < this.size; k++) if (live[k]) out.push(ints[k]! >= 0 ? String(ints[k]!) : byIndex[k]!);
    return out;
  }

  /** Lets go of the tables. */
  clear(): void {
    this.keys = new Float64Array(16).fill(-1);
    this.vals = new Uint32Array(16);
    this.mask = 15;
    this.numeric = 0;
    this.ints.clear();
    this.strings.clear();
    this.size = 0;
  }

  private grow(): void {
    const keys = this.keys;
    const vals = this.vals;
    const cap = keys.length * 2;
    this.keys = new Float64Array(cap).fill(-1);
    this.vals = new Uint32Array(cap);
    this.mask = cap - 1;
    for (let h = 0; h < keys.length; h++) {
      const key = keys[h]!;
      if (key === -1) continue;
      let g = IdIndex.hash(key) & this.mask;
      while (this.keys[g] !== -1) g = (g + 1) & this.mask;
      this.keys[g] = key;
      this.vals[g] = vals[h]!;
    }
  }

  /** A 32-bit mix of an integer below 2^53 (murmur3's finalizer over its two halves). */
  private static hash(v: number): number {
    let h = (v >>> 0) ^ Math.imul((v / 4294967296) >>> 0, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }
}
