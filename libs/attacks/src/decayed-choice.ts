/**
 * Repeated choice of the n items of largest weight[i] x sigmoid(s_g[i]) for one of several
 * score vectors s_g (a "group": DP's per-target seed-user scores). Weights start at 1 and are
 * shared by all groups; every chosen item's weight is then multiplied by a decay in [0, 1].
 *
 * A full scan per choice (an exp per item and a selection over all items) made DP's fillers
 * O(fake users x items), quadratic in the dataset. Here each group keeps a max-heap of its
 * items keyed by their value when last seen. Weights only decrease, so a key is an upper bound
 * of its item's current value (w / d with the same d is monotone in w under IEEE rounding): the
 * top of the heap is the true best as soon as its key equals its recomputed value, otherwise it
 * is re-keyed and sifted down (lazy decrease-key). The order of the heap is value descending,
 * then index ascending, which is topK's tie-break, so a choice is exactly what topK over
 * w[i] / (1 + exp(-s[i])) returns, best first. Cost per choice: O((n + items decayed by other
 * groups since) x log items).
 */
export class DecayedChoice {
  private readonly heaps: Heap[];
  /** Each item's selection weight now (read-only outside: take() decays it). */
  readonly weight: Float64Array;

  constructor(
    private readonly scores: readonly Float32Array[],
    numItems: number,
    skip: ReadonlySet<number>,
    private readonly decay: number,
  ) {
    this.weight = new Float64Array(numItems).fill(1);
    this.heaps = scores.map((_, g) => {
      const n = numItems;
      const ids = new Uint32Array(n - [...skip].filter((i) => i >= 0 && i < n).length);
      let m = 0;
      for (let i = 0; i < n; i++) if (!skip.has(i)) ids[m++] = i;
      const keys = new Float64Array(m);
      for (let j = 0; j < m; j++) keys[j] = this.value(g, ids[j]!);
      return new Heap(keys, ids);
    });
  }

  /** Current value of item i in group g; a non-number score ranks last. */
  private value(g: number, i: number): number {
    const v = this.weight[i]! / (1 + Math.exp(-this.scores[g]![i]!));
    return v === v ? v : -Infinity;
  }

  /** The n best items of group g (fewer if fewer remain), best first; their weights then x decay. */
  take(g: number, n: number): number[] {
    const h = this.heaps[g]!;
    const chosen: number[] = [];
    while (chosen.length < n && h.size > 0) {
      const i = h.ids[0]!;
      const v = this.value(g, i);
      if (v === h.keys[0]!) chosen.push(h.pop());
      else h.rekeyTop(v);
    }
    for (const i of chosen) {
      this.weight[i]! *= this.decay;
      h.push(this.value(g, i), i);
    }
    return chosen;
  }
}

/** Binary max-heap over parallel key/id arrays; order: key descending, then id ascending. */
class Heap {
  size: number;

  constructor(
    readonly keys: Float64Array,
    readonly ids: Uint32Array,
  ) {
    this.size = keys.length;
    for (let j = (this.size >> 1) - 1; j >= 0; j--) this.down(j);
  }

  private above(a: number, b: number): boolean {
    const ka = this.keys[a]!;
    const kb = this.keys[b]!;
    return ka > kb || (ka === kb && this.ids[a]! < this.ids[b]!);
  }

  private swap(a: number, b: number): void {
    const k = this.keys[a]!;
    this.keys[a] = this.keys[b]!;
    this.keys[b] = k;
    const i = this.ids[a]!;
    this.ids[a] = this.ids[b]!;
    this.ids[b] = i;
  }

  private down(j: number): void {
    for (;;) {
      const l = 2 * j + 1;
      if (l >= this.size) return;
      const c = l + 1 < this.size && this.above(l + 1, l) ? l + 1 : l;
      if (!this.above(c, j)) return;
      this.swap(c, j);
      j = c;
    }
  }

  pop(): number {
    const top = this.ids[0]!;
    this.size--;
    if (this.size > 0) {
      this.keys[0] = this.keys[this.size]!;
      this.ids[0] = this.ids[this.size]!;
      this.down(0);
    }
    return top;
  }

  rekeyTop(key: number): void {
    this.keys[0] = key;
    this.down(0);
  }

  /** Room is there: only popped items come back. */
  push(key: number, id: number): void {
    let j = this.size++;
    this.keys[j] = key;
    this.ids[j] = id;
    while (j > 0) {
      const p = (j - 1) >> 1;
      if (!this.above(j, p)) return;
      this.swap(j, p);
      j = p;
    }
  }
}
