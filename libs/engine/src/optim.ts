/**
 * Parameter tables and their optimisers.
 *
 * - `adamw` (default, faithful to the published code's torch.optim.AdamW: lr 1e-3, decoupled
 *   weight decay 0.01, β = (0.9, 0.999), eps 1e-8): every row evolves every step. Updating all
 *   rows each step costs as much as the rest of the step, so it is "lazy-exact": a row whose
 *   gradient is zero for k steps evolves deterministically (m ← β1^k m, v ← β2^k v, θ decays by
 *   (1 − lr·wd) per step and moves by −lr·m̂_s/(√v̂_s + eps) each skipped step s); those k steps
 *   are applied in closed form when the row is touched again and at `catchUpAll` (epoch end,
 *   checkpoint, export). Inside the skipped steps eps enters through its weighted mean over
 *   those steps (see `factors`), exact to first order in eps/√v̂ (second-order error ≲ 1% of the
 *   skipped moves where √v > 10·eps·e_max); elements with smaller √v take the literal per-step
 *   loop.
 *   Tests hold it to float32 rounding against a truly dense AdamW.
 * - `sparse_adam` (fast): lazy Adam, only rows with a gradient this step are updated (their
 *   m, v, and the decoupled weight decay); untouched rows stay frozen (like torch SparseAdam
 *   plus decoupled decay on touched rows).
 */
import type { WasmStep } from './step-wasm';

export type OptimizerKind = 'adamw' | 'sparse_adam';

export interface AdamOptions {
  lr: number;
  weightDecay: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/**
 * A [rows × width] parameter table with its optimiser state and a compact gradient: the
 * gradient of the k-th row touched this step lives at grad[k·width, (k+1)·width) (slotOf), so
 * a step's accumulation and update stream through a small buffer instead of scattering into
 * a table-sized one. Dense users (LightGCN) call touchAll() first: then slot r = row r.
 */
export class ParamTable {
  readonly data: Float32Array;
  readonly grad: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** Last optimiser step applied to each row (lazy-exact AdamW). */
  readonly last: Int32Array;
  /** Rows with a gradient this step, in slot order. */
  readonly touched: Uint32Array;
  /** With the table in a WasmArena: per-slot factors of the wasm update and its exact-row lists. */
  readonly fac: Float32Array | undefined;
  readonly exact: Uint32Array | undefined;
  touchedCount = 0;
  private readonly slot: Int32Array;

  constructor(
    readonly name: string,
    readonly rows: number,
    readonly width: number,
    /** Existing shared storage (a helper thread's view of a table); fresh shared memory when absent. */
    shared?: SharedTableArrays,
  ) {
    const n = rows * width;
    // Shared memory, so an UpdateHelper thread can update half of the touched rows in place.
    this.data = shared?.data ?? sharedF32(n);
    this.grad = shared?.grad ?? sharedF32(n);
    this.m = shared?.m ?? sharedF32(n);
    this.v = shared?.v ?? sharedF32(n);
    this.last = shared?.last ?? new Int32Array(new SharedArrayBuffer(rows * 4));
    this.touched = shared?.touched ?? sharedU32(rows);
    this.fac = shared?.fac;
    this.exact = shared?.exact;
    this.slot = new Int32Array(rows).fill(-1);
  }

  /** The arrays another thread needs to update rows of this table. */
  sharedArrays(): SharedTableArrays {
    return { data: this.data, grad: this.grad, m: this.m, v: this.v, last: this.last, touched: this.touched, fac: this.fac, exact: this.exact };
  }

  /** Whether the wasm update (step.wat adam) can run on this table with `step`. */
  wasmReady(step: WasmStep | undefined): step is WasmStep {
    return step !== undefined && this.width % 4 === 0 && this.fac !== undefined && this.exact !== undefined && step.owns(this.data) && step.owns(this.fac);
  }

  /** Offset of row r's gradient in `grad` (allocating its slot on first touch). */
  slotOf(r: number): number {
    let s = this.slot[r];
    if (s < 0) {
      s = this.touchedCount++;
      this.slot[r] = s;
      this.touched[s] = r;
    }
    return s * this.width;
  }

