import { csrHas, type Csr, type Rng } from '@robustrec/core';

/**
 * Compact matrix-factorisation surrogate (Float32Array, analytic BPR gradients, SGD) used by
 * the optimisation attacks. Deliberately independent of the platform's training engine: a
 * black-box attacker trains its own model on the public interactions.
 */
export class Mf {
  readonly U: Float32Array;
  readonly V: Float32Array;

  constructor(
    readonly numUsers: number,
    readonly numItems: number,
    readonly dim: number,
    rng: Rng,
    scale = 0.1,
  ) {
    this.U = Float32Array.from({ length: numUsers * dim }, () => rng.normal() * scale);
    this.V = Float32Array.from({ length: numItems * dim }, () => rng.normal() * scale);
  }

  /** Scores of user u for every item into `out`. */
  scoreAll(u: number, out: Float32Array): Float32Array {
    scoreRow(this.U, u, this.V, this.numItems, this.dim, out);
    return out;
  }

  /**
   * One BPR epoch: as many (user, positive, negative) samples as interactions, the positive
   * drawn uniformly among interactions, the negative by rejection.
   */
  bprEpoch(train: Csr, rng: Rng, lr: number, reg: number): number {
    const { U, V, dim: d } = this;
    const nnz = train.indptr[train.numRows]!;
    const owner = userOfInteraction(train);
    let loss = 0;
    for (let n = 0; n < nnz; n++) {
      const p = rng.int(nnz);
      const u = owner[p]!;
      const i = train.indices[p]!;
      let j = rng.int(this.numItems);
      for (let tries = 0; tries < 20 && csrHas(train, u, j); tries++) j = rng.int(this.numItems);
      const ou = u * d;
      const oi = i * d;
      const oj = j * d;
      let x = 0;
      for (let k = 0; k < d; k++) x += U[ou + k]! * (V[oi + k]! - V[oj + k]!);
      const sig = 1 / (1 + Math.exp(x)); // d(-ln sigma(x))/dx = -sigma(-x)
      loss += Math.log1p(Math.exp(-x));
      for (let k = 0; k < d; k++) {
        const uk = U[ou + k]!;
        const ik = V[oi + k]!;
        const jk = V[oj + k]!;
        U[ou + k] = uk + lr * (sig * (ik - jk) - reg * uk);
        V[oi + k] = ik + lr * (sig * uk - reg * ik);
        V[oj + k] = jk + lr * (-sig * uk - reg * jk);
      }
    }
    return loss / Math.max(1, nnz);
  }
}

const owners = new WeakMap<Csr, Uint32Array>();

/** Row of every stored interaction (cached per matrix). */
export function userOfInteraction(m: Csr): Uint32Array {
  let o = owners.get(m);
  if (!o) {
    o = new Uint32Array(m.indptr[m.numRows]!);
    for (let r = 0; r < m.numRows; r++) o.fill(r, m.indptr[r]!, m.indptr[r + 1]!);
    owners.set(m, o);
  }
  return o;
}

/**
 * out[i] = <A[r], B[i]> for every row i of B: the attacks' hot loop (DP scores every item for
 * each sampled user, each round, each target). Unrolled by four with the sum in the same order,
 * so the results are bit-identical to the plain loop's.
 */
export function scoreRow(A: Float32Array, r: number, B: Float32Array, rowsB: number, d: number, out: Float32Array): void {
  const a = Float64Array.from(A.subarray(r * d, r * d + d));
  const d4 = d - (d % 4);
  for (let i = 0, oi = 0; i < rowsB; i++, oi += d) {
    let s = 0;
    let k = 0;
    for (; k < d4; k += 4) {
      s += a[k]! * B[oi + k]!;
      s += a[k + 1]! * B[oi + k + 1]!;
      s += a[k + 2]! * B[oi + k + 2]!;
      s += a[k + 3]! * B[oi + k + 3]!;
    }
    for (; k < d; k++) s += a[k]! * B[oi + k]!;
    out[i] = s;
  }
}

/**
 * Surrogate T-HR@k (reference notes §4): for each target, over the sampled genuine users who
 * have not interacted with it, the share whose target rank (training items masked) is <= k;
 * averaged over users, then over targets.
 */
export function surrogateTargetHitRate(
  score: (u: number, out: Float32Array) => void,
  train: Csr,
  numItems: number,
  targets: number[],
  users: ArrayLike<number>,
  k = 50,
): number {
  const s = new Float32Array(numItems);
  const hits = new Float64Array(targets.length);
  const counts = new Float64Array(targets.length);
  for (let n = 0; n < users.length; n++) {
    const u = users[n]!;
    score(u, s);
    const a = train.indptr[u]!;
    const b = train.indptr[u + 1]!;
    for (let p = a; p < b; p++) s[train.indices[p]!] = -Infinity;
    targets.forEach((t, ti) => {
      if (s[t] === -Infinity) return;
      const st = s[t]!;
      let rank = 1;
      for (let i = 0; i < numItems && rank <= k; i++) if (s[i]! > st) rank++;
      counts[ti]!++;
      if (rank <= k) hits[ti]!++;
    });
  }
  let sum = 0;
  let n = 0;
  targets.forEach((_, ti) => {
    if (counts[ti]! > 0) {
      sum += hits[ti]! / counts[ti]!;
      n++;
    }
  });
  return n ? sum / n : 0;
}

/** `n` distinct genuine users (all of them when there are fewer), in random order. */
export function sampleUsers(rng: Rng, numUsers: number, n: number): Uint32Array {
  return Uint32Array.from(n >= numUsers ? rng.shuffle(Array.from({ length: numUsers }, (_, i) => i)) : rng.sample(numUsers, n));
}
