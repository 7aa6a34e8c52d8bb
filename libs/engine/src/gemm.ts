import { wasm, wasmModule, type WasmMemory } from '@robustrec/core';

// gemm.wat beside this file (compiled to gen/gemm.wasm at build time)
const GEMM_WASM = new URL('./gen/gemm.wasm', import.meta.url);

type GemmFn = (aOff: number, ars: number, ats: number, bOff: number, ldb: number, cOff: number, ldc: number, R: number, T: number, N: number, accumulate: number) => void;

/** A matrix operand: a view into a Workspace's memory and its row stride (floats). */
export interface Mat {
  data: Float32Array;
  ld: number;
}

/**
 * Dense products for the batched heads that are not dot products (NeuMF's MLP): a fixed-size,
 * thread-local WebAssembly memory holding the operands (`floats` hands out views into it; the
 * memory never grows, so the views stay valid), and
 *
 *   C (+)= A·B   (mul)        C (+)= Aᵀ·B   (mulTn, the weight gradients Xᵀ·dZ)
 *
 * with row-major A, B, C, all views of this workspace. gemm.wat runs them in SIMD when the
 * output width is a multiple of 4; other widths run the same sums in JS. Either way each output
 * is summed over the inner index in order, in f32 (one rounding per multiply and per add).
 */
export class GemmWorkspace {
  private readonly memory: WasmMemory;
  private readonly fn: GemmFn;
  private top = 0;

  /** Room for `capacity` floats in all (each view is rounded up to 16 bytes). */
  constructor(readonly capacity: number) {
    const bytes = capacity * 4 + 16 * 64;
    this.memory = new wasm.Memory({ initial: Math.ceil(bytes / 65536) + 1 });
    this.fn = new wasm.Instance(wasmModule(GEMM_WASM), { env: { mem: this.memory } }).exports.gemm as GemmFn;
  }

  /** A zeroed view of n floats in the workspace. */
  floats(n: number): Float32Array {
    const off = this.top;
    const end = off + Math.ceil((n * 4) / 16) * 16;
    if (end > this.memory.buffer.byteLength) throw new Error(`GemmWorkspace: ${n} floats exceed the workspace (${this.capacity} floats)`);
    this.top = end;
    return new Float32Array(this.memory.buffer, off, n);
  }

  /** A matrix of `rows` × `cols` floats (row stride cols). */
  mat(rows: number, cols: number): Mat {
    return { data: this.floats(rows * cols), ld: cols };
  }

  private own(m: Mat): number {
    if (m.data.buffer !== this.memory.buffer) throw new Error('GemmWorkspace: operand is not a view of this workspace');
    return m.data.byteOffset;
  }

  /** C[0..R) (+)= A[0..R) · B[0..T), N output columns. */
  mul(a: Mat, b: Mat, c: Mat, R: number, T: number, N: number, accumulate = false): void {
    this.run(a, a.ld, 1, b, c, R, T, N, accumulate);
  }

  /** C[0..R) (+)= Aᵀ · B with A of T rows × R columns (C has R rows, B has T rows). */
  mulTn(a: Mat, b: Mat, c: Mat, R: number, T: number, N: number, accumulate = false): void {
    this.run(a, 1, a.ld, b, c, R, T, N, accumulate);
  }

  private run(a: Mat, ars: number, ats: number, b: Mat, c: Mat, R: number, T: number, N: number, accumulate: boolean): void {
    if (N % 4 === 0) {
      this.fn(this.own(a), ars, ats, this.own(b), b.ld, this.own(c), c.ld, R, T, N, accumulate ? 1 : 0);
      return;
    }
    gemmJs(a.data, ars, ats, b.data, b.ld, c.data, c.ld, R, T, N, accumulate);
  }
}

/** gemm.wat's sums in JS (f32 rounding after every multiply and add), for any width. */
export function gemmJs(A: Float32Array, ars: number, ats: number, B: Float32Array, ldb: number, C: Float32Array, ldc: number, R: number, T: number, N: number, accumulate: boolean): void {
  const f = Math.fround;
  for (let r = 0; r < R; r++)
    for (let c = 0; c < N; c++) {
      let s = accumulate ? C[r * ldc + c] : 0;
      for (let t = 0; t < T; t++) s = f(s + f(A[r * ars + t * ats] * B[t * ldb + c]));
      C[r * ldc + c] = s;
    }
}

/** out[c·rows + r] = m[r·cols + c]: the transpose of a rows × cols row-major matrix. */
export function transposeInto(m: Float32Array, rows: number, cols: number, out: Float32Array): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
}
