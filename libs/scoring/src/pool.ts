import { availableParallelism } from 'node:os';
import { startHelper, type Helper } from '@robustrec/core';
import { runDotTask, type RankTask } from './rank-task';
import type { DotKernel } from './kernel';

const RANK = 1;

interface Slot {
  helper: Helper;
  /** The last request queued on it (async use): requests take turns on one helper. */
  tail: Promise<void>;
}

/**
 * Worker threads that rank shares of users, over the platform's one handoff (HelperLink in
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
   * Runs the shares synchronously: this thread ranks the first share while helpers rank the
   * others, then it blocks until they are done.
   */
  runSync(base: Omit<RankTask, 'start' | 'end'>, parts: Array<[number, number]>, kernel: DotKernel): void {
    const posted: Helper[] = [];
    for (let p = 1; p < parts.length; p++) {
      const [start, end] = parts[p]!;
      const h = this.slot(p - 1).helper;
      h.link.post(RANK, [{ ...base, start, end }]);
      posted.push(h);
    }
    let first: unknown;
    try {
      runDotTask({ ...base, start: parts[0]![0], end: parts[0]![1] }, kernel);
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

  /** Runs every share on helpers without blocking this thread's event loop. */
  async runAsync(base: Omit<RankTask, 'start' | 'end'>, parts: Array<[number, number]>): Promise<void> {
    const runs = parts.map(([start, end], p) => {
      const s = this.slot(p);
      const run = s.tail.then(() => {
        const link = this.slot(p).helper.link;
        link.post(RANK, [{ ...base, start, end }]);
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

/** Contiguous, nearly equal shares [start, end) of n users. */
export function shares(n: number, parts: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let p = 0; p < parts; p++) out.push([Math.floor((n * p) / parts), Math.floor((n * (p + 1)) / parts)]);
  return out;
}
