/**
 * Worker thread of the parallel ranking pool (started through core's startTsWorker so it
 * runs the same under tsx, vitest and node). Each message ranks one share of users and
 * signals completion through a shared counter, so the parent may block on Atomics.wait.
 */
import { parentPort } from 'node:worker_threads';
import { runDotTask, type RankTask } from './rank-task';

interface TaskMessage {
  id: number;
  task: RankTask;
  /** [finished, failed] */
  done: Int32Array;
}

parentPort!.on('message', (msg: TaskMessage) => {
  let error: string | undefined;
  try {
    runDotTask(msg.task);
  } catch (e) {
    error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    Atomics.store(msg.done, 1, 1);
  }
  Atomics.add(msg.done, 0, 1);
  Atomics.notify(msg.done, 0);
  parentPort!.postMessage({ id: msg.id, error });
});
