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
import type { SharedTableArrays } from './optim';
import type { WeightedCsr } from './spmm';

/** Floats per block of accumulators (8 × f32x4); widths must be a multiple of it. */
export const WASM_SPMM_BLOCK = 32;

const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit (only `initial` pages are committed)

// The kernel's source: spmm.wat beside this file (compiled to gen/spmm.wasm at build time).
const SPMM_WASM = new URL('./gen/spmm.wasm', import.meta.url);

/**
 * A shared WebAssembly memory with a bump allocator: tables allocated here can be read and
 * written by the wasm kernels of every thread that received the memory.
 */
export class WasmArena {
  readonly memory: WasmMemory;
  private top = 16; // offset 0 stays unused: the kernels read 0 as "no array"

  constructor(bytes: number) {
    const pages = Math.ceil((bytes + 16) / 65536);
    if (pages > MAX_PAGES) throw new Error(`wasm arena of ${bytes} bytes exceeds 4 GiB`);
    this.memory = new wasm.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
  }

  private take(bytes: number): number {
    const off = this.top;
    this.top = (off + bytes + 15) & ~15;
    if (this.top > this.memory.buffer.byteLength) throw new Error('wasm arena exhausted');
    return off;
  }
  f32(len: number): Float32Array {
    return new Float32Array(this.memory.buffer, this.take(len * 4), len);
  }
  u32(len: number): Uint32Array {
    return new Uint32Array(this.memory.buffer, this.take(len * 4), len);
  }
  i32(len: number): Int32Array {
    return new Int32Array(this.memory.buffer, this.take(len * 4), len);
  }
  /** Storage for a ParamTable. */
  tableArrays(rows: number, width: number): SharedTableArrays {
    return { data: this.f32(rows * width), grad: this.f32(rows * width), m: this.f32(rows * width), v: this.f32(rows * width), last: this.i32(rows), touched: this.u32(rows) };
  }
  /** A copy of the adjacency in the arena. */
  adjacency(a: WeightedCsr): WeightedCsr {
    const indptr = this.u32(a.indptr.length);
    indptr.set(a.indptr);
    const indices = this.u32(a.indices.length);
    indices.set(a.indices);
    const values = this.f32(a.values.length);
    values.set(a.values);
    return { numRows: a.numRows, indptr, indices, values };
  }
  owns(v: ArrayBufferView): boolean {
    return v.buffer === this.memory.buffer;
  }

  /** Bytes for an adjacency plus `tables` row-major [rows × width] float tables (with slack for alignment). */
  static bytesFor(a: { numRows: number; nnz: number }, floats: number): number {
    return (a.numRows + 1 + 2 * a.nnz + floats) * 4 + 64 * 16;
  }
}

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
