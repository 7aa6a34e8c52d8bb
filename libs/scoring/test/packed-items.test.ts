import { afterAll, describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { csrFromRows, Rng, startTsWorker } from '@robustrec/core';
import { DotKernel, newPackedItems, setPackHook, TopK } from '../src/index';

// The PackedItems protocol (libs/scoring/src/kernel.ts): one thread packs a shared item table,
// every other kernel on it waits for PACKED and then reads it.
describe('PackedItems: one shared packing per item table', () => {
  const THREADS = 4;
  const workers: Worker[] = Array.from({ length: THREADS }, () => startTsWorker(new URL('./packed-items-worker.ts', import.meta.url), {}));
  afterAll(() => Promise.all(workers.map((w) => w.terminate())));

  const shared = (a: Float32Array): Float32Array => {
    const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
    s.set(a);
    return s;
  };

  it(`${THREADS} threads building kernels on one unpacked table at once: exactly one packs, all rank as a private kernel does`, async () => {
    for (let round = 0; round < 8; round++) {
      const rng = new Rng(100 + round);
      const numItems = 3000 + 97 * round;
      const dim = 8 + (round % 3);
      const users = 12;
      const k = 20;
      const U = shared(Float32Array.from({ length: users * dim }, () => Math.fround(rng.normal() * 0.1)));
      const V = shared(Float32Array.from({ length: numItems * dim }, () => Math.fround(rng.normal() * 0.1)));
      // reference: a kernel with a table of its own
      const own = new DotKernel(V, numItems, dim);
      const want = new Int32Array(users * k);
      const wantScores = new Float32Array(users * k);
      own.rankTop(U, Uint32Array.from({ length: users }, (_, u) => u), 0, users, [csrFromRows(users, numItems, {})], new TopK(k), want, wantScores);
      const packed = newPackedItems(numItems, dim);
      const ctl = new Int32Array(new SharedArrayBuffer(8));
      const got = await Promise.all(
        workers.map(
          (w) =>
            new Promise<{ top: Int32Array; scores: Float32Array; scale: number }>((resolve, reject) => {
              w.once('message', resolve);
              w.once('error', reject);
              w.postMessage({ packed, U, V, numItems, dim, users, k, threads: THREADS, ctl });
            }),
        ),
      );
      expect(ctl[1], `round ${round}: threads that packed`).toBe(1);
      for (const g of got) {
        // a thread that read the table before it was published would see scale 0 (or a torn table)
        expect(g.scale, `round ${round}`).toBe(own.quantisationScale);
        expect(g.scale).toBeGreaterThan(0);
        expect(Array.from(g.top), `round ${round}`).toEqual(Array.from(want));
        expect(Array.from(g.scores)).toEqual(Array.from(wantScores));
      }
    }
  }, 60_000);

  it('a packer that fails leaves the table unpacked for the next kernel, which packs it', () => {
    const rng = new Rng(7);
    const numItems = 500;
    const dim = 6;
    const V = Float32Array.from({ length: numItems * dim }, () => Math.fround(rng.normal()));
    const packed = newPackedItems(numItems, dim);
    setPackHook(() => {
      throw new Error('simulated packing failure');
    });
    try {
      expect(() => new DotKernel(V, numItems, dim, packed)).toThrow('simulated packing failure');
    } finally {
      setPackHook(undefined);
    }
    const again = new DotKernel(V, numItems, dim, packed);
    expect(again.quantisationScale).toBe(new DotKernel(V, numItems, dim).quantisationScale);
    expect(again.quantisationScale).toBeGreaterThan(0);
    // a kernel on another table's packing is refused
    expect(() => new DotKernel(V, numItems, dim, newPackedItems(numItems + 1, dim))).toThrow(/does not match/);
  });
});
