import { invalidArgument, FIRST_FREE, startHelper, type Csr, type Helper } from '@robustrec/core';
import type { DotProductScorer, PackedItems, TopItems } from '@robustrec/scoring';

/** A dot-product model as the serving workers hold it: tables and mask in shared memory. */
export interface SharedDotModel {
  key: string;
  /** The number jobs name it by. */
  num: number;
  userEmb: Float32Array;
  itemEmb: Float32Array;
  /** The item table packed once in shared memory for every serving and batch-ranking thread (the first to use it packs). */
  packed: PackedItems;
  dim: number;
  numUsers: number;
  numItems: number;
  /** Rows masked when a request excludes seen items (the training interactions). */
  seen: { numRows: number; numCols: number; indptr: Uint32Array; indices: Uint32Array };
}

/**
 * What a serving worker is started with. Batches go back and forth over the platform's one
 * handoff (HelperLink in @robustrec/core; no postMessage per batch: structured cloning and
 * MessagePort dispatch cost more than the batch bookkeeping itself): the job's header is in
 * the link's user words (H), its users in `users`. Models, unloads and larger result buffers
 * are the messages of the next job (ServeControl), applied before it runs.
 */
export interface ServeInit {
  users: Uint32Array;
}

/** Control messages carried by a job. */
export type ServeControl =
  | { load: number; model: SharedDotModel }
  | { unload: number }
  | { results: { items: Int32Array; scores: Float32Array } };

/** The job header: link words [N] users, [K], [EXCLUDE] 0/1, [MODEL] model number. */
export const H = { N: FIRST_FREE, K: FIRST_FREE + 1, EXCLUDE: FIRST_FREE + 2, MODEL: FIRST_FREE + 3 } as const;

interface Worker_ {
  helper: Helper;
  users: Uint32Array;
  /** Control messages for its next job. */
  messages: ServeControl[];
  /** Its result buffers (users × k items and scores, -1/NaN padded), grown on demand. */
  items: Int32Array;
  scores: Float32Array;
  /** Models this worker has been sent. */
  models: Set<string>;
  /** The batch it is working on (one at a time) and that job's sequence number. */
  job: { seq: number; batch: Pending[]; k: number } | undefined;
}

interface Group {
  key: string;
  exclude: boolean;
  items: Pending[];
}

const MAX_CRASHES = 3;

