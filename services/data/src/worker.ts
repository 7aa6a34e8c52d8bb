/**
 * Data worker thread: runs the data service's heavy tasks (runDataTask in tasks.ts:
 * imports, k-core, splits, poisoning, profile parsing, loading, statistics) one at a time,
 * so that they never block the service's event loop. Started by DataWorkers (workers.ts).
 * It never opens the SQLite catalogue: the service thread commits what a task produced.
 */
import { parentPort } from 'node:worker_threads';
import { failpoint, isRrError } from '@robustrec/core';
import { runDataTask, transferablesOf, type DataTask } from './tasks';

export type ToWorker = { id: number; task: DataTask };
export type FromWorker =
  | { ready: true }
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; code: string; message: string };

const STAGES = new Set<DataTask['op']>(['lightgcn', 'interactions', 'synthetic', 'poison']);
const port = parentPort!;
port.on('message', async ({ id, task }: ToWorker) => {
  let reply: FromWorker;
  let transfer: ArrayBuffer[] = [];
  try {
    const result = await runDataTask(task);
    // an import's files are staged; its catalogue rows are not written yet
    if (STAGES.has(task.op)) failpoint('data.staged');
    reply = { id, ok: true, result };
    transfer = transferablesOf(task, result);
  } catch (e) {
    reply = { id, ok: false, code: isRrError(e) ? e.code : 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply, transfer);
});
port.postMessage({ ready: true } satisfies FromWorker);
