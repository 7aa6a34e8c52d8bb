import { describe, expect, it } from 'vitest';
import { Rng } from '@robustrec/core';
import { GemmWorkspace, gemmJs, transposeInto } from '../src';

/**
 * gemm.wat against its JS form (gemmJs: the same sums, f32 rounding after each multiply and
 * add, in the same order), bit for bit, over widths that take the 16-column blocks, the
 * 4-column tail and both, row-major and transposed A, overwrite and accumulate; and gemmJs
 * itself against a plain double-precision product.
 */
const rand = (rng: Rng, n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());

describe('GemmWorkspace (gemm.wat) vs gemmJs, bit for bit', () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 4],
    [5, 7, 16],
    [3, 64, 20],
    [9, 33, 32],
    [17, 64, 64],
    [256, 64, 64],
  ];
  for (const [R, T, N] of shapes)
    for (const accumulate of [false, true])
      it(`R ${R} T ${T} N ${N}, ${accumulate ? 'accumulating' : 'overwriting'}: A·B and Aᵀ·B`, () => {
        const rng = new Rng(R * 1000 + T * 10 + N);
        const ws = new GemmWorkspace(4 * (R * T + T * N + 2 * R * N) + 1024);
        // A·B: A [R × T], padded rows (ld T + 3) so the stride is exercised
        const a = ws.mat(R, T + 3), b = ws.mat(T, N), c = ws.mat(R, N);
        a.data.set(rand(rng, a.data.length));
        b.data.set(rand(rng, b.data.length));
        const c0 = rand(rng, R * N);
        c.data.set(c0);
        const want = c0.slice();
        gemmJs(a.data, a.ld, 1, b.data, b.ld, want, N, R, T, N, accumulate);
        ws.mul(a, b, c, R, T, N, accumulate);
        expect(Array.from(c.data)).toEqual(Array.from(want));
        // Aᵀ·B: A [T × R] read transposed
        const at = ws.mat(T, R), ct = ws.mat(R, N);
        at.data.set(rand(rng, at.data.length));
        ct.data.set(c0);
        const wantT = c0.slice();
        gemmJs(at.data, 1, at.ld, b.data, b.ld, wantT, N, R, T, N, accumulate);
        ws.mulTn(at, b, ct, R, T, N, accumulate);
        expect(Array.from(ct.data)).toEqual(Array.from(wantT));
      });

  it('gemmJs is the product (against doubles), and widths off the SIMD lanes take it', () => {
    const rng = new Rng(3);
    const [R, T, N] = [6, 11, 7];
    const ws = new GemmWorkspace(4096);
    const a = ws.mat(R, T), b = ws.mat(T, N), c = ws.mat(R, N);
    a.data.set(rand(rng, R * T));
    b.data.set(rand(rng, T * N));
    ws.mul(a, b, c, R, T, N);
    const bt = new Float32Array(T * N);
    transposeInto(b.data, T, N, bt);
    for (let r = 0; r < R; r++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let t = 0; t < T; t++) s += a.data[r * T + t]! * bt[n * T + t]!;
        expect(Math.abs(c.data[r * N + n]! - s)).toBeLessThan(1e-5 * (1 + Math.abs(s)));
      }
  });

  it('refuses operands that are not its own views, and requests past its capacity', () => {
    const ws = new GemmWorkspace(64);
    const a = ws.mat(2, 4);
    expect(() => ws.mul({ data: new Float32Array(8), ld: 4 }, a, a, 2, 2, 4)).toThrow(/not a view of this workspace/);
    expect(() => ws.floats(1e6)).toThrow(/exceed the workspace/);
  });
});
