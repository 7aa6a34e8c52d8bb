/**
 * Dot-product score kernel: a hand-assembled WebAssembly SIMD (f32x4) micro-kernel that
 * computes a 4-user × 8-item register block over the embedding dimension, with the item
 * table packed into 8-item panels ([panel][dim][8]) so each step is two aligned loads.
 * Users are processed in blocks of BLOCK and items in cache-sized chunks of panels, so a
 * chunk of the item table stays in L2 while every user of the block passes over it.
 *
 * Arithmetic is f32 multiply then f32 add, dimension by dimension, for every (user, item)
 * pair independently: results are bit-identical to `scalarScore` whatever the blocking
 * or thread split (deterministic evaluation).
 */

import { op, wasm, wasmModuleBytes } from '@robustrec/core';

/** Users per block (multiple of 4). */
export const BLOCK = 64;

const { BLOCK: BLOCK_, LOOP, END, BR, BR_IF, get, set, tee, i32c, I32_ADD, I32_SUB, I32_MUL, I32_SHL, I32_GE_U, V128_LOAD, V128_LOAD32_SPLAT, V128_STORE, V128_ZERO, F32X4_ADD, F32X4_MUL } = op;

/** score(itemOff, userOff, outOff, nQuads, p0, p1, dim, strideBytes) */
function buildModule(): Uint8Array {
  const [itemOff, userOff, outOff, nQuads, p0, p1, dim, stride] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [q, p, d, ip, up, outp] = [8, 9, 10, 11, 12, 13];
  const acc = (k: number): number => 14 + k;
  const [a, b, u] = [22, 23, 24];
  const code: number[] = [
    ...i32c(0), ...set(q),
    ...BLOCK_, ...LOOP,
    ...get(q), ...get(nQuads), I32_GE_U, BR_IF, 1,
    ...get(p0), ...set(p),
    ...BLOCK_, ...LOOP,
    ...get(p), ...get(p1), I32_GE_U, BR_IF, 1,
    ...[0, 1, 2, 3, 4, 5, 6, 7].flatMap((k) => [...V128_ZERO, ...set(acc(k))]),
    ...get(itemOff), ...get(p), ...get(dim), I32_MUL, ...i32c(5), I32_SHL, I32_ADD, ...set(ip),
    ...get(userOff), ...get(q), ...get(dim), I32_MUL, ...i32c(4), I32_SHL, I32_ADD, ...set(up),
    ...get(dim), ...set(d),
    ...LOOP,
    ...get(ip), ...V128_LOAD(0), ...set(a),
    ...get(ip), ...V128_LOAD(16), ...set(b),
    ...[0, 1, 2, 3].flatMap((r) => [
      ...get(up), ...V128_LOAD32_SPLAT(r * 4), ...set(u),
      ...get(acc(2 * r)), ...get(u), ...get(a), ...F32X4_MUL, ...F32X4_ADD, ...set(acc(2 * r)),
      ...get(acc(2 * r + 1)), ...get(u), ...get(b), ...F32X4_MUL, ...F32X4_ADD, ...set(acc(2 * r + 1)),
    ]),
    ...get(ip), ...i32c(32), I32_ADD, ...set(ip),
    ...get(up), ...i32c(16), I32_ADD, ...set(up),
    ...get(d), ...i32c(1), I32_SUB, ...tee(d), BR_IF, 0,
    END,
    ...get(outOff), ...get(q), ...i32c(2), I32_SHL, ...get(stride), I32_MUL, I32_ADD, ...get(p), ...i32c(5), I32_SHL, I32_ADD, ...set(outp),
    ...[0, 1, 2, 3].flatMap((r) => [
      ...get(outp), ...get(acc(2 * r)), ...V128_STORE(0),
      ...get(outp), ...get(acc(2 * r + 1)), ...V128_STORE(16),
      ...(r < 3 ? [...get(outp), ...get(stride), I32_ADD, ...set(outp)] : []),
    ]),
    ...get(p), ...i32c(1), I32_ADD, ...set(p),
    BR, 0,
    END, END,
    ...get(q), ...i32c(1), I32_ADD, ...set(q),
    BR, 0,
    END, END,
  ];
  return wasmModuleBytes('score', 8, [[6, 0x7f], [11, 0x7b]], code, { shared: false });
}

