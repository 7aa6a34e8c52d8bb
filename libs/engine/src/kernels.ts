/**
 * Fused CPU kernels over Float32Array for dot-product recommenders: the hot loops of a
 * training step (gather rows, BPR forward + backward, adversarial perturbation, scatter of
 * row gradients). Every kernel here has a tfjs autodiff reference in `reference.ts`, and
 * the tests compare the two. Row-major tables: row r of a [rows × width] table lives at
 * [r·width, (r+1)·width).
 */
import type { WasmStep } from './step-wasm';

/** out[b] = table[rows[b]] for from ≤ b < n. */
export function gatherRows(table: Float32Array, width: number, rows: Uint32Array, n: number, out: Float32Array, from = 0): void {
  for (let b = from; b < n; b++) {
    const src = rows[b] * width;
    const o = b * width;
    for (let k = 0; k < width; k++) out[o + k] = table[src + k];
  }
}

/** table[rows[b]] += scale · src[b] for b < n (repeated rows accumulate). */
export function scatterAddRows(
  table: Float32Array,
  width: number,
  rows: Uint32Array,
  n: number,
  src: Float32Array,
  scale = 1,
): void {
  for (let b = 0; b < n; b++) {
    const o = rows[b] * width;
    const s = b * width;
    for (let k = 0; k < width; k++) table[o + k] += scale * src[s + k];
  }
}

/** log(1 + e^x) without overflow. */
export const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

/**
 * Fused BPR loss over n triples of batch-local rows (eu, ei, ej, each [n × width]):
 * returns mean_b softplus(<u,j> − <u,i>) and ADDS weight · ∂loss/∂row into gu, gi, gj
 * (per occurrence). perRow (optional) receives each triple's loss; posScores the <u,i>.
 */
export function bprDot(
  eu: Float32Array,
  ei: Float32Array,
  ej: Float32Array,
  n: number,
  width: number,
  weight: number,
  gu: Float32Array,
  gi: Float32Array,
  gj: Float32Array,
  perRow?: Float32Array,
  posScores?: Float32Array,
): number {
  const loss = new Float64Array(n);
  bprRows(eu, ei, ej, width, weight / n, gu, gi, gj, loss, posScores, 0, n);
  if (perRow) perRow.set(loss);
  return sumTo(loss, n) / n;
}

/**
 * bprDot's rows from ≤ b < to: loss[b] = softplus(<u,j> − <u,i>), posScores[b] = <u,i>,
 * and scale · ∂loss[b]/∂rows added into gu, gi, gj (scale = weight / n).
 */
export function bprRows(
  eu: Float32Array,
  ei: Float32Array,
  ej: Float32Array,
  width: number,
  scale: number,
  gu: Float32Array,
  gi: Float32Array,
  gj: Float32Array,
  loss: Float64Array,
  posScores: Float32Array | undefined,
  from: number,
  to: number,
): void {
  for (let b = from; b < to; b++) {
    const o = b * width;
    let sp = 0;
    let sn = 0;
    for (let k = 0; k < width; k++) {
      const u = eu[o + k];
      sp += u * ei[o + k];
      sn += u * ej[o + k];
    }
    const x = sp - sn;
    loss[b] = softplus(-x);
    if (posScores) posScores[b] = sp;
    // d softplus(-x)/dx = -sigmoid(-x)
    const c = (-1 / (1 + Math.exp(x))) * scale;
    for (let k = 0; k < width; k++) {
      const u = eu[o + k];
      const pi = ei[o + k];
      const nj = ej[o + k];
      gu[o + k] += c * (pi - nj);
      gi[o + k] += c * u;
      gj[o + k] -= c * u;
    }
  }
}

/** a[0] + … + a[n−1], left to right (per-row partials summed in one order, whatever the split). */
export function sumTo(a: Float64Array, n: number): number {
  let s = 0;
  for (let b = 0; b < n; b++) s += a[b];
  return s;
}

/** Dot products of n row pairs: out[b] = <a_b, c_b>. */
export function rowDots(a: Float32Array, c: Float32Array, n: number, width: number, out: Float32Array): void {
  for (let b = 0; b < n; b++) {
    const o = b * width;
    let s = 0;
    for (let k = 0; k < width; k++) s += a[o + k] * c[o + k];
    out[b] = s;
  }
}

/** out[b] = squared L2 norm of row b. */
export function rowSqNorms(a: Float32Array, n: number, width: number, out: Float32Array | Float64Array): void {
  for (let b = 0; b < n; b++) {
    const o = b * width;
    let s = 0;
    for (let k = 0; k < width; k++) s += a[o + k] * a[o + k];
    out[b] = s;
  }
}

