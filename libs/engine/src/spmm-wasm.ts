/**
 * Sparse propagation Â·X as a hand-assembled WebAssembly SIMD kernel over one shared
 * WebAssembly memory (a WasmArena) that holds the adjacency and every table the products
 * read or write, so no copies are made and a helper thread can run the same kernel on
 * other rows of the same memory.
 *
 * Arithmetic: per output row and 32-float block, 8 f32x4 accumulators summed over the row's
 * non-zeros in CSR order, f32 multiply then f32 add: the result of a row depends only on
 * that row, never on the thread or the row range, so any split is bit-identical.
 */
import { op, wasm, wasmModuleBytes, type WasmMemory } from '@robustrec/core';
import type { SharedTableArrays } from './optim';
import type { WeightedCsr } from './spmm';

const { BLOCK, LOOP, IF, END, BR, BR_IF, get, set, i32c, I32_LOAD, I32_ADD, I32_MUL, I32_GE_U, V128_LOAD, V128_LOAD32_SPLAT, V128_STORE, V128_ZERO, F32X4_ADD, F32X4_MUL } = op;

/** Floats per block of accumulators (8 × f32x4); widths must be a multiple of it. */
export const WASM_SPMM_BLOCK = 32;

const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit (only `initial` pages are committed)

/** spmm(indptr, indices, values, x, out, acc, r0, r1, rowBytes); acc = 0: none. Offsets in bytes. */
function buildModule(): Uint8Array {
  const [indptr, indices, values, x, out, acc, r0, r1, rowBytes] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [r, kb, p, p1, xo, oo] = [9, 10, 11, 12, 13, 14];
  const a = (k: number): number => 15 + k;
  const wv = 23;
  const K = [0, 1, 2, 3, 4, 5, 6, 7];
  const code: number[] = [
    ...get(r0), ...set(r),
    ...BLOCK, ...LOOP,
    ...get(r), ...get(r1), I32_GE_U, BR_IF, 1,
    ...i32c(0), ...set(kb),
    ...BLOCK, ...LOOP,
    ...get(kb), ...get(rowBytes), I32_GE_U, BR_IF, 1,
    ...K.flatMap((k) => [...V128_ZERO, ...set(a(k))]),
    // p = indptr[r], p1 = indptr[r + 1]
    ...get(indptr), ...get(r), ...i32c(4), I32_MUL, I32_ADD, ...set(xo),
    ...get(xo), ...I32_LOAD(0), ...set(p),
    ...get(xo), ...I32_LOAD(4), ...set(p1),
    ...BLOCK, ...LOOP,
    ...get(p), ...get(p1), I32_GE_U, BR_IF, 1,
    // xo = x + indices[p]·rowBytes + kb; wv = splat(values[p])
    ...get(x), ...get(indices), ...get(p), ...i32c(4), I32_MUL, I32_ADD, ...I32_LOAD(0), ...get(rowBytes), I32_MUL, I32_ADD, ...get(kb), I32_ADD, ...set(xo),
    ...get(values), ...get(p), ...i32c(4), I32_MUL, I32_ADD, ...V128_LOAD32_SPLAT(0), ...set(wv),
    ...K.flatMap((k) => [...get(a(k)), ...get(wv), ...get(xo), ...V128_LOAD(16 * k), ...F32X4_MUL, ...F32X4_ADD, ...set(a(k))]),
    ...get(p), ...i32c(1), I32_ADD, ...set(p),
    BR, 0,
    END, END,
    // out row block; acc += it when asked
    ...get(out), ...get(r), ...get(rowBytes), I32_MUL, I32_ADD, ...get(kb), I32_ADD, ...set(oo),
    ...K.flatMap((k) => [...get(oo), ...get(a(k)), ...V128_STORE(16 * k)]),
    ...get(acc), ...IF,
    ...get(acc), ...get(r), ...get(rowBytes), I32_MUL, I32_ADD, ...get(kb), I32_ADD, ...set(oo),
    ...K.flatMap((k) => [...get(oo), ...get(oo), ...V128_LOAD(16 * k), ...get(a(k)), ...F32X4_ADD, ...V128_STORE(16 * k)]),
    END,
    ...get(kb), ...i32c(4 * WASM_SPMM_BLOCK), I32_ADD, ...set(kb),
    BR, 0,
    END, END,
    ...get(r), ...i32c(1), I32_ADD, ...set(r),
    BR, 0,
    END, END,
  ];
  return wasmModuleBytes('spmm', 9, [[6, 0x7f], [9, 0x7b]], code, { shared: true, maxPages: MAX_PAGES });
}

let compiled: object | undefined;
function wasmModule(): object {
  compiled ??= new wasm.Module(buildModule());
  return compiled;
}

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
    this.fn = new wasm.Instance(wasmModule(), { env: { mem: memory } }).exports.spmm as SpmmFn;
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