  /** grad[row b] += scale·src[b] for b < n (repeated rows accumulate); in wasm when `step` holds both. */
  accumulate(rows: Uint32Array, n: number, src: Float32Array, scale = 1, step?: WasmStep): void {
    if (step && this.width % 4 === 0 && step.owns(this.grad) && step.owns(src)) {
      const slots = step.slots(n);
      for (let b = 0; b < n; b++) slots[b] = this.slotOf(rows[b]) / this.width;
      step.fns.scatter(this.grad.byteOffset, this.width, slots.byteOffset, src.byteOffset, scale, n);
      return;
    }
    const w = this.width;
    const g = this.grad;
    for (let b = 0; b < n; b++) {
      const o = this.slotOf(rows[b]);
      const so = b * w;
      for (let k = 0; k < w; k++) g[o + k] += scale * src[so + k];
    }
  }

  /** Makes every row touched with slot = row, so `grad` is laid out like `data`. */
  touchAll(): void {
    if (this.touchedCount === this.rows) return;
    if (this.touchedCount !== 0) throw new Error(`${this.name}: touchAll after sparse touches in the same step`);
    for (let r = 0; r < this.rows; r++) {
      this.slot[r] = r;
      this.touched[r] = r;
    }
    this.touchedCount = this.rows;
  }

  /** Clears the gradient and the touched set. */
  clearGrad(): void {
    this.grad.fill(0, 0, this.touchedCount * this.width);
    for (let t = 0; t < this.touchedCount; t++) this.slot[this.touched[t]] = -1;
    this.touchedCount = 0;
  }
}

/** Zero-filled typed arrays in shared memory (helper threads see the same bytes). */
export function sharedF32(len: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(len * 4));
}
export function sharedU32(len: number): Uint32Array {
  return new Uint32Array(new SharedArrayBuffer(len * 4));
}
export function sharedF64(len: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(len * 8));
}

export interface SharedTableArrays {
  data: Float32Array;
  grad: Float32Array;
  m: Float32Array;
  v: Float32Array;
  last: Int32Array;
  touched: Uint32Array;
  /** With tables in a WasmArena: the wasm update's per-slot factors (8 per slot) and exact-row lists (two threads). */
  fac?: Float32Array;
  exact?: Uint32Array;
}

interface CatchUp {
  /** d^k, d = 1 − lr·wd */
  dk: number;
  /** θ += s·m/(√v + epsBar) */
  s: number;
  epsBar: number;
  /** eps·max_j e_j: elements with √v not ≫ this take the exact per-step loop */
  epsMax: number;
  l: number;
  k: number;
  b1k: number;
  b2k: number;
}

/** Adam/AdamW over ParamTables; one instance per training run (its step counter is global). */
export class Adam {
  readonly lr: number;
  readonly wd: number;
  readonly b1: number;
  readonly b2: number;
  readonly eps: number;
  /** Completed optimiser steps. */
  step = 0;
  private readonly win0 = new Float64Array(401);
  private readonly win1 = new Float64Array(401);
  private winUpTo = -1;
  private memo = new Float64Array(1024).fill(NaN);
  /** factors(upTo − k, upTo) for k ≤ WINDOW at fcacheUpTo: rows skipped equally long share them. */
  private readonly fcache: Array<CatchUp | undefined> = new Array<CatchUp | undefined>(401);
  private fcacheUpTo = -1;

  constructor(
    readonly kind: OptimizerKind,
    o: AdamOptions,
  ) {
    this.lr = o.lr;
    this.wd = o.weightDecay;
    this.b1 = o.beta1 ?? 0.9;
    this.b2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
  }

  /** Advances the step counter; call once per training step, before `update`. */
  begin(): number {
    return ++this.step;
  }

  /** Applies the current step to the touched rows of the table, then clears its gradient. */
  update(p: ParamTable, step?: WasmStep): void {
    if (p.wasmReady(step)) {
      this.prepare(p);
      this.finishExact(p, 0, this.updateWasm(p, 0, p.touchedCount, 1, step, 0));
    } else this.updateRange(p, 0, p.touchedCount);
    p.clearGrad();
  }

