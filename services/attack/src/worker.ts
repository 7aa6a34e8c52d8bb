/**
 * Worker thread running one built-in generator, so that minutes of surrogate training
 * (DP, Rev) never block the attack service's event loop (health checks, deadlines,
 * cancellation, other calls). Started with startTsWorker from builtin.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runBuiltin, type GenerateOutput, type ProgressEvent, type ResolvedAttack } from '@robustrec/attacks';
import { isRrError, type Csr } from '@robustrec/core';

export interface WorkerInput {
  cfg: ResolvedAttack;
  train: Csr;
  numItems: number;
}

export type WorkerMessage =
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'done'; output: GenerateOutput }
  | { type: 'error'; code: string; message: string };

const post = (m: WorkerMessage): void => parentPort!.postMessage(m);
const input = workerData as WorkerInput;

runBuiltin(input.cfg, input.train, input.numItems, async (event) => post({ type: 'progress', event })).then(
  (output) => post({ type: 'done', output }),
  (e: unknown) => post({ type: 'error', code: isRrError(e) ? e.code : 'INTERNAL', message: e instanceof Error ? e.message : String(e) }),
);
