/** Thread of the PackedItems stress test: waits at a barrier, then builds a kernel on the shared table and ranks. */
import { parentPort } from 'node:worker_threads';
import { csrFromRows } from '@robustrec/core';
import { DotKernel, setPackHook, TopK, type PackedItems } from '../src/index';

interface Round {
  packed: PackedItems;
  U: Float32Array;
  V: Float32Array;
  numItems: number;
  dim: number;
  users: number;
  k: number;
  threads: number;
  /** [0] threads arrived at the barrier, [1] threads that packed. */
  ctl: Int32Array;
}

const nap = new Int32Array(new SharedArrayBuffer(4));
parentPort!.on('message', (r: Round) => {
  // the packer counts itself and lingers while holding PACKING, so the others meet that state
  setPackHook(() => {
    Atomics.add(r.ctl, 1, 1);
    Atomics.wait(nap, 0, 0, 20);
  });
  Atomics.add(r.ctl, 0, 1);
  while (Atomics.load(r.ctl, 0) < r.threads); // spin: every thread leaves the barrier at once
  const kernel = new DotKernel(r.V, r.numItems, r.dim, r.packed);
  const ids = Uint32Array.from({ length: r.users }, (_, u) => u);
  const top = new Int32Array(r.users * r.k);
  const scores = new Float32Array(r.users * r.k);
  kernel.rankTop(r.U, ids, 0, r.users, [csrFromRows(r.users, r.numItems, {})], new TopK(r.k), top, scores);
  parentPort!.postMessage({ top, scores, scale: kernel.quantisationScale });
});
