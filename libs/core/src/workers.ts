import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Where a worker reports that its module failed to load (written by worker-bootstrap.mjs):
 * flag = 0 while nothing failed, else the length of the text + 1. A thread that blocks on the
 * worker (Atomics.wait) never sees the worker's 'error' event, since its event loop does not
 * run; it can read this.
 */
export interface StartFailure {
  flag: Int32Array;
  text: Uint8Array;
}

export function newStartFailure(): StartFailure {
  return { flag: new Int32Array(new SharedArrayBuffer(4)), text: new Uint8Array(new SharedArrayBuffer(1024)) };
}

/** The failure text, or undefined while the worker's module has not failed to load. */
export function startFailureText(f: StartFailure): string | undefined {
  const n = Atomics.load(f.flag, 0);
  return n > 0 ? new TextDecoder().decode(f.text.slice(0, n - 1)) : undefined;
}

/** Starts a worker thread running a TypeScript module (URL), whatever runs the parent. */
export function startTsWorker(entry: URL, workerData: Record<string, unknown>, options: Omit<WorkerOptions, 'workerData'> = {}, failure?: StartFailure): Worker {
  return new Worker(new URL('./worker-bootstrap.mjs', import.meta.url), { ...options, workerData: { ...workerData, __entry: entry.href, __startFailure: failure } });
}
