/**
 * Sparse propagation for graph backbones (LightGCN): the symmetric-normalised bipartite
 * adjacency Â = D^{-1/2} A D^{-1/2} over N = users + items nodes, stored once as CSR with
 * float32 values, and the products Â·X over row-major [N × width] tables.
 */
import type { Csr } from '@robustrec/core';

export interface WeightedCsr {
  readonly numRows: number;
  readonly indptr: Uint32Array;
  readonly indices: Uint32Array;
  readonly values: Float32Array;
}

/** Â for the user–item interactions R (users × items): node ids are users, then numUsers + item. */
export function normalizedAdjacency(r: Csr): WeightedCsr {
  const nu = r.numRows;
  const ni = r.numCols;
  const n = nu + ni;
  const deg = new Float64Array(n);
  for (let u = 0; u < nu; u++) {
    deg[u] = r.indptr[u + 1] - r.indptr[u];
    for (let p = r.indptr[u]; p < r.indptr[u + 1]; p++) deg[nu + r.indices[p]]++;
  }
  const indptr = new Uint32Array(n + 1);
  for (let i = 0; i < n; i++) indptr[i + 1] = indptr[i] + deg[i];
  const nnz = indptr[n];
  const indices = new Uint32Array(nnz);
  const values = new Float32Array(nnz);
  const fill = indptr.slice(0, n);
  const dis = deg.map((d) => (d > 0 ? 1 / Math.sqrt(d) : 0));
  // users in increasing order, so each item's row lists its users sorted
  for (let u = 0; u < nu; u++)
    for (let p = r.indptr[u]; p < r.indptr[u + 1]; p++) {
      const it = nu + r.indices[p];
      const w = dis[u] * dis[it];
      indices[fill[u]] = it;
      values[fill[u]++] = w;
      indices[fill[it]] = u;
      values[fill[it]++] = w;
    }
  return { numRows: n, indptr, indices, values };
}

/**
 * out = Â·x for rows [rowStart, rowEnd) (pull form: each output row written once, in order),
 * and acc += out when acc is given. For widths that are a multiple of 8 the row is built in
 * blocks of 8 register accumulators (V8 keeps scalars in registers, not typed-array slots),
 * ~2–3× faster than accumulating into the output array per non-zero.
 */
export function spmm(a: WeightedCsr, x: Float32Array, width: number, out: Float32Array, rowStart = 0, rowEnd = a.numRows, acc?: Float32Array): void {
  const { indptr, indices, values } = a;
  if (width % 8 !== 0) {
    for (let r = rowStart; r < rowEnd; r++) {
      const o = r * width;
      out.fill(0, o, o + width);
      for (let p = indptr[r]; p < indptr[r + 1]; p++) {
        const s = indices[p] * width;
        const w = values[p];
        for (let k = 0; k < width; k++) out[o + k] += w * x[s + k];
      }
      if (acc) for (let k = o; k < o + width; k++) acc[k] += out[k];
    }
    return;
  }
  for (let r = rowStart; r < rowEnd; r++) blockedRow(a, x, width, r, out, r * width, acc);
}

/** Row r of Â·x into out[outOff…] (and acc[outOff…] += it), 8 register accumulators per block. */
function blockedRow(a: WeightedCsr, x: Float32Array, width: number, r: number, out: Float32Array, outOff: number, acc?: Float32Array): void {
  const { indptr, indices, values } = a;
  const p0 = indptr[r];
  const p1 = indptr[r + 1];
  for (let kb = 0; kb < width; kb += 8) {
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (let p = p0; p < p1; p++) {
      const s = indices[p] * width + kb;
      const w = values[p];
      a0 += w * x[s];
      a1 += w * x[s + 1];
      a2 += w * x[s + 2];
      a3 += w * x[s + 3];
      a4 += w * x[s + 4];
      a5 += w * x[s + 5];
      a6 += w * x[s + 6];
      a7 += w * x[s + 7];
    }
    const q = outOff + kb;
    out[q] = a0;
    out[q + 1] = a1;
    out[q + 2] = a2;
    out[q + 3] = a3;
    out[q + 4] = a4;
    out[q + 5] = a5;
    out[q + 6] = a6;
    out[q + 7] = a7;
    if (acc) for (let k = q; k < q + 8; k++) acc[k] += out[k];
  }
}

/**
 * out += Â·x where x is non-zero only on the listed rows (push form; Â is symmetric, so row
 * r's entries are also column r's). Cost: the degrees of those rows, not the whole graph.
 */
export function spmmSparseInput(a: WeightedCsr, x: Float32Array, width: number, rows: Uint32Array, nRows: number, out: Float32Array): void {
  const { indptr, indices, values } = a;
  if (width % 8 === 0) {
    // the source row's 8 columns held in registers across its non-zeros: 8 loads + 8 stores
    // per non-zero instead of 16 + 8; each output element receives its terms in the same order
    for (let q = 0; q < nRows; q++) {
      const r = rows[q];
      const p0 = indptr[r];
      const p1 = indptr[r + 1];
      for (let kb = 0; kb < width; kb += 8) {
        const s = r * width + kb;
        const x0 = x[s], x1 = x[s + 1], x2 = x[s + 2], x3 = x[s + 3], x4 = x[s + 4], x5 = x[s + 5], x6 = x[s + 6], x7 = x[s + 7];
        for (let p = p0; p < p1; p++) {
          const o = indices[p] * width + kb;
          const w = values[p];
          out[o] += w * x0;
          out[o + 1] += w * x1;
          out[o + 2] += w * x2;
          out[o + 3] += w * x3;
          out[o + 4] += w * x4;
          out[o + 5] += w * x5;
          out[o + 6] += w * x6;
          out[o + 7] += w * x7;
        }
      }
    }
    return;
  }
  for (let q = 0; q < nRows; q++) {
    const r = rows[q];
    const s = r * width;
    for (let p = indptr[r]; p < indptr[r + 1]; p++) {
      const o = indices[p] * width;
      const w = values[p];
      for (let k = 0; k < width; k++) out[o + k] += w * x[s + k];
    }
  }
}

/** Row r of Â·x only, into out at offset outOff (blocked like spmm when width % 8 == 0). */
export function spmmRow(a: WeightedCsr, x: Float32Array, width: number, r: number, out: Float32Array, outOff: number): void {
  const { indptr, indices, values } = a;
  const p0 = indptr[r];
  const p1 = indptr[r + 1];
  if (width % 8 !== 0) {
    out.fill(0, outOff, outOff + width);
    for (let p = p0; p < p1; p++) {
      const s = indices[p] * width;
      const w = values[p];
      for (let k = 0; k < width; k++) out[outOff + k] += w * x[s + k];
    }
    return;
  }
  blockedRow(a, x, width, r, out, outOff);
}