  /**
   * Before a wasm update: each touched slot's factors (fac, 8 per slot): whether its row
   * skipped steps (lazy-exact AdamW) and the closed form of those steps (see `factors`).
   */
  prepare(p: ParamTable): void {
    const t = this.step;
    const fac = p.fac!;
    const lazyExact = this.kind === 'adamw';
    const { touched, last } = p;
    for (let q = 0; q < p.touchedCount; q++) {
      const r = touched[q];
      const o = 8 * q;
      if (lazyExact && last[r] < t - 1) {
        const f = this.factors(last[r], t - 1);
        fac[o] = 1;
        fac[o + 1] = f.dk;
        fac[o + 2] = f.s;
        fac[o + 3] = f.epsBar;
        fac[o + 4] = 10 * f.epsMax;
        fac[o + 5] = f.b1k;
        fac[o + 6] = f.b2k;
      } else fac[o] = 0;
    }
  }

  /**
   * The current step on slots q0, q0 + stride, … < q1 in wasm (prepare() first), f32 arithmetic.
   * Rows whose skipped steps need the exact per-step recursion are left alone and listed in
   * exact[base ..]; returns how many (finishExact does them).
   */
  updateWasm(p: ParamTable, q0: number, q1: number, stride: number, step: WasmStep, base: number): number {
    const t = this.step;
    const bc1 = 1 - Math.pow(this.b1, t);
    const bc2 = Math.sqrt(1 - Math.pow(this.b2, t));
    return step.fns.adam(
      p.data.byteOffset, p.grad.byteOffset, p.m.byteOffset, p.v.byteOffset, p.last.byteOffset, p.touched.byteOffset, p.fac!.byteOffset,
      p.width, q0, q1, stride, t, this.b1, this.b2, this.lr / bc1, bc2, this.eps, 1 - this.lr * this.wd, p.exact!.byteOffset + 4 * base,
    );
  }

  /** The slots a wasm update left to the exact recursion (exact[base .. base + count)), in JS. */
  finishExact(p: ParamTable, base: number, count: number): void {
    for (let i = 0; i < count; i++) {
      const q = p.exact![base + i]!;
      this.updateRange(p, q, q + 1);
    }
  }

  /**
   * Applies the current step to the rows in touched-slots q0, q0 + stride, … < q1. Rows are
   * independent, so disjoint sets may run on different threads with results identical to one
   * `update`. (Two threads take alternate slots: slot order follows first touch, e.g. a batch's
   * positives before its negatives, whose long-untouched rows take the slower catch-up path.)
   */
  updateRange(p: ParamTable, q0: number, q1: number, stride = 1): void {
    const t = this.step;
    const { lr, b1, b2, eps } = this;
    const w = p.width;
    const bc1 = 1 - Math.pow(b1, t);
    const bc2 = Math.sqrt(1 - Math.pow(b2, t));
    const stepSize = lr / bc1;
    const lazyExact = this.kind === 'adamw';
    const decay = 1 - lr * this.wd;
    const { data, grad, m, v, last, touched } = p;
    for (let q = q0; q < q1; q += stride) {
      const r = touched[q];
      const o = r * w;
      const go = q * w - o;
      if (lazyExact && last[r] < t - 1) {
        // skipped steps in closed form, fused with this step (one pass over the row); the
        // factors are hoisted into locals so the element loop touches no object
        const f = this.factors(last[r], t - 1);
        const dk = f.dk, fs = f.s, epsBar = f.epsBar, vMin = 10 * f.epsMax, b1k = f.b1k, b2k = f.b2k;
        for (let k = o; k < o + w; k++) {
          let mk = m[k];
          const v0 = v[k];
          const sv = Math.sqrt(v0);
          const th = mk === 0 ? data[k] * dk : sv > vMin ? data[k] * dk + (fs * mk) / (sv + epsBar) : this.exactSkip(data[k], mk, v0, f);
          const g = grad[go + k];
          mk = b1 * (mk * b1k) + (1 - b1) * g;
          const vk = b2 * v0 * b2k + (1 - b2) * g * g;
          m[k] = mk;
          v[k] = vk;
          data[k] = th * decay - (stepSize * mk) / (Math.sqrt(vk) / bc2 + eps);
        }
      } else {
        for (let k = o; k < o + w; k++) {
          const g = grad[go + k];
          const mk = b1 * m[k] + (1 - b1) * g;
          const vk = b2 * v[k] + (1 - b2) * g * g;
          m[k] = mk;
          v[k] = vk;
          data[k] = data[k] * decay - (stepSize * mk) / (Math.sqrt(vk) / bc2 + eps);
        }
      }
      last[r] = t;
    }
  }