const groupKey = (key: string, exclude: boolean): string => `${key}\0${exclude ? 1 : 0}`;

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
  // No Map or Set on the request path gains and loses an entry per request: the rehashes of a
  // long-lived Map keep finished requests alive through young GCs (docs/benchmarks.md, stop 13).
  // Workers hold their one batch in a field; queue groups are created once and stay.
  private readonly workers: Worker_[] = [];
  private readonly models = new Map<string, SharedDotModel>();
  /** Queued requests per (model, exclude) group; a group outlives its empty spells. */
  private readonly groups = new Map<string, Group>();
  private readonly order: Group[] = [];
  /** Round-robin position in order. */
  private next = 0;
  private nextModel = 0;
  private closed = false;
  /** Worker deaths since the last answered batch; past MAX_CRASHES the pool stops respawning (a worker that cannot start would loop). */
  private crashes = 0;
  private broken = '';
  /** Batches handed out and users in them (mean batch = users / batches). */
  readonly stats = { batches: 0, users: 0 };

  constructor(
    /** Worker threads. One: batches then grow under load (two split them into smaller ones: docs/benchmarks.md, "Evaluation and serving"). */
    readonly threads = 1,
    /** Largest batch handed to one worker; larger batches move clients in lockstep (docs/benchmarks.md, stop 12). */
    readonly maxBatch = 8,
  ) {
    for (let i = 0; i < threads; i++) this.workers.push(this.spawn(i));
  }

  /** Starts worker i (also after a crash: a fresh worker knows no models yet). */
  private spawn(i: number): Worker_ {
    const users = new Uint32Array(new SharedArrayBuffer(4 * this.maxBatch));
    const helper = startHelper(new URL('./serve-worker.ts', import.meta.url), 'serving', { users } satisfies ServeInit, { userWords: 4 });
    const wk: Worker_ = { helper, users, messages: [], items: new Int32Array(0), scores: new Float32Array(0), models: new Set(), job: undefined };
    helper.worker.on('error', (e) => this.failWorker(i, wk, e));
    helper.worker.on('exit', (code) => this.failWorker(i, wk, new Error(`exited with code ${code}`)));
    this.resultBuffers(wk, this.maxBatch * 64);
    return wk;
  }

  /** Gives worker wk result buffers for cap items and scores (shared, sent with its next job). */
  private resultBuffers(wk: Worker_, cap: number): void {
    wk.items = new Int32Array(new SharedArrayBuffer(4 * cap));
    wk.scores = new Float32Array(new SharedArrayBuffer(4 * cap));
    wk.messages.push({ results: { items: wk.items, scores: wk.scores } });
  }

  /** The handoffs to the workers (for the stress tests). */
  get links(): Array<Helper['link']> {
    return this.workers.map((w) => w.helper.link);
  }

  /** Shares a dot-product model with the workers (tables copied once into shared memory). */
  add(key: string, scorer: DotProductScorer, seen: Csr): void {
    if (this.models.has(key)) return;
    this.models.set(key, {
      key,
      num: this.nextModel++,
      userEmb: toShared(scorer.userEmb),
      itemEmb: toShared(scorer.itemEmb),
      packed: scorer.packed(),
      dim: scorer.dim,
      numUsers: scorer.numUsers,
      numItems: scorer.numItems,
      seen: { numRows: seen.numRows, numCols: seen.numCols, indptr: toShared(seen.indptr), indices: toShared(seen.indices) },
    });
  }

  /** Forgets a model (its workers drop their packed tables before their next job). */
  remove(key: string): void {
    const m = this.models.get(key);
    if (!m) return;
    this.models.delete(key);
    for (const exclude of [false, true]) {
      const g = this.groups.get(groupKey(key, exclude));
      if (!g) continue;
      this.groups.delete(groupKey(key, exclude));
      this.order.splice(this.order.indexOf(g), 1);
      for (const p of g.items.splice(0)) p.reject(new Error(`model ${key} was removed from the serving pool`));
    }
    for (const wk of this.workers) if (wk.models.delete(key)) wk.messages.push({ unload: m.num });
  }

  has(key: string): boolean {
    return this.models.has(key);
  }

  /** A model's shared tables (the batch path ranks them on the RankPool's threads without copies). */
  shared(key: string): SharedDotModel | undefined {
    return this.models.get(key);
  }

  /** Top-k of one user (best first, ties by lower id). */
  recommend(key: string, user: number, k: number, exclude: boolean): Promise<TopItems> {
    const m = this.models.get(key);
    if (!m) return Promise.reject(new Error(`model ${key} is not in the serving pool`));
    if (!Number.isInteger(k) || k < 1 || k > m.numItems) return Promise.reject(invalidArgument('k', `must be an integer in [1, ${m.numItems}], got ${k}`));
    if (!(user >= 0 && user < m.numUsers)) return Promise.reject(invalidArgument('user', `user ${user} out of range [0, ${m.numUsers})`));
    if (this.closed) return Promise.reject(new Error('serving pool is closed'));
    if (this.broken) return Promise.reject(new Error(`serving workers keep failing: ${this.broken}`));
    return new Promise((resolve, reject) => {
      const id = groupKey(key, exclude);
      let g = this.groups.get(id);
      if (!g) {
        this.groups.set(id, (g = { key, exclude, items: [] }));
        this.order.push(g);
      }
      g.items.push({ user, k, resolve, reject });
      this.pump();
    });
  }

  /** Hands queued groups to idle workers, taking the groups in turn. */
  private pump(): void {
    for (;;) {
      const wk = this.workers.find((x) => !x.job);
      if (!wk) return;
      const g = this.nextGroup();
      if (!g) return;
      const batch = g.items.splice(0, this.maxBatch);
      const m = this.models.get(g.key)!;
      const link = wk.helper.link;
      let k = 0;
      batch.forEach((p, i) => {
        wk.users[i] = p.user;
        k = Math.max(k, p.k);
      });
      if (batch.length * k > wk.items.length) this.resultBuffers(wk, Math.max(batch.length * k, 2 * wk.items.length));
      if (!wk.models.has(g.key)) {
        wk.models.add(g.key);
        wk.messages.push({ load: m.num, model: m });
      }
      const c = link.ctrl;
      Atomics.store(c, H.N, batch.length);
      Atomics.store(c, H.K, k);
      Atomics.store(c, H.EXCLUDE, g.exclude ? 1 : 0);
      Atomics.store(c, H.MODEL, m.num);
      this.stats.batches++;
      this.stats.users += batch.length;
      const seq = link.post(0, wk.messages.splice(0));
      wk.job = { seq, batch, k };
      link.settled().then(
        () => this.done(wk, seq),
        (e: unknown) => this.done(wk, seq, e),
      );
    }
  }

  /** The next group with queued requests after the last one served, if any. */
  private nextGroup(): Group | undefined {
    for (let i = 0; i < this.order.length; i++) {
      const g = this.order[(this.next + i) % this.order.length]!;
      if (g.items.length) {
        this.next = (this.next + i + 1) % this.order.length;
        return g;
      }
    }
    return undefined;
  }

  /** Job seq of worker wk has finished: answers its batch (copying out of the shared buffers, which the next job reuses). */
  private done(wk: Worker_, seq: number, error?: unknown): void {
    const f = wk.job;
    if (!f || f.seq !== seq || !this.workers.includes(wk)) return; // a worker replaced after a crash
    wk.job = undefined;
    if (error !== undefined) {
      const msg = error instanceof Error ? error.message : String(error);
      for (const p of f.batch) p.reject(new Error(msg));
    } else {
      this.crashes = 0;
      f.batch.forEach((p, r) => {
        const off = r * f.k;
        p.resolve({ items: wk.items.slice(off, off + p.k), scores: wk.scores.slice(off, off + p.k), k: p.k });
      });
    }
    this.pump();
  }

  /** Worker wk (slot wi) died: its batch fails, and a fresh worker takes the slot. */
  private failWorker(wi: number, wk: Worker_, e: Error): void {
    if (this.closed || this.workers[wi] !== wk) return; // closing, or already replaced ('error' then 'exit')
    for (const p of wk.job?.batch ?? []) p.reject(new Error(`serving worker died: ${e.message}`));
    wk.job = undefined;
    if (++this.crashes > MAX_CRASHES) {
      this.broken = e.message;
      for (const g of this.order) for (const p of g.items.splice(0)) p.reject(new Error(`serving workers keep failing: ${e.message}`));
      return;
    }
    this.workers[wi] = this.spawn(wi);
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (process.env.RR_SERVE_STATS) console.error(`serve pool: ${this.stats.batches} batches, mean ${(this.stats.users / Math.max(1, this.stats.batches)).toFixed(1)} users`);
    for (const g of this.order) for (const p of g.items.splice(0)) p.reject(new Error('serving pool is closed'));
    await Promise.all(this.workers.map((x) => x.helper.close()));
  }
}
