import { evaluator } from '@robustrec/contracts';
import { failedPrecondition, invalidArgument, type Csr, type InteractionData } from '@robustrec/core';
import { fetchInteractionData } from '@robustrec/grpc';
import { BLOCK, defaultThreads, isDotProductScorer, isPortableScorer, rankerOf, rankInSlices, rankPool, topItems, type PortableScorer, type Scorer } from '@robustrec/scoring';
import { ServePool } from './serve-pool';
import { createScorer } from '@robustrec/models';
import { checkAlias, LATEST, type ModelRegistry } from './registry';

/**
 * The one place that turns stored tensors into a scorer: each backbone's own definition in
 * @robustrec/models (dot-product backbones get the metrics library's SIMD scorer, NeuMF its MLP).
 */
export function scorerFor(loaded: { header: evaluator.Model; tensors: Record<string, { shape: number[]; data: Float32Array }> }): Scorer {
  try {
    return createScorer({ backbone: loaded.header.backbone, tensors: loaded.tensors });
  } catch (e) {
    throw failedPrecondition(`model ${loaded.header.id} (${loaded.header.backbone}) cannot be scored: ${e instanceof Error ? e.message : e}`);
  }
}

export interface ServedModel {
  model: evaluator.Model;
  scorer: Scorer;
  /** Training interactions of the model's dataset: masked unless include_seen. */
  seen: Csr;
}

/** Datasets fetched from the data service, cached (a few, least recently used evicted). */
export class DatasetCache {
  private readonly cache = new Map<string, Promise<InteractionData>>();
  constructor(private readonly dataAddress: string, private readonly capacity = 4) {}

  get(id: string): Promise<InteractionData> {
    let p = this.cache.get(id);
    if (p) {
      this.cache.delete(id);
      this.cache.set(id, p);
      return p;
    }
    p = fetchInteractionData(this.dataAddress, id).then((r) => r.data);
    p.catch(() => this.cache.delete(id));
    this.cache.set(id, p);
    while (this.cache.size > this.capacity) this.cache.delete(this.cache.keys().next().value!);
    return p;
  }
}

interface Pending {
  user: number;
  k: number;
  resolve(r: { items: number[]; scores: number[] }): void;
  reject(e: unknown): void;
}

/** Top-k lists of a batch: users × k, row by row, -1 (NaN) padded. */
export interface BatchTop {
  items: Int32Array;
  scores: Float32Array;
  k: number;
}

