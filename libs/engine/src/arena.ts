import { wasm, type WasmMemory } from '@robustrec/core';
import type { WeightedCsr } from './spmm';
import { sharedF32, sharedU32, type SharedTableArrays } from './optim';

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit (only committed pages use memory)
/** Default for WasmArena's `fullTablesUpTo`: half the address space, the rest for parameters and buffers. */
export const FULL_TABLES_UP_TO = 2 ** 31;

/**
 * Which views live in one shared WebAssembly memory. Buffer identity cannot tell: V8 hands out
 * a new buffer object for every shared memory of the isolate whenever any of them grows, and
 * each thread has its own objects. So the memory carries a random 128-bit tag in its first 16
 * bytes (never allocated), and a view belongs to it when its buffer starts with the tag
 * (checked once per buffer object).
 */
export class MemoryTag {
  private readonly tag: Uint32Array;
  private readonly known = new WeakMap<ArrayBufferLike, boolean>();

  constructor(memory: WasmMemory) {
    this.tag = new Uint32Array(memory.buffer, 0, 4).slice();
  }

  owns(v: ArrayBufferView): boolean {
    const b = v.buffer;
    let k = this.known.get(b);
    if (k === undefined) {
      k = b instanceof SharedArrayBuffer && b.byteLength >= 16;
      if (k) {
        const head = new Uint32Array(b, 0, 4);
        for (let i = 0; i < 4; i++) if (head[i] !== this.tag[i]) k = false;
      }
      this.known.set(b, k);
    }
    return k;
  }
}

/**
 * `n` rounded up to a multiple of `align`, in float arithmetic: exact for offsets up to 2^53.
 * (The 32-bit form `(n + a - 1) & ~(a - 1)` turns offsets past 2 GiB negative, which broke
 * training tables beyond 2 GiB of arena: the 100M-interaction point of bench:scale.)
 */
export const alignUp = (n: number, align: number): number => Math.ceil(n / align) * align;

/**
 * A shared WebAssembly memory with a bump allocator: tables allocated here can be read and
 * written by the wasm kernels (step.wat, spmm.wat) of every thread that received the memory.
 * It grows on demand (a shared memory's views stay valid when it grows).
 */
export class WasmArena {
  readonly memory: WasmMemory;
  private top = 16; // bytes 0-15 hold the tag; offset 0 also reads as "no array" in the kernels
  private readonly tag: MemoryTag;

  constructor(
    bytes = PAGE,
    /**
     * A table goes into the arena whole (parameters, gradient, Adam moments, the wasm update's
     * scratch: ~16 bytes per element) while the arena stays within this many bytes; past it only
     * its parameters do (4 bytes per element), so that 4 GiB holds the embeddings of ~1 billion
     * elements (100M interactions at dim 64 need 7.4 GB whole, 1.8 GB of parameters).
     */
    readonly fullTablesUpTo = FULL_TABLES_UP_TO,
  ) {
    const pages = Math.ceil((bytes + 16) / PAGE);
    if (pages > MAX_PAGES) throw new Error(`wasm arena of ${bytes} bytes exceeds 4 GiB`);
    this.memory = new wasm.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
    crypto.getRandomValues(new Uint32Array(this.memory.buffer, 0, 4));
    this.tag = new MemoryTag(this.memory);
  }

  private take(bytes: number, align = 16): number {
    const off = alignUp(this.top, align);
    const end = off + bytes;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) throw new Error(`wasm arena exhausted: ${end} bytes exceed 4 GiB`);
      this.memory.grow(pages);
    }
    this.top = end;
    return off;
  }

  // take() first: it may grow the memory and replace its buffer object
  f32(len: number): Float32Array {
    const off = this.take(len * 4);
    return new Float32Array(this.memory.buffer, off, len);
  }
  f64(len: number): Float64Array {
    const off = this.take(len * 8);
    return new Float64Array(this.memory.buffer, off, len);
  }
  u32(len: number): Uint32Array {
    const off = this.take(len * 4);
    return new Uint32Array(this.memory.buffer, off, len);
  }
  i32(len: number): Int32Array {
    const off = this.take(len * 4);
    return new Int32Array(this.memory.buffer, off, len);
  }

  /**
   * Storage for a ParamTable. Whole in the arena, with the optimiser's per-slot scratch
   * (step.wat adam), while that keeps the arena within `fullTablesUpTo`. Otherwise a large
   * table: its parameters in the arena (the gathers, LightGCN's propagation and the scoring
   * read them in wasm), its gradient, moments and row bookkeeping in ordinary shared memory,
   * so the JS update path runs it (ParamTable.wasmReady is false without `fac`), on both
   * threads, and the provenance's `optimizer-update` names the table as updated in js.
   */
  tableArrays(rows: number, width: number): SharedTableArrays {
    const n = rows * width;
    const whole = 16 * n + 48 * rows + 6 * 16; // data, grad, m, v; last, touched, fac (8), exact (2); alignment
    if (this.top + whole > this.fullTablesUpTo) {
      return { data: this.f32(n), grad: sharedF32(n), m: sharedF32(n), v: sharedF32(n), last: new Int32Array(new SharedArrayBuffer(rows * 4)), touched: sharedU32(rows) };
    }
    return { data: this.f32(n), grad: this.f32(n), m: this.f32(n), v: this.f32(n), last: this.i32(rows), touched: this.u32(rows), fac: this.f32(8 * rows), exact: this.u32(2 * rows) };
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
    return this.tag.owns(v);
  }
}
