import { startHelper, type Helper, type WasmMemory } from '@robustrec/core';
import { sharedF32, type SharedTableArrays } from './optim';
import { spmm, type WeightedCsr } from './spmm';
import { WasmArena } from './arena';
import { WASM_SPMM_BLOCK, WasmSpmm, type SpmmOffsets } from './spmm-wasm';

/** One request for rows [rowStart, rowEnd): typed arrays (JS kernel) or arena offsets (wasm kernel). */
export type SpmmRequest =
  | { kind: 'js'; x: Float32Array; width: number; out: Float32Array; acc?: Float32Array; rowStart: number; rowEnd: number }
  | { kind: 'wasm'; offsets: SpmmOffsets; rowStart: number; rowEnd: number };

export interface SpmmHelperInit {
  /** JS kernel: the adjacency in shared memory. */
  adj?: WeightedCsr;
  /** wasm kernel: the arena's memory and the adjacency's byte offsets in it. */
  wasm?: { memory: WasmMemory; adj: { indptr: number; indices: number; values: number } };
}

/**
 * Full sparse products Â·X for a graph backbone (LightGCN's largest cost), on one or two
 * threads:
 * - widths that are a multiple of 32 run the WebAssembly SIMD kernel (spmm-wasm.ts) over a
 *   shared arena that holds the adjacency and every table the products touch (allocate them
 *   with `alloc` / `tableArrays`);
 * - other widths run the JS kernel over shared memory.
 * With two threads the rows are split where the work (non-zeros + rows) halves and a helper
 * thread computes the second part while the caller computes the first. Each output row is
 * written once, by one thread, with the same code, so results do not depend on the thread
 * count. Requests reach the helper over the platform's one handoff (HelperLink in
 * @robustrec/core): no event loop is involved.
 */
export class Propagation {
  readonly adj: WeightedCsr;
  private readonly arena: WasmArena | undefined;
  private readonly kernel: WasmSpmm | undefined;
  private split: number;
  private helper: Helper | undefined;

  /** @param arena where the products' operands live (a trainer shares its own; default a new one) */
  constructor(adj: WeightedCsr, readonly width: number, threads: number, arena: WasmArena = new WasmArena()) {
    if (width % WASM_SPMM_BLOCK === 0) {
      this.arena = arena;
      this.adj = this.arena.adjacency(adj);
      this.kernel = new WasmSpmm(this.arena.memory, WasmSpmm.offsetsOf(this.adj));
    } else {
      this.adj = { numRows: adj.numRows, indptr: sharedCopy(adj.indptr), indices: sharedCopy(adj.indices), values: sharedCopy(adj.values) };
    }
    this.split = threads > 1 ? balancedSplit(this.adj) : this.adj.numRows;
    if (threads > 1) {
      const init: SpmmHelperInit = this.arena ? { wasm: { memory: this.arena.memory, adj: WasmSpmm.offsetsOf(this.adj) } } : { adj: this.adj };
      this.helper = startHelper(new URL('./spmm-worker.ts', import.meta.url), 'propagation helper', init);
    }
  }

  /** The handoff to the helper thread, if there is one (for the stress tests). */
  get link(): Helper['link'] | undefined {
    return this.helper?.link;
  }

  /** Which kernel runs the products (also on the helper threads: they get the same arena or none). */
  get kernelName(): 'wasm-simd' | 'js' {
    return this.kernel ? 'wasm-simd' : 'js';
  }

  /** A zeroed float table the products can read and write. */
  alloc(len: number): Float32Array {
    return this.arena ? this.arena.f32(len) : sharedF32(len);
  }

  /** Storage for a ParamTable whose data/grad the products read and write. */
  tableArrays(rows: number, width: number): SharedTableArrays | undefined {
    return this.arena?.tableArrays(rows, width);
  }

  /** out = Â·x over all rows, and acc += out when acc is given. */
  product(x: Float32Array, out: Float32Array, acc?: Float32Array): void {
    const n = this.adj.numRows;
    const w = this.width;
    let req: SpmmRequest;
    let offsets: SpmmOffsets | undefined;
    if (this.arena) {
      for (const a of [x, out, acc]) if (a && !this.arena.owns(a)) throw new Error('propagation operands must be allocated by Propagation.alloc');
      offsets = { x: x.byteOffset, out: out.byteOffset, acc: acc ? acc.byteOffset : 0, width: w };
      req = { kind: 'wasm', offsets, rowStart: this.split, rowEnd: n };
    } else {
      req = { kind: 'js', x, width: w, out, acc, rowStart: this.split, rowEnd: n };
    }
    const h = this.helper;
    h?.link.post(1, [req]);
    if (offsets) this.kernel!.run(offsets, 0, this.split);
    else spmm(this.adj, x, w, out, 0, this.split, acc);
    h?.link.wait();
  }

  /** Stops the helper thread, if any (the object stays usable on one thread). */
  async close(): Promise<void> {
    const h = this.helper;
    if (!h) return;
    this.helper = undefined;
    this.split = this.adj.numRows;
    await h.close();
  }
}

/** Copies a typed array into shared memory (so a helper thread sees the same bytes). */
export function sharedCopy<T extends Float32Array | Uint32Array>(a: T): T {
  const Ctor = a.constructor as new (b: SharedArrayBuffer) => T;
  const s = new Ctor(new SharedArrayBuffer(a.byteLength));
  s.set(a as never);
  return s;
}

/** The row where rows + non-zeros (the cost of a pull product) reach half of their total. */
export function balancedSplit(a: WeightedCsr): number {
  const total = a.numRows + a.indptr[a.numRows];
  let lo = 0;
  let hi = a.numRows;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (mid + a.indptr[mid] < total / 2) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

