/**
 * Seeded pseudo-random numbers (sfc32 seeded through splitmix32). Every random choice in
 * the platform goes through an Rng so that a run is reproducible from its seed; `fork`
 * derives independent streams by label so that adding a random draw in one component
 * does not shift another component's stream.
 */
function splitmix32(a: number): () => number {
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = NaN;

  constructor(readonly seed: number) {
    const sm = splitmix32((seed >>> 0) ^ Math.floor(seed / 2 ** 32));
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A new generator whose stream depends only on this seed and the label. */
  fork(label: string): Rng {
    return new Rng((this.seed ^ hashString(label)) >>> 0);
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller, caching the second value). */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const s = this.spare;
      this.spare = NaN;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: any }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }

  /** k distinct integers from [0, n) (k <= n), in random order. */
  sample(n: number, k: number): number[] {
    if (k > n) throw new RangeError(`cannot sample ${k} of ${n}`);
    const chosen = new Set<number>();
    const out: number[] = [];
    while (out.length < k) {
      const x = this.int(n);
      if (!chosen.has(x)) {
        chosen.add(x);
        out.push(x);
      }
    }
    return out;
  }

  /** Serialisable state (for checkpoints). */
  state(): number[] {
    return [this.a, this.b, this.c, this.d, this.spare];
  }

  restore(s: number[]): void {
    [this.a, this.b, this.c, this.d, this.spare] = s as [number, number, number, number, number];
  }
}
