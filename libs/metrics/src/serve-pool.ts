import type { Worker } from 'node:worker_threads';
import { invalidArgument, type Csr } from '@robustrec/core';
import { startTsWorker } from '@robustrec/core';
import type { DotProductScorer } from './scorer';
import type { TopItems } from './recommend';

/** A dot-product model as the serving workers hold it: tables and mask in shared memory. */
export interface SharedDotModel {
  key: string;
  userEmb: Float32Array;
  itemEmb: Float32Array;
  dim: number;
  numUsers: number;
  numItems: number;
  /** Rows masked when a request excludes seen items (the training interactions). */
  seen: { numRows: number; numCols: number; indptr: Uint32Array; indices: Uint32Array };
}

/** A batch handed to a serving worker (with the model the first time that worker sees it). */
export interface ServeJob {
  id: number;
  key: string;
  users: Uint32Array;
  k: number;
  exclude: boolean;
  model?: SharedDotModel;
}

/** A worker's answer: users.length × k items and scores, -1/NaN padded, or an error. */
export interface ServeReply {
  id: number;
  items?: Int32Array;
  scores?: Float32Array;
  error?: string;
}

interface Pending {
  user: number;
  k: number;
  resolve(r: TopItems): void;
  reject(e: unknown): void;
}

const toShared = <T extends Float32Array | Uint32Array>(a: T): T => {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as new (b: SharedArrayBuffer) => T;
  const out = new Ctor(new SharedArrayBuffer(a.byteLength));
  out.set(a as never);
  return out;
};

/**
 * Top-k serving on worker threads (default: one) so that the event loop that
 * answers gRPC never blocks on scoring. Requests for a model that arrive while every worker
 * is busy are queued and leave in batches of up to maxBatch when a worker frees up: batches
 * grow with load (one pass of the SIMD kernel over the item table serves the whole batch)
 * and shrink to single requests when idle. Workers use the evaluation kernel and selection, so served
 * lists are exactly the evaluated ones.
 */
export class ServePool {
  private readonly workers: Array<{ w: Worker; busy: number; models: Set<string> }> = [];
  private readonly models = new Map<string, SharedDotModel>();
  /** Queued requests per (model, exclude) group. */
  private readonly queue = new Map<string, { key: string; exclude: boolean; items: Pending[] }>();
  private readonly inflight = new Map<number, { batch: Pending[]; k: number; worker: number }>();
  private nextId = 0;
  private closed = false;
  /** Batches handed out and users in them (mean batch = users / batches). */
  readonly stats = { batches: 0, users: 0 };

  constructor(
    /**
     * Worker threads. One by default: a single worker lets batches grow under load (one kernel
     * pass per batch), where two split the queue into small, lane-wasting batches (measured:
     * 2,071 vs 1,766 req/s at 32 clients on the 2-core bench machine).
     */
    readonly threads = 1,
    /**
     * Largest batch handed to one worker. Small: the kernel's cost per user is flat from 4
     * users up, and a batch of all 32 waiting requests made the whole set wait for the whole
     * batch, in lockstep (measured, 32 unary clients: 8 -> p99 18-24 ms, 64 -> 30 ms).
     */
    readonly maxBatch = 8,
  ) {
    for (let i = 0; i < threads; i++) this.workers.push(this.spawn(i));
  }

  /** Starts worker i (also after a crash: a fresh worker knows no models yet). */
  private spawn(i: number): { w: Worker; busy: number; models: Set<string> } {
    const w = startTsWorker(new URL('./serve-worker.ts', import.meta.url), {});
    w.on('message', (m: ServeReply) => this.done(i, m));
    w.on('error', (e) => this.failWorker(i, e));
    w.unref(); // after the listeners, which would re-ref it
    return { w, busy: 0, models: new Set() };
  }

