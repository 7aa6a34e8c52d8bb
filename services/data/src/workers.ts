import type { Worker } from 'node:worker_threads';
import { RrError, startTsWorker, unavailable, type ErrorCode } from '@robustrec/core';
import type { DataTask, DataTaskResult } from './tasks';
import type { FromWorker, ToWorker } from './worker';

interface Slot {
  worker: Worker;
  /** Modules loaded: it takes tasks. */
  up: boolean;
  task?: Queued;
}

interface Queued {
  id: number;
  task: DataTask;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/**
 * A fixed set of data worker threads (worker.ts) running DataTasks in arrival order, each on
 * the first idle worker. A worker that dies fails its task (INTERNAL) and is replaced.
 * ready() resolves once every worker has loaded its modules: the data service reports
 * SERVING only after that.
 */
export class DataWorkers {
  private readonly slots: Slot[] = [];
  private readonly queue: Queued[] = [];
  private readonly started: Array<Promise<void>> = [];
  private nextId = 0;
  private closed = false;

  constructor(readonly size = 2) {
    for (let i = 0; i < size; i++) this.started.push(this.spawn(i));
  }

  /** Resolves when every worker is up (rejects if one failed to start). */
  async ready(): Promise<void> {
    await Promise.all(this.started);
  }

  /** Runs a task on a worker; its RrErrors arrive with their code. */
  run<T extends DataTask>(task: T): Promise<DataTaskResult<T>> {
    if (this.closed) return Promise.reject(unavailable('data service is shutting down'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, task, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  /** Tasks running or waiting. */
  get pending(): number {
    return this.queue.length + this.slots.filter((s) => s.task).length;
  }

  /** Fails waiting tasks with UNAVAILABLE and stops the workers (running tasks fail too). */
  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.reject(unavailable('data service is shutting down'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(i: number): Promise<void> {
    const slot: Slot = { worker: startTsWorker(new URL('./worker.ts', import.meta.url), {}), up: false };
    this.slots[i] = slot;
    const started = new Promise<void>((resolve, reject) => {
      let gone = false;
      const fail = (why: string): void => {
        if (gone) return;
        gone = true;
        reject(new RrError('INTERNAL', `data worker failed to start: ${why}`));
        const t = slot.task;
        slot.task = undefined;
        t?.reject(new RrError(this.closed ? 'UNAVAILABLE' : 'INTERNAL', this.closed ? 'data service is shutting down' : `data worker failed: ${why}`));
        // a worker that never came up would fail the same way again: ready() reports it
        if (!this.closed && slot.up) {
          this.started[i] = this.spawn(i);
          this.pump();
        }
      };
      slot.worker.on('message', (m: FromWorker) => {
        if ('ready' in m) {
          slot.up = true;
          resolve();
          this.pump();
          return;
        }
        const t = slot.task;
        if (!t || t.id !== m.id) return;
        slot.task = undefined;
        if (m.ok) t.resolve(m.result);
        else t.reject(new RrError(m.code as ErrorCode, m.message));
        this.pump();
      });
      slot.worker.on('error', (e) => fail(e.message));
      slot.worker.on('exit', (code) => fail(`exited with code ${code}`));
    });
    started.catch(() => undefined); // reported by ready(), or the worker was replaced
    // the service's server keeps the process alive; idle workers must not
    slot.worker.unref();
    return started;
  }

  /** Hands queued tasks to idle, started workers. */
  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.task || !slot.up) continue;
      const q = this.queue.shift()!;
      slot.task = q;
      slot.worker.postMessage({ id: q.id, task: q.task } satisfies ToWorker);
    }
  }
}
