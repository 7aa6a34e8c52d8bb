/**
 * Projection worker thread: one UMAP fit of a block of user embeddings to 2-D, off the
 * evaluator's event loop (a fit takes seconds; scoring requests must not wait for it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { UMAP } from 'umap-js';
import { Rng } from '@robustrec/core';

export interface ProjectInput {
  /** n rows of dim float32 values, row major. */
  rows: Float32Array;
  n: number;
  dim: number;
  /** Seeds UMAP's every random draw (nearest-neighbour search, initial layout, negative samples). */
  seed: number;
  nNeighbors: number;
  minDist: number;
  nEpochs: number;
}

export type ProjectOutput = { coords: Float32Array } | { error: string };

function project(p: ProjectInput): Float32Array {
  const rng = new Rng(p.seed);
  const X = Array.from({ length: p.n }, (_, i) => Array.from(p.rows.subarray(i * p.dim, (i + 1) * p.dim)));
  const umap = new UMAP({ nComponents: 2, nNeighbors: p.nNeighbors, minDist: p.minDist, nEpochs: p.nEpochs, random: () => rng.next() });
  const Y = umap.fit(X);
  const coords = new Float32Array(2 * p.n);
  Y.forEach((y, i) => {
    coords[2 * i] = y[0]!;
    coords[2 * i + 1] = y[1]!;
  });
  return coords;
}

try {
  const coords = project(workerData as ProjectInput);
  parentPort!.postMessage({ coords } satisfies ProjectOutput, [coords.buffer as ArrayBuffer]);
} catch (e) {
  parentPort!.postMessage({ error: e instanceof Error ? e.message : String(e) } satisfies ProjectOutput);
}