  /** Brings every row of the table to the current step (lazy-exact AdamW only; no-op for sparse_adam). */
  catchUpAll(p: ParamTable): void {
    if (this.kind !== 'adamw') return;
    for (let r = 0; r < p.rows; r++) if (p.last[r] < this.step) this.applyCatchUp(p, r, this.step);
  }

  private applyCatchUp(p: ParamTable, r: number, upTo: number): void {
    const f = this.factors(p.last[r], upTo);
    const w = p.width;
    const { data, m, v } = p;
    for (let k = r * w; k < (r + 1) * w; k++) {
      const vk = v[k];
      const sv = Math.sqrt(vk);
      data[k] = m[k] === 0 ? data[k] * f.dk : sv > 10 * f.epsMax ? data[k] * f.dk + (f.s * m[k]) / (sv + f.epsBar) : this.exactSkip(data[k], m[k], vk, f);
      // flush what decayed below 1e-30 to zero: float32 denormals slow every later op ~100×,
      // and such a moment contributes nothing (β1^k·m)
      const mk = m[k] * f.b1k;
      m[k] = mk > -1e-30 && mk < 1e-30 ? 0 : mk;
      const vk2 = vk * f.b2k;
      v[k] = vk2 < 1e-30 ? 0 : vk2;
    }
    p.last[r] = upTo;
  }

  /**
   * Closed-form factors of the zero-gradient steps l+1..upTo of a row last updated at step l.
   * Skipped step s = l+j moves θ by −lr·m·c_j/(√v + eps·e_j) (m, v as at step l) with
   * c_j = (β1/√β2)^j·B(s), B(s) = √(1−β2^s)/(1−β1^s), e_j = √(1−β2^s)/β2^{j/2}; with decay,
   * θ_upTo = d^k θ_l − lr·d^k·Σ_j d^{−j} c_j·m/(√v + eps·e_j). The per-element sum is replaced
   * by S0·m/(√v + eps·ē), S0 = Σ_j ρ^j B(s), ρ = β1/(√β2·d), ē = S1/S0 the weighted mean of
   * e_j (S1 = Σ_j (ρ/√β2)^j B(s)√(1−β2^s)): exact when eps ≪ √v̂ or e_j is constant, and
   * first-order exact in eps otherwise. Terms die out like 0.9^j, so the sums are truncated at
   * J = 400 terms (< 1e-18). For l ∈ [upTo−J, upTo) the sums follow from one backward
   * recurrence per step (S(l) = ρ·(B(l+1) + S(l+1))); older rows use memoised sums, which
   * no longer depend on upTo.
   */
  private factors(l: number, upTo: number): CatchUp {
    const k = upTo - l;
    if (k <= WINDOW) {
      if (this.fcacheUpTo !== upTo) {
        this.fcache.fill(undefined);
        this.fcacheUpTo = upTo;
      }
      return (this.fcache[k] ??= this.computeFactors(l, upTo));
    }
    return this.computeFactors(l, upTo);
  }

  private computeFactors(l: number, upTo: number): CatchUp {
    const k = upTo - l;
    const d = 1 - this.lr * this.wd;
    let s0: number, s1: number;
    if (k <= WINDOW) {
      if (this.winUpTo !== upTo) this.fillWindow(upTo);
      s0 = this.win0[k];
      s1 = this.win1[k];
    } else [s0, s1] = this.tail(l);
    const dk = Math.pow(d, k);
    const jm = Math.min(k, WINDOW);
    const epsMax = (this.eps * Math.sqrt(1 - Math.pow(this.b2, l + jm))) / Math.pow(this.b2, jm / 2);
    return { dk, s: -this.lr * dk * s0, epsBar: s0 > 0 ? (this.eps * s1) / s0 : 0, epsMax, l, k, b1k: Math.pow(this.b1, k), b2k: Math.pow(this.b2, k) };
  }

