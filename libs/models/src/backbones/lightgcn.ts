import { ParamTable, Propagation, l2RowsInto, normalizedAdjacency, spmmRow, spmmSparseInput } from '@robustrec/engine';
import type { Backbone, BackboneDef, Batch } from '../types';
import { dotHead, dotScorer, initNormal } from './dot';

/**
 * LightGCN: E^{k+1} = Â E^k over the user–item graph (Â symmetric-normalised, built once as
 * CSR), final = mean of layers 0..K, dot-product score. Gradients flow through propagation:
 * ∂L/∂E0 = Σ_k Â^k G/(K+1) (Â symmetric), G the gradient of the final rows.
 * Cost per step: layers 1..K−1 fully forward, layer K only at the batch rows; backward the
 * first product from the sparse G (push over the batch rows), the other K−1 full.
 * setEdgeMask (StDenoise) propagates over a subset of the training edges, renormalised.
 */
export const lightgcn: BackboneDef = {
  name: 'lightgcn',
  description: 'LightGCN (mean over layers 0..K of symmetric-normalised propagation), dot-product score',
  params: { layers: { default: 3, min: 1, max: 8, integer: true, description: 'propagation layers K' } },
  options: {},
  create(ctx): Backbone {
    const w = ctx.dim;
    const K = ctx.params.layers;
    const nu = ctx.numUsers;
    const ni = ctx.numItems;
    const N = nu + ni;
    // Full products run on ctx.threads threads (bit-identical for any count) with the wasm
    // SIMD kernel when w % 32 == 0; E, the layers and the scratch tables live where it reads.
    // Floats: E's data/grad/m/v, K layers (E^1..E^{K-1} + a spare), H0, H1, fullFinal's sum.
    const prop = new Propagation(normalizedAdjacency(ctx.train), w, ctx.threads, ctx.arena);
    const adj = prop.adj;
    const E = new ParamTable('embedding', N, w, ctx.arena.tableArrays(N, w));
    // users and items drawn as two tables (same stream order as MF)
    initNormal(E, ctx.rng, ctx.initStd);
    const layers: Float32Array[] = Array.from({ length: K }, () => prop.alloc(N * w));
    const G = new Float32Array(N * w);
    const H0 = prop.alloc(N * w);
    const H1 = prop.alloc(N * w);
    const sum = prop.alloc(N * w);
    const gRows = new Uint32Array(N);
    const gMark = new Uint8Array(N);
    const inv = 1 / (K + 1);

    const finalRow = (node: number, out: Float32Array, off: number): void => {
      // (E0 + … + E^{K−1})_node + (Â E^{K−1})_node, over K+1
      const src = K === 1 ? E.data : layers[K - 2];
      spmmRow(adj, src, w, node, out, off);
      const o = node * w;
      for (let k = 0; k < w; k++) {
        let s = out[off + k] + E.data[o + k];
        for (let l = 0; l < K - 1; l++) s += layers[l][o + k];
        out[off + k] = s * inv;
      }
    };
    // final rows of every node (a fresh array); H0/H1 are free between steps
    const fullFinal = (): Float32Array => {
      sum.set(E.data);
      let prev = E.data;
      const buf = [H0, H1];
      for (let l = 0; l < K; l++) {
        prop.product(prev, buf[l % 2], sum);
        prev = buf[l % 2];
      }
      const acc = sum.slice();
      for (let i = 0; i < acc.length; i++) acc[i] *= inv;
      return acc;
    };
    const addG = (node: number, g: Float32Array, off: number): void => {
      if (!gMark[node]) {
        gMark[node] = 1;
        gRows[nG++] = node;
      }
      const o = node * w;
      for (let k = 0; k < w; k++) G[o + k] += g[off + k] * inv;
    };
    let nG = 0;
    // setEdgeMask: the adjacency keeps its structure and gets value 0 at dropped edges (an exact
    // removal: the products add 0·x), the kept ones renormalised with degrees over kept edges
    // only, i.e. the values normalizedAdjacency gives for the kept edges alone.
    let itemSlot: Uint32Array | undefined;
    const setEdgeMask = (keep: Uint8Array | undefined): void => {
      const r = ctx.train;
      const nnz = r.indptr[nu];
      if (keep && keep.length !== nnz) throw new Error(`edge mask has ${keep.length} entries, the training matrix ${nnz}`);
      if (!itemSlot) {
        // position of each training edge in its item's row (filled in user order, as normalizedAdjacency does)
        itemSlot = new Uint32Array(nnz);
        const fill = adj.indptr.slice(nu, N);
        for (let p = 0; p < nnz; p++) itemSlot[p] = fill[r.indices[p]]++;
      }
      const deg = new Float64Array(N);
      for (let u = 0; u < nu; u++)
        for (let p = r.indptr[u]; p < r.indptr[u + 1]; p++)
          if (!keep || keep[p]) {
            deg[u]++;
            deg[nu + r.indices[p]]++;
          }
      const dis = deg.map((d) => (d > 0 ? 1 / Math.sqrt(d) : 0));
      const vals = adj.values;
      for (let u = 0; u < nu; u++)
        for (let p = r.indptr[u]; p < r.indptr[u + 1]; p++) {
          const v = !keep || keep[p] ? dis[u] * dis[nu + r.indices[p]] : 0;
          vals[adj.indptr[u] + (p - r.indptr[u])] = v;
          vals[itemSlot[p]] = v;
        }
    };

    return {
      tables: [E],
      width: w,
      head: dotHead(w, ctx),
      engine: () => ({ propagation: prop.kernelName === 'wasm-simd' ? `wasm-simd (spmm.wat), ${ctx.threads} thread(s)` : `js (Float32Array), ${ctx.threads} thread(s)` }),
      forward(b: Batch, eu, ei, ej) {
        let prev = E.data;
        for (let l = 0; l < K - 1; l++) {
          prop.product(prev, layers[l]);
          prev = layers[l];
        }
        for (let q = 0; q < b.n; q++) {
          finalRow(b.users[q], eu, q * w);
          finalRow(nu + b.pos[q], ei, q * w);
          finalRow(nu + b.neg[q], ej, q * w);
        }
      },
      backward(b, gu, gi, gj) {
        nG = 0;
        for (let q = 0; q < b.n; q++) {
          addG(b.users[q], gu, q * w);
          addG(nu + b.pos[q], gi, q * w);
          addG(nu + b.neg[q], gj, q * w);
        }
        E.touchAll();
        const grad = E.grad;
        // k = 0 term and the sparse first product
        for (let q = 0; q < nG; q++) {
          const o = gRows[q] * w;
          for (let k = 0; k < w; k++) grad[o + k] += G[o + k];
        }
        H0.fill(0);
        spmmSparseInput(adj, G, w, gRows, nG, H0);
        for (let i = 0; i < grad.length; i++) grad[i] += H0[i];
        let cur = H0;
        let nxt = H1;
        for (let l = 1; l < K; l++) {
          prop.product(cur, nxt, grad);
          const t = cur;
          cur = nxt;
          nxt = t;
        }
        for (let q = 0; q < nG; q++) {
          G.fill(0, gRows[q] * w, (gRows[q] + 1) * w);
          gMark[gRows[q]] = 0;
        }
      },
      regularize(b, l2) {
        E.touchAll(); // dense gradient: grad laid out like data
        let s = l2RowsInto(E.data, E.grad, w, b.users, b.n, l2);
        const items = new Uint32Array(b.n);
        for (let q = 0; q < b.n; q++) items[q] = nu + b.pos[q];
        s += l2RowsInto(E.data, E.grad, w, items, b.n, l2);
        for (let q = 0; q < b.n; q++) items[q] = nu + b.neg[q];
        s += l2RowsInto(E.data, E.grad, w, items, b.n, l2);
        return s;
      },
      finalEmbeddings() {
        const f = fullFinal();
        return { users: f.subarray(0, nu * w), items: f.subarray(nu * w) };
      },
      setEdgeMask,
      close: () => prop.close(),
      exportTensors() {
        const f = fullFinal();
        return {
          user_embedding: { shape: [nu, w], data: f.slice(0, nu * w) },
          item_embedding: { shape: [ni, w], data: f.slice(nu * w) },
          ego_embedding: { shape: [N, w], data: E.data.slice() },
        };
      },
    };
  },
  createScorer: dotScorer,
};
