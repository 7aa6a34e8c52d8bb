/**
 * Worker for the key-creation race test (data-token.test.ts): on each message it waits at
 * the shared start line, then reads-or-creates the data token key of the given home.
 */
import { parentPort } from 'node:worker_threads';
import { dataTokenKey } from '../src/data-token';

parentPort!.on('message', (m: { home: string; round: number; start: Int32Array }) => {
  parentPort!.postMessage({ ready: m.round });
  // everyone leaves the line together, so the creations race for real
  Atomics.wait(m.start, 0, m.round - 1);
  // then a random head start of up to ~50 µs each, so that over the rounds every interleaving
  // of one thread's check/write/read with another's comes up
  const until = performance.now() + Math.random() * 0.05;
  while (performance.now() < until);
  let key: string;
  try {
    key = dataTokenKey(m.home).toString();
  } catch (e) {
    key = `error: ${(e as Error).message}`;
  }
  parentPort!.postMessage({ round: m.round, key });
});