/** Batches at most this size go through the serving worker (per-request queue); larger ones through the ranking threads. */
const SMALL_BATCH = 16;
/** An integer setting from the environment, undefined when unset; out of [min, max] is refused by name. */
function envInt(name: string, min: number, max: number): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw invalidArgument(name, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v.slice(0, 20))}`);
  return n;
}

/** How long the scorer of the model evaluated last is kept for the next evaluation. */
const EVALUATED_KEPT_MS = 60_000;

const aliasKey = (name: string, alias: string): string => `${name}\0${alias}`;

/**
 * Loaded models for serving. Dot-product models (MF, LightGCN) are scored on the serving
 * worker pool, which batches whatever queues up while its workers are busy; other models
 * (NeuMF) are micro-batched per event-loop turn on this thread. Large batches (offline
 * scoring, OIP tensors of many users) go to the ranking threads (RankPool), block by block.
 *
 * Aliases. Invariant: a request resolves its model reference to one loaded version exactly
 * once, synchronously, from the in-memory map `aliases` (filled from the registry on a miss);
 * it is answered by that version whatever happens after. A promotion (promote) loads the new
 * version first, then in one synchronous step commits the registry's UPDATE and sets the map
 * entry, so no request can observe the database and the map disagreeing, and every request
 * is answered by exactly the version before or after the switch (test/promotion.e2e.test.ts).
 */
export class ModelServer {
  private readonly loaded = new Map<string, Promise<ServedModel>>();
  /** Settled loads (the synchronous hot path of resolve). */
  private readonly ready = new Map<string, ServedModel>();
  /** name -> model id of the served version. */
  private readonly serving = new Map<string, string>();
  /** name\0alias -> model id (a cache of the registry's aliases, kept by promote / dropAlias). */
  private readonly aliases = new Map<string, string>();
  /** name\0version -> model id (immutable once registered). */
  private readonly versions = new Map<string, string>();
  private readonly queues = new Map<string, { served: ServedModel; seen: Pending[]; unseen: Pending[] }>();
  private readonly pool: ServePool;
  private lastEvaluated?: { id: string; scorer: Scorer; timer: NodeJS.Timeout };

  constructor(private readonly registry: ModelRegistry, private readonly datasets: DatasetCache, opts: { threads?: number } = {}) {
    // serving threads and the pool's batch size, for tuning on a given machine (bench:serve); defaults ServePool's
    this.pool = new ServePool(opts.threads ?? envInt('ROBUSTREC_SERVE_THREADS', 1, 64), envInt('ROBUSTREC_SERVE_BATCH', 1, 256));
  }

  load(model: evaluator.Model): Promise<ServedModel> {
    let p = this.loaded.get(model.id);
    if (!p) {
      p = (async () => {
        const scorer = scorerFor(this.registry.load(model));
        const data = await this.datasets.get(model.datasetId);
        if (isDotProductScorer(scorer)) this.pool.add(model.id, scorer, data.train);
        const s = { model, scorer, seen: data.train };
        this.ready.set(model.id, s);
        return s;
      })();
      p.catch(() => this.loaded.delete(model.id));
      this.loaded.set(model.id, p);
    }
    return p;
  }

  /** The id of the version LoadModel made served for a name, if any. */
  servedId(name: string): string | undefined {
    return this.serving.get(name);
  }

  /**
   * A scorer for evaluating a model: the served one when the model is loaded (its tables and
   * packed item table already in memory), else the one evaluated last if it is this model
   * (kept a minute: the shards of a sharded evaluation reach a replica one after another, and
   * each would read the model file and pack its item table again), else read from the registry.
   */
  scorerForEvaluation(model: evaluator.Model): Scorer {
    const served = this.ready.get(model.id);
    if (served) return served.scorer;
    if (this.lastEvaluated?.id === model.id) {
      this.lastEvaluated.timer.refresh();
      return this.lastEvaluated.scorer;
    }
    const scorer = scorerFor(this.registry.load(model));
    if (this.lastEvaluated) clearTimeout(this.lastEvaluated.timer);
    const timer = setTimeout(() => (this.lastEvaluated = undefined), EVALUATED_KEPT_MS);
    timer.unref();
    this.lastEvaluated = { id: model.id, scorer, timer };
    return scorer;
  }

  /** Whether a model is loaded (OIP model readiness). */
  isLoaded(id: string): boolean {
    return this.ready.has(id);
  }

  /** Loads a version and makes it the served version of its name (atomic switch: requests already resolved finish on the old one). */
  async serve(model: evaluator.Model): Promise<ServedModel> {
    const s = await this.load(model);
    this.serving.set(model.name, model.id);
    return s;
  }

  /**
   * Moves alias of name to version (see the class comment): load first (a failure changes
   * nothing), then the registry's transaction and the in-memory switch in one synchronous step.
   */
  async promote(name: string, alias: string, version: number, expected?: number): Promise<{ alias: evaluator.Alias; previous: number }> {
    checkAlias('alias', alias, true);
    if (!name) throw invalidArgument('name', 'is required');
    if (!Number.isInteger(version) || version < 1) throw invalidArgument('version', `must be a version number (1..), got ${version}`);
    const model = this.registry.get({ id: '', name, version, alias: '' });
    await this.load(model);
    const r = this.registry.setAlias(name, alias, version, expected);
    this.aliases.set(aliasKey(name, alias), r.alias.modelId);
    return r;
  }

  dropAlias(name: string, alias: string): evaluator.Alias {
    const a = this.registry.deleteAlias(name, alias);
    this.aliases.delete(aliasKey(name, alias));
    return a;
  }

  /** The model id a reference names right now (registry look-up only on a cache miss). */
  private idOf(ref: evaluator.ModelRef | undefined): string {
    if (!ref || (!ref.id && !ref.name)) throw invalidArgument('model', 'give an id or a name');
    if (ref.id) return ref.id;
    if (ref.version) {
      const key = aliasKey(ref.name, String(ref.version));
      let id = this.versions.get(key);
      if (!id) this.versions.set(key, (id = this.registry.get(ref).id));
      return id;
    }
    if (ref.alias && ref.alias !== LATEST) {
      const key = aliasKey(ref.name, ref.alias);
      let id = this.aliases.get(key);
      if (!id) this.aliases.set(key, (id = this.registry.get(ref).id));
      return id;
    }
    if (!ref.alias) {
      const id = this.serving.get(ref.name);
      if (id) return id;
    }
    return this.registry.get({ id: '', name: ref.name, version: 0, alias: '' }).id;
  }

  /**
   * Resolves a reference to a loaded model: id; name + version; name + alias ("latest": the
   * newest version); or a name alone: the version LoadModel made served, else the newest
   * (which then becomes the served one).
   */
  resolve(ref: evaluator.ModelRef | undefined): Promise<ServedModel> {
    try {
      const plain = ref && !ref.id && !ref.version && !ref.alias && !this.serving.has(ref.name);
      const id = this.idOf(ref);
      const hit = this.ready.get(id);
      if (hit && !plain) return Promise.resolve(hit);
      const model = hit?.model ?? this.registry.get({ id, name: '', version: 0, alias: '' });
      return plain ? this.serve(model) : this.load(model);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  list(): Array<{ model: evaluator.Model; serving: boolean }> {
    return [...this.loaded.keys()].map((id) => {
      const model = this.registry.get({ id, name: '', version: 0, alias: '' });
      return { model, serving: this.serving.get(model.name) === id };
    });
  }

  /** Top-k for one user, batched with concurrent requests for the same model. */
  async recommend(served: ServedModel, user: number, k: number, includeSeen: boolean): Promise<{ items: number[]; scores: number[] }> {
    if (this.pool.has(served.model.id)) {
      const top = await this.pool.recommend(served.model.id, user, k, !includeSeen);
      return unpad(top.items, top.scores, 0, k);
    }
    return new Promise((resolve, reject) => {
      let q = this.queues.get(served.model.id);
      if (!q) {
        q = { served, seen: [], unseen: [] };
        this.queues.set(served.model.id, q);
        setImmediate(() => this.flush(served.model.id));
      }
      (includeSeen ? q.seen : q.unseen).push({ user, k, resolve, reject });
    });
  }

  /**
   * Top-k of a batch of users (checked by the caller: ids in range, 1 <= k <= items). Small
   * batches share the serving worker's queue with single requests; larger ones of dot-product
   * models are ranked on the ranking threads, which claim blocks of users (one kernel pass per block
   * of users, the evaluation's path), others on this thread in blocks between event-loop turns.
   */
  async recommendMany(served: ServedModel, users: Uint32Array, k: number, includeSeen: boolean): Promise<BatchTop> {
    const n = users.length;
    const shared = this.pool.shared(served.model.id);
    const scorer = served.scorer;
    if (n > SMALL_BATCH && (shared || isPortableScorer(scorer))) {
      // on the ranking threads: a dot-product model's shared tables, or a portable scorer (NeuMF) rebuilt there
      const u = new Uint32Array(new SharedArrayBuffer(Math.max(4, 4 * n)), 0, n);
      u.set(users);
      const items = new Int32Array(new SharedArrayBuffer(Math.max(4, 4 * n * k)), 0, n * k);
      const scores = new Float32Array(new SharedArrayBuffer(Math.max(4, 4 * n * k)), 0, n * k);
      const threads = Math.max(1, Math.min(defaultThreads(), Math.floor(n / (2 * BLOCK))));
      const share = { numItems: scorer.numItems, masks: includeSeen ? [] : [(shared?.seen ?? served.seen) as Csr], users: u, k, top: items, scores };
      await rankPool('async').runAsync(
        shared
          ? { ...share, userEmb: shared.userEmb, itemEmb: shared.itemEmb, dim: shared.dim, kernelKey: served.model.id, packed: shared.packed }
          : { ...share, scorer: (scorer as PortableScorer).portable() },
        n,
        threads,
      );
      return { items, scores, k };
    }
    const items = new Int32Array(n * k).fill(-1);
    const scores = new Float32Array(n * k).fill(Number.NaN);
    if (shared || n <= SMALL_BATCH) {
      const rs = await Promise.all(Array.from(users, (u) => this.recommend(served, u, k, includeSeen)));
      rs.forEach((r, i) => {
        items.set(r.items, i * k);
        scores.set(r.scores, i * k);
      });
      return { items, scores, k };
    }
    // slices of ~20 ms per event-loop turn: other requests are answered in between
    for (const _ of rankInSlices(rankerOf(served.scorer), users, 0, n, includeSeen ? [] : [served.seen], k, items, scores)) await new Promise<void>((r) => setImmediate(r));
    return { items, scores, k };
  }

  close(): Promise<void> {
    if (this.lastEvaluated) clearTimeout(this.lastEvaluated.timer);
    this.lastEvaluated = undefined;
    return this.pool.close();
  }

  private flush(id: string): void {
    const q = this.queues.get(id)!;
    this.queues.delete(id);
    for (const [group, exclude] of [[q.unseen, [q.served.seen]], [q.seen, []]] as const) {
      if (!group.length) continue;
      try {
        const k = Math.max(...group.map((p) => p.k));
        const top = topItems(q.served.scorer, Uint32Array.from(group.map((p) => p.user)), k, exclude);
        group.forEach((p, r) => p.resolve(unpad(top.items, top.scores, r * k, p.k)));
      } catch (e) {
        for (const p of group) p.reject(e);
      }
    }
  }
}

/** The first k entries at off of a -1-padded top list, as plain arrays. */
function unpad(items: Int32Array, scores: Float32Array, off: number, k: number): { items: number[]; scores: number[] } {
  const outItems: number[] = [];
  const outScores: number[] = [];
  for (let j = 0; j < k; j++) {
    const it = items[off + j]!;
    if (it < 0) break;
    outItems.push(it);
    outScores.push(scores[off + j]!);
  }
  return { items: outItems, scores: outScores };
}
