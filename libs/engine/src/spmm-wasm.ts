/**
 * Sparse propagation Â·X as a WebAssembly SIMD kernel (spmm.wat) over one shared
 * WebAssembly memory (a WasmArena) that holds the adjacency and every table the products
 * read or write, so no copies are made and a helper thread can run the same kernel on
 * other rows of the same memory.
 *
 * Arithmetic: per output row and 32-float block, 8 f32x4 accumulators summed over the row's
 * non-zeros in CSR order, f32 multiply then f32 add: the result of a row depends only on
 * that row, never on the thread or the row range, so any split is bit-identical.
 */
import { wasm, wasmModule, type WasmMemory } from '@robustrec/core';
import type { WeightedCsr } from './spmm';

/** Floats per block of accumulators (8 × f32x4); widths must be a multiple of it. */
export const WASM_SPMM_BLOCK = 32;

// The kernel's source: spmm.wat beside this file (compiled to gen/spmm.wasm at build time).
const SPMM_WASM = new URL('./gen/spmm.wasm', import.meta.url);

type SpmmFn = (indptr: number, indices: number, values: number, x: number, out: number, acc: number, r0: number, r1: number, rowBytes: number) => void;

/** Byte offsets of one product's operands in the arena (acc 0: none). */
export interface SpmmOffsets {
  x: number;
  out: number;
  acc: number;
  width: number;
}

/** The kernel bound to an arena's memory and an adjacency stored in it. */
export class WasmSpmm {
  private readonly fn: SpmmFn;

  constructor(
    memory: WasmMemory,
    /** byte offsets of indptr, indices, values */
    private readonly adj: { indptr: number; indices: number; values: number },
  ) {
    this.fn = new wasm.Instance(wasmModule(SPMM_WASM), { env: { mem: memory } }).exports.spmm as SpmmFn;
  }

  static offsetsOf(a: WeightedCsr): { indptr: number; indices: number; values: number } {
    return { indptr: a.indptr.byteOffset, indices: a.indices.byteOffset, values: a.values.byteOffset };
  }

  /** out = Â·x (acc += out) for rows [r0, r1). */
  run(o: SpmmOffsets, r0: number, r1: number): void {
    if (o.width % WASM_SPMM_BLOCK !== 0) throw new Error(`wasm spmm needs a width multiple of ${WASM_SPMM_BLOCK}, got ${o.width}`);
    this.fn(this.adj.indptr, this.adj.indices, this.adj.values, o.x, o.out, o.acc, r0, r1, o.width * 4);
  }
}
