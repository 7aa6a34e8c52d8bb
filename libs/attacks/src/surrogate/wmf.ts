import { csrTranspose, type Csr } from '@robustrec/core';

/**
 * Weighted matrix factorisation surrogate for the Rev attack, written so that it never
 * materialises a users x items matrix: the loss over all zeros, w0 * sum_{u,i} s_ui^2, is
 * computed through d x d Gram matrices (w0 * tr(G_U G_V)), and fake users' soft
 * interactions are kept only over a candidate item set. Memory is O((users + items) d +
 * fakeUsers * candidates), a few tens of MB on Gowalla.
 *
 * Loss(theta, X) = sum_{real (u,i)} l(s_ui) + sum_{f,c} x_fc l(s_fc) + w0 tr(G_U G_V)
 *                  + reg (|U|^2 + |V|^2),   l(s) = w1 (1 - s)^2 - w0 s^2.
 */
export interface WmfProblem {
  /** Genuine training interactions (rows = genuine users). */
  train: Csr;
  trainT: Csr;
  numItems: number;
  numFake: number;
  /** Candidate item ids; X is numFake x candidates.length. */
  candidates: Uint32Array;
  dim: number;
  w1: number;
  w0: number;
  reg: number;
}

export interface Theta {
  U: Float32Array; // (genuine + fake) x dim; fake rows last
  V: Float32Array; // items x dim
}

export function makeProblem(train: Csr, numItems: number, numFake: number, candidates: Uint32Array, dim: number, w1: number, w0: number, reg: number): WmfProblem {
  return { train, trainT: csrTranspose(train), numItems, numFake, candidates, dim, w1, w0, reg };
}

const lossGrad = (w1: number, w0: number, s: number): number => -2 * w1 * (1 - s) - 2 * w0 * s;

function gram(A: Float32Array, rows: number, d: number): Float64Array {
  const G = new Float64Array(d * d);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    for (let a = 0; a < d; a++) {
      const x = A[o + a]!;
      for (let b = a; b < d; b++) G[a * d + b]! += x * A[o + b]!;
    }
  }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) G[a * d + b] = G[b * d + a]!;
  return G;
}

const dot = (A: Float32Array, a: number, B: Float32Array, b: number, d: number): number => {
  let s = 0;
  for (let k = 0; k < d; k++) s += A[a + k]! * B[b + k]!;
  return s;
};

/** Gradient of the WMF loss with respect to (U, V). */
export function gradient(p: WmfProblem, th: Theta, X: Float32Array): Theta {
  const { train, dim: d, w1, w0, reg, candidates: C, numFake } = p;
  const nG = train.numRows;
  const nU = nG + numFake;
  const { U, V } = th;
  const gU = new Float32Array(U.length);
  const gV = new Float32Array(V.length);
  for (let u = 0; u < nG; u++)
    for (let q = train.indptr[u]!; q < train.indptr[u + 1]!; q++) {
      const i = train.indices[q]!;
      const h = lossGrad(w1, w0, dot(U, u * d, V, i * d, d));
      for (let k = 0; k < d; k++) {
        gU[u * d + k]! += h * V[i * d + k]!;
        gV[i * d + k]! += h * U[u * d + k]!;
      }
    }
  for (let f = 0; f < numFake; f++) {
    const uo = (nG + f) * d;
    for (let c = 0; c < C.length; c++) {
      const x = X[f * C.length + c]!;
      if (x === 0) continue;
      const io = C[c]! * d;
      const h = x * lossGrad(w1, w0, dot(U, uo, V, io, d));
      for (let k = 0; k < d; k++) {
        gU[uo + k]! += h * V[io + k]!;
        gV[io + k]! += h * U[uo + k]!;
      }
    }
  }
  addGramTerm(gU, U, nU, gram(V, p.numItems, d), d, 2 * w0, 2 * reg);
  addGramTerm(gV, V, p.numItems, gram(U, nU, d), d, 2 * w0, 2 * reg);
  return { U: gU, V: gV };
}

