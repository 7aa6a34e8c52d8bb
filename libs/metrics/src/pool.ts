import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startTsWorker } from '@robustrec/core';
import { runDotTask, type RankTask } from './rank-task';
import type { DotKernel } from './kernel';

/**
 * A small pool of worker threads for full-ranking shares. Workers are unref'd (they never
 * keep a process alive) and reused across evaluations.
 */
const workers: Worker[] = [];
let nextId = 0;
const pending = new Map<number, (error?: string) => void>();

function worker(i: number): Worker {
  while (workers.length <= i) {
    const w = startTsWorker(new URL('./rank-worker.ts', import.meta.url), {});
    w.on('message', (m: { id: number; error?: string }) => {
      pending.get(m.id)?.(m.error);
      pending.delete(m.id);
    });
    w.on('error', (e) => {
      // a dead worker fails whatever it was running; the next use starts a fresh one
      for (const [id, cb] of pending) {
        cb(`ranking worker died: ${e.message}`);
        pending.delete(id);
      }
      const at = workers.indexOf(w);
      if (at >= 0) workers.splice(at, 1);
    });
    // unref after the listeners: adding a 'message' listener re-refs the worker's port
    w.unref();
    workers.push(w);
  }
  return workers[i]!;
}

export const defaultThreads = (): number => Math.max(1, Math.min(2, availableParallelism()));

/** Contiguous, nearly equal shares [start, end) of n users. */
export function shares(n: number, parts: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let p = 0; p < parts; p++) out.push([Math.floor((n * p) / parts), Math.floor((n * (p + 1)) / parts)]);
  return out;
}

/**
 * Runs the shares synchronously: this thread ranks the first share while workers rank the
 * others, then it blocks (Atomics.wait) until they are done.
 */
export function runSharesSync(base: Omit<RankTask, 'start' | 'end'>, parts: Array<[number, number]>, kernel: DotKernel): void {
  const done = new Int32Array(new SharedArrayBuffer(8));
  for (let p = 1; p < parts.length; p++) {
    const [start, end] = parts[p]!;
    worker(p - 1).postMessage({ id: nextId++, task: { ...base, start, end }, done });
  }
  runDotTask({ ...base, start: parts[0]![0], end: parts[0]![1] }, kernel);
  const expected = parts.length - 1;
  // A worker that dies cannot signal (its 'error' event needs this blocked loop): bound the wait.
  const deadline = Date.now() + 600_000;
  for (let v = Atomics.load(done, 0); v < expected; v = Atomics.load(done, 0)) {
    if (Date.now() > deadline) throw new Error('ranking workers did not finish within 600 s');
    Atomics.wait(done, 0, v, 1_000);
  }
  if (Atomics.load(done, 1)) throw new Error('a ranking worker failed (see its stderr)');
}

/** Runs every share on workers without blocking the event loop (used by services). */
export async function runSharesAsync(base: Omit<RankTask, 'start' | 'end'>, parts: Array<[number, number]>): Promise<void> {
  const done = new Int32Array(new SharedArrayBuffer(8));
  const runs = parts.map(
    ([start, end], p) =>
      new Promise<void>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, (error) => (error ? reject(new Error(`ranking worker failed: ${error}`)) : resolve()));
        worker(p).postMessage({ id, task: { ...base, start, end }, done });
      }),
  );
  await Promise.all(runs);
}
