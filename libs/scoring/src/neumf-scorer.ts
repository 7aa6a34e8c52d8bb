import { threadId } from 'node:worker_threads';
import { MlpKernel } from './mlp-kernel';
import type { PortableScorer } from './portable';

/** NeuMF's tables as the scorer reads them: rows [p ; p'] of width 2·dim, the MLP 2·dim → dim → dim/2. */
export interface NeumfTables {
  numUsers: number;
  numItems: number;
  /** the row width 2·dim */
  width: number;
  U: Float32Array;
  V: Float32Array;
  W1: Float32Array;
  b1: Float32Array;
  W2: Float32Array;
  b2: Float32Array;
  h: Float32Array;
}

let made = 0;

const shared = (a: Float32Array): Float32Array => {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const out = new Float32Array(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
};

/**
 * NeuMF's scores, s = hᵀ[p_u ⊙ q_i ; relu(W2ᵀ relu(W1ᵀ[p'_u ; q'_i] + b1) + b2)]: in SIMD
 * (mlp.wat) when dim is a multiple of 8, a JS loop otherwise. Portable: the ranking helpers
 * build the same scorer from shared copies of the tables (made once, on the first portable()),
 * so evaluations and batches rank on their threads, not on the caller's.
 */
export function neumfScorer(t: NeumfTables): PortableScorer {
  const { numUsers, numItems, width: w, U, V, W1, b1, W2, b2, h } = t;
  const d = w / 2;
  const h2 = d >> 1;
  const kernel = MlpKernel.fits(d, h2) ? new MlpKernel(numItems, d, h2, V, w, W2, b2, h.subarray(d, d + h2)) : undefined;
  // first layer splits into a user part and an item part, computed once per row (into the
  // kernel's memory when there is one)
  const itemPart = kernel ? kernel.part : new Float32Array(numItems * d);
  for (let i = 0; i < numItems; i++)
    for (let c = 0; c < d; c++) {
      let s = b1[c]!;
      for (let k = 0; k < d; k++) s += V[i * w + d + k]! * W1[(d + k) * d + c]!;
      itemPart[i * d + c] = s;
    }
  const a = new Float32Array(d);
  const hu = new Float64Array(d);
  const z2 = new Float64Array(h2);
  const userParts = (uo: number): void => {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += U[uo + d + k]! * W1[k * d + c]!;
      a[c] = s;
      hu[c] = h[c]! * U[uo + c]!;
    }
  };
  const key = `neumf:${threadId}:${++made}`;
  let spec: ReturnType<PortableScorer['portable']> | undefined;
  return {
    numUsers,
    numItems,
    portable: () =>
      (spec ??= {
        kind: 'neumf',
        key,
        args: { numUsers, numItems, width: w, U: shared(U), V: shared(V), W1: shared(W1), b1: shared(b1), W2: shared(W2), b2: shared(b2), h: shared(h) } satisfies NeumfTables,
      }),
    scoreUsers(users, out) {
      for (let b = 0; b < users.length; b++) {
        const uo = users[b]! * w;
        userParts(uo);
        if (kernel) {
          kernel.scoreUser(hu, a, out, b * numItems);
          continue;
        }
        for (let i = 0; i < numItems; i++) {
          const vo = i * w;
          const po = i * d;
          let s = 0;
          for (let k = 0; k < d; k++) s += hu[k]! * V[vo + k]!;
          // second layer row by row over the active first-layer units (ReLU zeros skipped)
          for (let c = 0; c < h2; c++) z2[c] = b2[c]!;
          for (let k = 0; k < d; k++) {
            const z = a[k]! + itemPart[po + k]!;
            if (!(z > 0)) continue;
            const ro = k * h2;
            for (let c = 0; c < h2; c++) z2[c] += z * W2[ro + c]!;
          }
          for (let c = 0; c < h2; c++) if (z2[c]! > 0) s += h[d + c]! * z2[c]!;
          out[b * numItems + i] = s;
        }
      }
    },
  };
}