  /** Shares a dot-product model with the workers (tables copied once into shared memory). */
  add(key: string, scorer: DotProductScorer, seen: Csr): void {
    if (this.models.has(key)) return;
    this.models.set(key, {
      key,
      userEmb: toShared(scorer.userEmb),
      itemEmb: toShared(scorer.itemEmb),
      dim: scorer.dim,
      numUsers: scorer.numUsers,
      numItems: scorer.numItems,
      seen: { numRows: seen.numRows, numCols: seen.numCols, indptr: toShared(seen.indptr), indices: toShared(seen.indices) },
    });
  }

  /** Forgets a model (its workers drop their packed tables on their next message). */
  remove(key: string): void {
    if (!this.models.delete(key)) return;
    for (const wk of this.workers) if (wk.models.delete(key)) wk.w.postMessage({ unload: key });
  }

  has(key: string): boolean {
    return this.models.has(key);
  }

  /** Top-k of one user (best first, ties by lower id). */
  recommend(key: string, user: number, k: number, exclude: boolean): Promise<TopItems> {
    const m = this.models.get(key);
    if (!m) return Promise.reject(new Error(`model ${key} is not in the serving pool`));
    if (!Number.isInteger(k) || k < 1 || k > m.numItems) return Promise.reject(invalidArgument('k', `must be an integer in [1, ${m.numItems}], got ${k}`));
    if (!(user >= 0 && user < m.numUsers)) return Promise.reject(invalidArgument('user', `user ${user} out of range [0, ${m.numUsers})`));
    if (this.closed) return Promise.reject(new Error('serving pool is closed'));
    return new Promise((resolve, reject) => {
      const g = `${key}\0${exclude ? 1 : 0}`;
      let q = this.queue.get(g);
      if (!q) this.queue.set(g, (q = { key, exclude, items: [] }));
      q.items.push({ user, k, resolve, reject });
      this.pump();
    });
  }

  /** Hands queued groups to idle workers. */
  private pump(): void {
    for (;;) {
      const wi = this.workers.findIndex((x) => x.busy === 0);
      if (wi < 0 || !this.queue.size) return;
      const [g, q] = this.queue.entries().next().value!;
      const batch = q.items.splice(0, this.maxBatch);
      if (!q.items.length) this.queue.delete(g);
      else {
        // round-robin between groups: move this one to the back
        this.queue.delete(g);
        this.queue.set(g, q);
      }
      const k = Math.max(...batch.map((p) => p.k));
      const users = Uint32Array.from(batch.map((p) => p.user));
      const wk = this.workers[wi]!;
      const job: ServeJob = { id: this.nextId++, key: q.key, users, k, exclude: q.exclude };
      if (!wk.models.has(q.key)) {
        job.model = this.models.get(q.key);
        wk.models.add(q.key);
      }
      wk.busy++;
      this.stats.batches++;
      this.stats.users += users.length;
      this.inflight.set(job.id, { batch, k, worker: wi });
      wk.w.postMessage(job);
    }
  }

  private done(wi: number, m: ServeReply): void {
    const f = this.inflight.get(m.id);
    this.inflight.delete(m.id);
    this.workers[wi]!.busy--;
    if (f) {
      if (m.error) for (const p of f.batch) p.reject(new Error(`serving worker failed: ${m.error}`));
      else
        f.batch.forEach((p, r) => {
          const off = r * f.k;
          p.resolve({ items: m.items!.slice(off, off + p.k), scores: m.scores!.slice(off, off + p.k), k: p.k });
        });
    }
    this.pump();
  }

  private failWorker(wi: number, e: Error): void {
    for (const [id, f] of this.inflight)
      if (f.worker === wi) {
        this.inflight.delete(id);
        for (const p of f.batch) p.reject(new Error(`serving worker died: ${e.message}`));
      }
    this.workers[wi] = this.spawn(wi);
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (process.env.RR_SERVE_STATS) console.error(`serve pool: ${this.stats.batches} batches, mean ${(this.stats.users / Math.max(1, this.stats.batches)).toFixed(1)} users`);
    for (const q of this.queue.values()) for (const p of q.items) p.reject(new Error('serving pool is closed'));
    this.queue.clear();
    await Promise.all(this.workers.map((x) => x.w.terminate()));
  }
}
