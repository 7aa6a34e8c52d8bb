/**
 * Compressed sparse rows: the one in-memory representation of interaction matrices
 * (rows = users, columns = items). Column indices within a row are sorted and unique.
 */
export interface Csr {
  readonly numRows: number;
  readonly numCols: number;
  /** Length numRows + 1; row r holds indices[indptr[r] .. indptr[r+1]). */
  readonly indptr: Uint32Array;
  readonly indices: Uint32Array;
}

export const nnz = (m: Csr): number => m.indptr[m.numRows]!;

export const rowOf = (m: Csr, r: number): Uint32Array => m.indices.subarray(m.indptr[r]!, m.indptr[r + 1]!);

export function emptyCsr(numRows: number, numCols: number): Csr {
  return { numRows, numCols, indptr: new Uint32Array(numRows + 1), indices: new Uint32Array(0) };
}

/** Builds a CSR from (row, col) pairs; duplicates are removed, rows sorted. */
export function csrFromPairs(numRows: number, numCols: number, rows: ArrayLike<number>, cols: ArrayLike<number>): Csr {
  const n = rows.length;
  const counts = new Uint32Array(numRows + 1);
  for (let i = 0; i < n; i++) counts[rows[i]! + 1]!++;
  for (let r = 0; r < numRows; r++) counts[r + 1]! += counts[r]!;
  const fill = counts.slice(0, numRows);
  const tmp = new Uint32Array(n);
  for (let i = 0; i < n; i++) tmp[fill[rows[i]!]!++] = cols[i]!;
  // sort and dedupe each row, compacting in place
  const indptr = new Uint32Array(numRows + 1);
  let w = 0;
  for (let r = 0; r < numRows; r++) {
    const row = tmp.subarray(counts[r]!, counts[r + 1]!).sort();
    indptr[r] = w;
    for (let i = 0; i < row.length; i++) if (i === 0 || row[i] !== row[i - 1]) tmp[w++] = row[i]!;
  }
  indptr[numRows] = w;
  return { numRows, numCols, indptr, indices: tmp.slice(0, w) };
}

/** Builds a CSR from each row's column list (rows not named are empty): small, hand-written matrices. */
export function csrFromRows(numRows: number, numCols: number, rows: Record<number, ArrayLike<number>>): Csr {
  const r: number[] = [];
  const c: number[] = [];
  for (const [row, cols] of Object.entries(rows)) for (let i = 0; i < cols.length; i++) (r.push(Number(row)), c.push(cols[i]!));
  return csrFromPairs(numRows, numCols, r, c);
}

/** Row-wise union of CSR matrices with the same shape. */
export function csrUnion(...ms: Csr[]): Csr {
  const first = ms[0]!;
  const rows: number[] = [];
  const cols: number[] = [];
  for (const m of ms)
    for (let r = 0; r < m.numRows; r++)
      for (let p = m.indptr[r]!; p < m.indptr[r + 1]!; p++) {
        rows.push(r);
        cols.push(m.indices[p]!);
      }
  return csrFromPairs(first.numRows, first.numCols, rows, cols);
}

/** Transpose (items × users). */
export function csrTranspose(m: Csr): Csr {
  const counts = new Uint32Array(m.numCols + 1);
  for (let p = 0; p < m.indices.length; p++) counts[m.indices[p]! + 1]!++;
  for (let c = 0; c < m.numCols; c++) counts[c + 1]! += counts[c]!;
  const fill = counts.slice(0, m.numCols);
  const indices = new Uint32Array(m.indices.length);
  for (let r = 0; r < m.numRows; r++)
    for (let p = m.indptr[r]!; p < m.indptr[r + 1]!; p++) indices[fill[m.indices[p]!]!++] = r;
  return { numRows: m.numCols, numCols: m.numRows, indptr: counts, indices };
}

/** Whether row r contains column c (binary search). */
export function csrHas(m: Csr, r: number, c: number): boolean {
  let lo = m.indptr[r]!;
  let hi = m.indptr[r + 1]!;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = m.indices[mid]!;
    if (v === c) return true;
    if (v < c) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

/** Number of entries per column. */
export function columnCounts(m: Csr, rowLimit = m.numRows): Uint32Array {
  const out = new Uint32Array(m.numCols);
  const end = m.indptr[rowLimit]!;
  for (let p = 0; p < end; p++) out[m.indices[p]!]!++;
  return out;
}