/** g += a * A G + b * A (the all-zeros term and the L2 term). */
function addGramTerm(g: Float32Array, A: Float32Array, rows: number, G: Float64Array, d: number, a: number, b: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    for (let k = 0; k < d; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += A[o + j]! * G[j * d + k]!;
      g[o + k]! += a * s + b * A[o + k]!;
    }
  }
}

/**
 * d/dX <grad_theta L(theta, X), lam>: only the fake soft-interaction term depends on X,
 * giving l'(s_fc) (lamU_f . v_c + u_f . lamV_c).
 */
export function mixedGradient(p: WmfProblem, th: Theta, lam: Theta, out: Float32Array, scale: number): void {
  const { dim: d, w1, w0, candidates: C, numFake } = p;
  const nG = p.train.numRows;
  for (let f = 0; f < numFake; f++) {
    const uo = (nG + f) * d;
    for (let c = 0; c < C.length; c++) {
      const io = C[c]! * d;
      const h = lossGrad(w1, w0, dot(th.U, uo, th.V, io, d));
      out[f * C.length + c]! += scale * h * (dot(lam.U, uo, th.V, io, d) + dot(th.U, uo, lam.V, io, d));
    }
  }
}

/** Hessian-vector product by central differences of the analytic gradient. */
export function hessianVector(p: WmfProblem, th: Theta, v: Theta, X: Float32Array): Theta {
  const eps = 1e-2 * Math.sqrt(meanSq(th.U) + meanSq(th.V)) / Math.max(1e-12, Math.sqrt(meanSq(v.U) + meanSq(v.V)));
  const plus = gradient(p, axpy(th, v, eps), X);
  const minus = gradient(p, axpy(th, v, -eps), X);
  const U = new Float32Array(th.U.length);
  const V = new Float32Array(th.V.length);
  for (let i = 0; i < U.length; i++) U[i] = (plus.U[i]! - minus.U[i]!) / (2 * eps);
  for (let i = 0; i < V.length; i++) V[i] = (plus.V[i]! - minus.V[i]!) / (2 * eps);
  return { U, V };
}

const meanSq = (a: Float32Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return s / Math.max(1, a.length);
};

/** th + a * v (new arrays). */
export function axpy(th: Theta, v: Theta, a: number): Theta {
  const U = Float32Array.from(th.U);
  const V = Float32Array.from(th.V);
  for (let i = 0; i < U.length; i++) U[i]! += a * v.U[i]!;
  for (let i = 0; i < V.length; i++) V[i]! += a * v.V[i]!;
  return { U, V };
}

export const norm = (t: Theta): number => Math.sqrt(meanSq(t.U) * t.U.length + meanSq(t.V) * t.V.length);

/** Largest Hessian eigenvalue (power iteration), for a stable unrolled step size. */
export function largestCurvature(p: WmfProblem, th: Theta, X: Float32Array, iters: number, seed: Theta): number {
  let v = seed;
  let lambda = 1;
  for (let it = 0; it < iters; it++) {
    const n = norm(v);
    v = axpy({ U: new Float32Array(v.U.length), V: new Float32Array(v.V.length) }, v, 1 / n);
    const hv = hessianVector(p, th, v, X);
    lambda = norm(hv);
    v = hv;
  }
  return lambda;
}

