import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Starts a worker thread running a TypeScript module (URL), whatever runs the parent. */
export function startTsWorker(entry: URL, workerData: Record<string, unknown>, options: Omit<WorkerOptions, 'workerData'> = {}): Worker {
  return new Worker(new URL('./worker-bootstrap.mjs', import.meta.url), { ...options, workerData: { ...workerData, __entry: entry.href } });
}
