import { RrError } from '@robustrec/core';
import type { DefenseDef } from '../types';

/**
 * StDenoise (structure denoising; the PamaCF paper's baseline after Tian et al., SIGIR 2022
 * [35], and Ye et al., TOIS 2023 [19]): each training edge (u, i) gets the reliability
 * r(u,i) = (cos(e_u, e_i) + 1)/2 ∈ [0, 1] from the model's own embeddings; edges with
 * r < threshold are dropped, the rest renormalised, and training goes on over the denoised graph.
 * The papers leave these points open; the choices made here:
 * - When: once per epoch, at its start, from the current parameters; not before epoch
 *   warmup_epochs (random initial embeddings give r ≈ 0.5 for every edge, i.e. noise). Each
 *   epoch's mask is computed afresh (an edge dropped earlier can come back).
 * - Which embeddings: the final (scored) rows of the backbone over the FULL training graph (for
 *   LightGCN the previous epoch's mask is lifted before propagating), so reliabilities depend on
 *   the parameters only, not on earlier masks. For MF these are the embedding tables.
 * - Threshold on the (cos+1)/2 scale, kept iff r ≥ threshold: 0 keeps every edge (training is
 *   then exactly the plain backbone's); the default 0.5 drops the pairs whose embeddings point
 *   away from each other (cos < 0).
 * - What "drop" means: the edge is out of the training data for the epoch, for every backbone
 *   alike. BPR positives are drawn among kept edges only (users uniformly among those with a
 *   kept edge, then one of their kept edges; an epoch keeps its number of samples; negatives are
 *   still drawn outside all training items, so a dropped interaction never becomes a negative).
 *   Graph backbones (LightGCN) also propagate over the kept edges only, with degrees recounted
 *   over them: Â = D'^{-1/2} A' D'^{-1/2} ("renormalise"), and the exported/scored final
 *   embeddings use the last epoch's denoised graph. MF and NeuMF have no graph: the sampling is
 *   all. (RGCF also weights kept edges by r and keeps BPR on every pair; under MF only sampling
 *   can carry the denoising, and one rule for both backbones keeps their results comparable.)
 * - Gradients: none flow through r: the mask is structural (recomputed between epochs), so the
 *   loss optimised in an epoch is the backbone's BPR + L2 on the denoised data; the defense adds
 *   no loss term (adv_loss stays 0).
 * - A threshold that drops every edge stops training with FAILED_PRECONDITION naming it.
 * The mask in force is checkpointed (defense/stdenoise.keep) so a restored model scores as the
 * original; state() reports the last epoch's dropped-edge count.
 */
export const stdenoise: DefenseDef = {
  name: 'stdenoise',
  description: 'StDenoise: drop training edges whose embedding reliability (cos(e_u, e_i)+1)/2 is below a threshold, renormalise, propagate',
  params: {
    threshold: { default: 0.5, min: 0, max: 1, description: 'keep an edge iff (cos(e_u, e_i)+1)/2 ≥ threshold (0: keep all; 0.5: drop cos < 0)' },
    warmup_epochs: { default: 5, min: 0, integer: true, description: 'epochs on the full graph before the first denoising' },
  },
  options: {},
  create({ params, train }) {
    const nnz = train.indptr[train.numRows];
    let keep: Uint8Array | undefined;
    let dropped = 0;
    return {
      apply: () => 0,
      onEpochStart({ epoch, backbone }) {
        if (epoch < params.warmup_epochs) {
          keep = undefined;
          dropped = 0;
          return;
        }
        backbone.setEdgeMask?.(undefined); // score on the full graph (the trainer sets the new mask next)
        const { users, items } = backbone.finalEmbeddings();
        const w = backbone.width;
        const un = new Float64Array(train.numRows);
        for (let u = 0; u < train.numRows; u++) {
          let s = 0;
          for (let k = u * w; k < (u + 1) * w; k++) s += users[k] * users[k];
          un[u] = Math.sqrt(s);
        }
        const inorm = new Float64Array(train.numCols);
        for (let i = 0; i < train.numCols; i++) {
          let s = 0;
          for (let k = i * w; k < (i + 1) * w; k++) s += items[k] * items[k];
          inorm[i] = Math.sqrt(s);
        }
        const mask = new Uint8Array(nnz);
        let drop = 0;
        for (let u = 0; u < train.numRows; u++)
          for (let p = train.indptr[u]; p < train.indptr[u + 1]; p++) {
            const i = train.indices[p];
            let dot = 0;
            for (let k = 0; k < w; k++) dot += users[u * w + k] * items[i * w + k];
            const den = un[u] * inorm[i];
            const r = ((den > 0 ? dot / den : 0) + 1) / 2; // a zero row: cos taken as 0
            // NaN (non-finite parameters) keeps the edge; the trainer reports those itself
            if (r < params.threshold) drop++;
            else mask[p] = 1;
          }
        if (drop === nnz)
          throw new RrError('FAILED_PRECONDITION', `stdenoise: threshold ${params.threshold} drops every training interaction at epoch ${epoch + 1}; lower it`, 'config.defense.params.threshold');
        keep = drop > 0 ? mask : undefined;
        dropped = drop;
      },
      edgeMask: () => keep,
      tensors: (): Record<string, Float32Array> => (keep ? { 'stdenoise.keep': Float32Array.from(keep) } : {}),
      state: () => ({ dropped, edges: nnz }),
      restore(t, st) {
        const k = t['stdenoise.keep'];
        keep = k ? Uint8Array.from(k) : undefined;
        dropped = (st as { dropped?: number } | undefined)?.dropped ?? 0;
      },
    };
  },
};