/**
 * Adversarial perturbation, Δ_b = eps_b · g_b / max(||g_b||, 1e-12) (as torch's
 * F.normalize), written as out = src + Δ. g is treated as a constant. eps is one value
 * per row (a Float32Array) or the same for all rows (a number). Rows from ≤ b < n.
 */
export function perturbRows(
  src: Float32Array,
  g: Float32Array,
  eps: Float32Array | number,
  n: number,
  width: number,
  out: Float32Array,
  from = 0,
): void {
  for (let b = from; b < n; b++) {
    const o = b * width;
    let s = 0;
    for (let k = 0; k < width; k++) s += g[o + k] * g[o + k];
    const e = typeof eps === 'number' ? eps : eps[b];
    const f = e / Math.max(Math.sqrt(s), 1e-12);
    for (let k = 0; k < width; k++) out[o + k] = src[o + k] + f * g[o + k];
  }
}

/**
 * L2 term on batch rows, l2 · mean_b ||x_b||², for one of the three row sets: returns its
 * value and adds its gradient 2·l2/n · x_b into a gradient laid out like the table (dense).
 */
export function l2RowsInto(
  table: Float32Array,
  grad: Float32Array,
  width: number,
  rows: Uint32Array,
  n: number,
  l2: number,
): number {
  let s = 0;
  const c = (2 * l2) / n;
  for (let b = 0; b < n; b++) {
    const o = rows[b] * width;
    for (let k = 0; k < width; k++) {
      const x = table[o + k];
      s += x * x;
      grad[o + k] += c * x;
    }
  }
  return (l2 * s) / n;
}

/** Whether every value is finite. */
export function allFinite(a: Float32Array | Float64Array, n = a.length): boolean {
  for (let i = 0; i < n; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/**
 * L2 term on batch-local copies of the rows: returns l2 · mean_b ||x_b||² and adds
 * 2·l2/n · x_b into g (same layout as x). Used when the scored rows are the ego rows (MF).
 */
export function l2Local(x: Float32Array, g: Float32Array, n: number, width: number, l2: number): number {
  const sums = new Float64Array(n);
  l2Rows(x, g, width, (2 * l2) / n, sums, 0, n);
  return (l2 * sumTo(sums, n)) / n;
}

/** l2Local's rows from ≤ b < to: sums[b] = ||x_b||², g_b += c · x_b. */
export function l2Rows(x: Float32Array, g: Float32Array, width: number, c: number, sums: Float64Array, from: number, to: number): void {
  for (let b = from; b < to; b++) {
    let s = 0;
    for (let k = b * width, end = k + width; k < end; k++) {
      const v = x[k];
      s += v * v;
      g[k] += c * v;
    }
    sums[b] = s;
  }
}

/**
 * One row-wise kernel call over a batch's rows: row b of every output depends only on row b
 * of the inputs, so a call can be split by rows across threads (RowRunner) with results
 * identical to one thread's; per-row sums go to Float64Arrays and are summed in one order.
 */
export type RowJob =
  | { op: 'gather'; table: Float32Array; width: number; rows: Uint32Array; out: Float32Array }
  | { op: 'perturb'; src: Float32Array; g: Float32Array; eps: Float32Array | number; width: number; out: Float32Array }
  | {
      op: 'bpr';
      eu: Float32Array;
      ei: Float32Array;
      ej: Float32Array;
      width: number;
      scale: number;
      gu: Float32Array;
      gi: Float32Array;
      gj: Float32Array;
      loss: Float64Array;
      posScores?: Float32Array;
      /** 3·n floats of scratch in the arena: with it (and every array in the arena) the wasm kernels run the job. */
      tmp?: Float32Array;
    }
  | { op: 'l2'; x: Float32Array; g: Float32Array; width: number; c: number; sums: Float64Array };

/** Runs jobs, in order, on rows from ≤ b < to: in wasm (step.wat) where `step` can, else in JS. */
export function runRows(jobs: readonly RowJob[], from: number, to: number, step?: WasmStep): void {
  for (const j of jobs) {
    if (step?.run(j, from, to)) continue;
    if (j.op === 'gather') gatherRows(j.table, j.width, j.rows, to, j.out, from);
    else if (j.op === 'perturb') perturbRows(j.src, j.g, j.eps, to, j.width, j.out, from);
    else if (j.op === 'bpr') bprRows(j.eu, j.ei, j.ej, j.width, j.scale, j.gu, j.gi, j.gj, j.loss, j.posScores, from, to);
    else l2Rows(j.x, j.g, j.width, j.c, j.sums, from, to);
  }
}

/** Runs a step's row jobs over rows 0 ≤ b < n: on this thread, or split with a helper thread. */
export interface RowRunner {
  run(jobs: RowJob[], n: number): void;
}

export const serialRows: RowRunner = { run: (jobs, n) => runRows(jobs, 0, n) };