/** One ALS sweep (users, then items): exact row minimisers of the loss for fixed X. */
export function alsSweep(p: WmfProblem, th: Theta, X: Float32Array): void {
  const { train, trainT, dim: d, w1, w0, reg, candidates: C, numFake } = p;
  const nG = train.numRows;
  const nU = nG + numFake;
  const A = new Float64Array(d * d);
  const b = new Float64Array(d);
  const solveRow = (out: Float32Array, row: number, base: Float64Array, add: (acc: (vec: Float32Array, off: number, wq: number, wl: number) => void) => void): void => {
    A.set(base);
    b.fill(0);
    add((vec, off, wq, wl) => {
      for (let a = 0; a < d; a++) {
        const xa = vec[off + a]!;
        b[a]! += wl * xa;
        for (let c2 = a; c2 < d; c2++) A[a * d + c2]! += wq * xa * vec[off + c2]!;
      }
    });
    for (let a = 0; a < d; a++) for (let c2 = 0; c2 < a; c2++) A[a * d + c2] = A[c2 * d + a]!;
    cholSolve(A, b, d);
    for (let k = 0; k < d; k++) out[row * d + k] = b[k]!;
  };
  const base = (G: Float64Array): Float64Array => {
    const B = new Float64Array(d * d);
    for (let i = 0; i < d * d; i++) B[i] = w0 * G[i]!;
    for (let k = 0; k < d; k++) B[k * d + k]! += reg;
    return B;
  };
  // users
  const bu = base(gram(th.V, p.numItems, d));
  for (let u = 0; u < nG; u++)
    solveRow(th.U, u, bu, (acc) => {
      for (let q = train.indptr[u]!; q < train.indptr[u + 1]!; q++) acc(th.V, train.indices[q]! * d, w1 - w0, w1);
    });
  for (let f = 0; f < numFake; f++)
    solveRow(th.U, nG + f, bu, (acc) => {
      for (let c = 0; c < C.length; c++) {
        const x = X[f * C.length + c]!;
        if (x > 0) acc(th.V, C[c]! * d, x * (w1 - w0), x * w1);
      }
    });
  // items (fake users' soft interactions through the candidate index)
  const candIndex = new Int32Array(p.numItems).fill(-1);
  C.forEach((i, c) => (candIndex[i] = c));
  const bi = base(gram(th.U, nU, d));
  for (let i = 0; i < p.numItems; i++)
    solveRow(th.V, i, bi, (acc) => {
      for (let q = trainT.indptr[i]!; q < trainT.indptr[i + 1]!; q++) acc(th.U, trainT.indices[q]! * d, w1 - w0, w1);
      const c = candIndex[i]!;
      if (c >= 0)
        for (let f = 0; f < numFake; f++) {
          const x = X[f * C.length + c]!;
          if (x > 0) acc(th.U, (nG + f) * d, x * (w1 - w0), x * w1);
        }
    });
}

/** Solves A x = b in place (b <- x) for symmetric positive definite A (Cholesky). */
function cholSolve(A: Float64Array, b: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) {
    let s = A[j * n + j]!;
    for (let k = 0; k < j; k++) s -= A[j * n + k]! * A[j * n + k]!;
    const l = Math.sqrt(Math.max(s, 1e-12));
    A[j * n + j] = l;
    for (let i = j + 1; i < n; i++) {
      let t = A[i * n + j]!;
      for (let k = 0; k < j; k++) t -= A[i * n + k]! * A[j * n + k]!;
      A[i * n + j] = t / l;
    }
  }
  for (let i = 0; i < n; i++) {
    let t = b[i]!;
    for (let k = 0; k < i; k++) t -= A[i * n + k]! * b[k]!;
    b[i] = t / A[i * n + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let t = b[i]!;
    for (let k = i + 1; k < n; k++) t -= A[k * n + i]! * b[k]!;
    b[i] = t / A[i * n + i]!;
  }
}

/** The WMF loss itself (for tests and diagnostics; training uses ALS and `gradient`). */
export function loss(p: WmfProblem, th: Theta, X: Float32Array): number {
  const { train, dim: d, w1, w0, reg, candidates: C, numFake } = p;
  const nG = train.numRows;
  const l = (s: number): number => w1 * (1 - s) ** 2 - w0 * s * s;
  let total = 0;
  for (let u = 0; u < nG; u++)
    for (let q = train.indptr[u]!; q < train.indptr[u + 1]!; q++) total += l(dot(th.U, u * d, th.V, train.indices[q]! * d, d));
  for (let f = 0; f < numFake; f++)
    for (let c = 0; c < C.length; c++) total += X[f * C.length + c]! * l(dot(th.U, (nG + f) * d, th.V, C[c]! * d, d));
  const GU = gram(th.U, nG + numFake, d);
  const GV = gram(th.V, p.numItems, d);
  for (let i = 0; i < d * d; i++) total += w0 * GU[i]! * GV[i]!;
  return total + reg * (meanSq(th.U) * th.U.length + meanSq(th.V) * th.V.length);
}