let compiled: object | undefined;
function wasmModule(): object {
  compiled ??= new wasm.Module(buildModule());
  return compiled;
}

type ScoreFn = (itemOff: number, userOff: number, outOff: number, nQuads: number, p0: number, p1: number, dim: number, stride: number) => void;

/** One kernel instance: its own wasm memory holding the packed item table, a user block and an output block. */
export class DotKernel {
  readonly numPanels: number;
  /** Floats between consecutive users' rows in `rows`. */
  readonly rowStride: number;
  /** Output block: BLOCK rows of rowStride scores (valid: the first numItems of each row). */
  readonly rows: Float32Array;
  private readonly userBlock: Float32Array;
  private readonly score: ScoreFn;
  private readonly itemOff = 0;
  private readonly userOff: number;
  private readonly outOff: number;
  private readonly panelsPerChunk: number;

  constructor(
    itemEmb: Float32Array,
    readonly numItems: number,
    readonly dim: number,
  ) {
    if (!(dim >= 1) || itemEmb.length !== numItems * dim) throw new Error(`item table of ${itemEmb.length} floats does not match ${numItems} × ${dim}`);
    this.numPanels = Math.ceil(numItems / 8);
    this.rowStride = this.numPanels * 8;
    const itemBytes = this.numPanels * dim * 32;
    this.userOff = itemBytes;
    this.outOff = this.userOff + BLOCK * dim * 4;
    const total = this.outOff + BLOCK * this.rowStride * 4;
    const memory = new wasm.Memory({ initial: Math.ceil(total / 65536) });
    const inst = new wasm.Instance(wasmModule(), { env: { mem: memory } });
    this.score = inst.exports.score as ScoreFn;
    // pack items: panel p, dimension d, lane l  <-  item 8p+l, dimension d (zero padding)
    const packed = new Float32Array(memory.buffer, 0, itemBytes / 4);
    for (let i = 0; i < numItems; i++) {
      const base = (i >> 3) * dim * 8 + (i & 7);
      for (let k = 0; k < dim; k++) packed[base + k * 8] = itemEmb[i * dim + k]!;
    }
    this.userBlock = new Float32Array(memory.buffer, this.userOff, BLOCK * dim);
    this.rows = new Float32Array(memory.buffer, this.outOff, BLOCK * this.rowStride);
    // ~128 KiB of packed items per chunk: stays in L2 while the block's users pass over it
    this.panelsPerChunk = Math.max(1, Math.floor(4096 / dim));
  }

  /**
   * Scores `count` (≤ BLOCK) users into `rows` (row r = users[start + r]); user rows come
   * from a row-major user table.
   */
  scoreBlock(userEmb: Float32Array, users: ArrayLike<number>, start: number, count: number): void {
    const dim = this.dim;
    const ub = this.userBlock;
    const nQuads = Math.ceil(count / 4);
    // pack users: quad q, dimension d, lane r  <-  user 4q+r
    ub.fill(0, 0, nQuads * 4 * dim);
    for (let r = 0; r < count; r++) {
      const src = users[start + r]! * dim;
      const base = (r >> 2) * dim * 4 + (r & 3);
      for (let k = 0; k < dim; k++) ub[base + k * 4] = userEmb[src + k]!;
    }
    const stride = this.rowStride * 4;
    for (let p0 = 0; p0 < this.numPanels; p0 += this.panelsPerChunk)
      this.score(this.itemOff, this.userOff, this.outOff, nQuads, p0, Math.min(p0 + this.panelsPerChunk, this.numPanels), dim, stride);
  }
}

/** Reference scalar score with the kernel's exact f32 arithmetic (tests, tiny tables). */
export function scalarScore(userEmb: Float32Array, itemEmb: Float32Array, dim: number, user: number, item: number): number {
  let acc = 0;
  for (let k = 0; k < dim; k++) acc = Math.fround(acc + Math.fround(userEmb[user * dim + k]! * itemEmb[item * dim + k]!));
  return acc;
}
