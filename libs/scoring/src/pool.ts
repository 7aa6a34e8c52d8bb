import { availableParallelism } from 'node:os';
import { startHelper, type Helper } from '@robustrec/core';
import { runDotTask, type DotRankTask, type RankTask } from './rank-task';
import type { DotKernel } from './kernel';

const RANK = 1;

/** A task of either kind without its range and claim word (the pool adds them). */
type WithoutRange<T> = T extends unknown ? Omit<T, 'start' | 'end' | 'claim'> : never;
type TaskBase = WithoutRange<RankTask>;

interface Slot {
  helper: Helper;
  /** The last request queued on it (async use): requests take turns on one helper. */
  tail: Promise<void>;
}

/**
 * Worker threads that rank users block by block, over the platform's one handoff (HelperLink in
 * @robustrec/core). A pool is used either synchronously (a thread that blocks: the trainer's
 * validation) or asynchronously (the evaluator's event loop), never both: each helper takes
 * one request at a time, and async requests queue per helper. A helper that died is
 * replaced at its next use. Helpers never keep the process alive.
 */
export class RankPool {
  private readonly slots: Slot[] = [];
  private closed = false;

  private slot(i: number): Slot {
    while (this.slots.length <= i) this.slots.push(this.start());
    const s = this.slots[i]!;
    if (s.helper.link.error) {
      void s.helper.close();
      this.slots[i] = this.start();
    }
    return this.slots[i]!;
  }

  private start(): Slot {
    if (this.closed) throw new Error('ranking pool is closed');
    return { helper: startHelper(new URL('./rank-worker.ts', import.meta.url), 'ranking', {}, { timeoutMs: 600_000 }), tail: Promise.resolve() };
  }

  /** The handoffs to the helpers started so far (for the stress tests). */
  get links(): Array<Helper['link']> {
    return this.slots.map((s) => s.helper.link);
  }

  /**
   * Ranks users[0, n) on this thread and `threads` − 1 helpers, blocking until all are done:
   * the threads claim blocks of users as they go (RankTask.claim), so a helper that starts
   * late or runs slower takes fewer.
   */
  runSync(base: Omit<DotRankTask, 'start' | 'end' | 'claim'>, n: number, threads: number, kernel: DotKernel): void {
    const task: DotRankTask = { ...base, start: 0, end: n, claim: new Int32Array(new SharedArrayBuffer(4)) };
    const posted: Helper[] = [];
    for (let p = 1; p < threads; p++) {
      const h = this.slot(p - 1).helper;
      h.link.post(RANK, [task]);
      posted.push(h);
    }
    let first: unknown;
    try {
      runDotTask(task, kernel);
    } catch (e) {
      first = e;
    }
    // every helper is awaited, even after a failure, so none is left with a request in flight
    for (const h of posted)
      try {
        h.link.wait();
      } catch (e) {
        first ??= e;
      }
    if (first !== undefined) throw first;
  }

  /**
   * Ranks users[0, n) on `threads` helpers, claiming blocks as in runSync, without blocking
   * this thread's event loop: a dot-product model's share, or a portable scorer's (NeuMF).
   */
  async runAsync(base: TaskBase, n: number, threads: number): Promise<void> {
    const task: RankTask = { ...base, start: 0, end: n, claim: new Int32Array(new SharedArrayBuffer(4)) };
    const runs = Array.from({ length: threads }, (_, p) => {
      const s = this.slot(p);
      const run = s.tail.then(() => {
        const link = this.slot(p).helper.link;
        link.post(RANK, [task]);
        return link.settled();
      });
      s.tail = run.catch(() => undefined);
      return run;
    });
    await Promise.all(runs);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.splice(0).map((s) => s.helper.close()));
  }
}

// One pool per thread and mode: the trainer's worker thread ranks synchronously, the
// evaluator's event loop asynchronously (a pool serves one mode, see RankPool).
const pools: { sync?: RankPool; async?: RankPool } = {};

/** This thread's default pool for synchronous or asynchronous use. */
export function rankPool(mode: 'sync' | 'async'): RankPool {
  return (pools[mode] ??= new RankPool());
}

export const defaultThreads = (): number => Math.max(1, Math.min(2, availableParallelism()));
