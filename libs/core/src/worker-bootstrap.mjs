// Worker entry that registers the TypeScript loader (tsx) and then imports the real
// TypeScript worker module, so worker_threads run .ts code the same way under `tsx`,
// vitest and plain node.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';
import { register as registerCjs } from 'tsx/cjs/api';

// Both loaders: some dependencies (tfjs-core's dist files) are reached through require().
register();
registerCjs();
try {
  await import(workerData.__entry);
} catch (e) {
  // tell a parent blocked on this worker (StartFailure in workers.ts), then fail as before
  const f = workerData.__startFailure;
  if (f) {
    const text = new TextEncoder().encode(e instanceof Error ? `${e.name}: ${e.message}` : String(e)).subarray(0, f.text.length);
    f.text.set(text);
    Atomics.store(f.flag, 0, text.length + 1);
    Atomics.notify(f.flag, 0);
  }
  throw e;
}
