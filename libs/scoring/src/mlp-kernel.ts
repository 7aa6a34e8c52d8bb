import { wasm, wasmModule } from '@robustrec/core';

// mlp.wat beside this file (compiled to gen/mlp.wasm at build time)
const MLP_WASM = new URL('./gen/mlp.wasm', import.meta.url);

type MlpFn = (gOff: number, pOff: number, huOff: number, aOff: number, w2Off: number, b2Off: number, hoOff: number, zOff: number, outOff: number, i0: number, i1: number, d: number, h2: number, blocked: number) => void;

/**
 * NeuMF's scores of one user against every item in WebAssembly SIMD (mlp.wat): the items' GMF
 * halves (read from the item table's rows), W2, b2 and the output weights of the MLP half are
 * copied into the kernel's own memory once, and the caller writes the items' first-layer parts
 * (b1 included) straight into `part`, so neither exists twice. Per user the caller passes the
 * folded GMF weights hu = h[0..d) ⊙ p_u and the user's first-layer part a. Needs d and h2
 * multiples of 4 (the scorer falls back to JS otherwise). f32 arithmetic, so scores differ from
 * a double-precision evaluation by rounding only.
 */
export class MlpKernel {
  private readonly memory: { buffer: ArrayBuffer };
  private readonly fn: MlpFn;
  private readonly off: { g: number; p: number; hu: number; a: number; w2: number; b2: number; ho: number; z: number; out: number };
  private readonly hu: Float32Array;
  private readonly a: Float32Array;
  private readonly out: Float32Array;
  /** [numItems × d] the items' first-layer parts + b1, in the kernel's memory: the caller fills it. */
  readonly part: Float32Array;

  static fits(d: number, h2: number): boolean {
    return d > 0 && h2 > 0 && d % 4 === 0 && h2 % 4 === 0;
  }

  constructor(
    readonly numItems: number,
    readonly d: number,
    readonly h2: number,
    /** the item table, rows of `stride` floats whose first d are the GMF half */
    items: Float32Array,
    stride: number,
    W2: Float32Array,
    b2: Float32Array,
    /** the output weights of the MLP half, h[d .. d + h2) */
    ho: Float32Array,
    /** four items at a time, dense (when h2 is a multiple of 8); false: item by item over the active units only (the tests' reference, same sums) */
    private readonly blocked = true,
  ) {
    if (!MlpKernel.fits(d, h2)) throw new Error(`MlpKernel: d ${d} and h2 ${h2} must be multiples of 4`);
    const f = 4;
    let top = 0;
    const take = (n: number): number => {
      const o = top;
      top += Math.ceil((n * f) / 16) * 16;
      return o;
    };
    this.off = { g: take(numItems * d), p: take(numItems * d), hu: take(d), a: take(d), w2: take(d * h2), b2: take(h2), ho: take(h2), z: take(4 * d + 16), out: take(numItems) };
    this.memory = new wasm.Memory({ initial: Math.ceil(top / 65536) + 1 }) as MlpKernel['memory'];
    this.fn = new wasm.Instance(wasmModule(MLP_WASM), { env: { mem: this.memory } }).exports.mlp_scores as MlpFn;
    const view = (o: number, n: number): Float32Array => new Float32Array(this.memory.buffer, o, n);
    const g = view(this.off.g, numItems * d);
    for (let i = 0; i < numItems; i++) g.set(items.subarray(i * stride, i * stride + d), i * d);
    this.part = view(this.off.p, numItems * d);
    view(this.off.w2, d * h2).set(W2.subarray(0, d * h2));
    view(this.off.b2, h2).set(b2.subarray(0, h2));
    view(this.off.ho, h2).set(ho.subarray(0, h2));
    this.hu = view(this.off.hu, d);
    this.a = view(this.off.a, d);
    this.out = view(this.off.out, numItems);
  }

  /** The user's scores against every item into out[0 .. numItems). */
  scoreUser(hu: ArrayLike<number>, a: ArrayLike<number>, out: Float32Array, outAt = 0): void {
    for (let k = 0; k < this.d; k++) {
      this.hu[k] = hu[k];
      this.a[k] = a[k];
    }
    const o = this.off;
    this.fn(o.g, o.p, o.hu, o.a, o.w2, o.b2, o.ho, o.z, o.out, 0, this.numItems, this.d, this.h2, this.blocked ? 1 : 0);
    out.set(this.out, outAt);
  }
}