  /**
   * θ after the skipped steps by the literal per-step recursion (in double): for the rare
   * elements whose √v is not ≫ eps, where the weighted-mean eps is not accurate enough.
   */
  private exactSkip(theta: number, m: number, v: number, f: CatchUp): number {
    const { lr, b1, b2, eps } = this;
    const d = 1 - lr * this.wd;
    const jm = Math.min(f.k, WINDOW);
    let b1s = Math.pow(b1, f.l), b2s = Math.pow(b2, f.l);
    for (let j = 1; j <= jm; j++) {
      b1s *= b1;
      b2s *= b2;
      m *= b1;
      v *= b2;
      theta = theta * d - ((lr / (1 - b1s)) * m) / (Math.sqrt(v / (1 - b2s)) + eps);
    }
    return theta * Math.pow(d, f.k - jm);
  }

  private bias(s: number): number {
    return Math.sqrt(1 - Math.pow(this.b2, s)) / (1 - Math.pow(this.b1, s));
  }

  private get rho(): number {
    return this.b1 / (Math.sqrt(this.b2) * (1 - this.lr * this.wd));
  }

  /** win[k] = S(upTo − k) for k = 0..WINDOW. */
  private fillWindow(upTo: number): void {
    const rho0 = this.rho;
    const rho1 = rho0 / Math.sqrt(this.b2);
    this.win0[0] = 0;
    this.win1[0] = 0;
    for (let k = 1; k <= WINDOW; k++) {
      const l = upTo - k;
      if (l < 0) {
        this.win0[k] = 0;
        this.win1[k] = 0;
        continue;
      }
      const b = this.bias(l + 1);
      this.win0[k] = rho0 * (b + this.win0[k - 1]);
      this.win1[k] = rho1 * (b * Math.sqrt(1 - Math.pow(this.b2, l + 1)) + this.win1[k - 1]);
    }
    this.winUpTo = upTo;
  }

  private tail(l: number): [number, number] {
    if (2 * l + 1 >= this.memo.length) {
      const grown = new Float64Array(Math.max(2 * l + 2, this.memo.length * 2)).fill(NaN);
      grown.set(this.memo);
      this.memo = grown;
    }
    if (Number.isNaN(this.memo[2 * l])) {
      const rho0 = this.rho;
      const rho1 = rho0 / Math.sqrt(this.b2);
      let t0 = 0, t1 = 0, r0 = 1, r1 = 1;
      for (let j = 1; j <= WINDOW; j++) {
        r0 *= rho0;
        r1 *= rho1;
        const b = this.bias(l + j);
        t0 += r0 * b;
        t1 += r1 * b * Math.sqrt(1 - Math.pow(this.b2, l + j));
      }
      this.memo[2 * l] = t0;
      this.memo[2 * l + 1] = t1;
    }
    return [this.memo[2 * l], this.memo[2 * l + 1]];
  }
}

const WINDOW = 400;

/**
 * A literal dense AdamW (every parameter every step, zero gradients included), as
 * torch.optim.AdamW does: the reference the lazy-exact optimiser is tested against.
 */
export function denseAdamWStep(
  data: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  t: number,
  o: AdamOptions,
): void {
  const b1 = o.beta1 ?? 0.9;
  const b2 = o.beta2 ?? 0.999;
  const eps = o.eps ?? 1e-8;
  const bc1 = 1 - Math.pow(b1, t);
  const bc2 = Math.sqrt(1 - Math.pow(b2, t));
  const decay = 1 - o.lr * o.weightDecay;
  for (let k = 0; k < data.length; k++) {
    const g = grad[k];
    m[k] = b1 * m[k] + (1 - b1) * g;
    v[k] = b2 * v[k] + (1 - b2) * g * g;
    data[k] = data[k] * decay - ((o.lr / bc1) * m[k]) / (Math.sqrt(v[k]) / bc2 + eps);
  }
}
