import { evaluator } from '@robustrec/contracts';
import { failedPrecondition, type Csr, type InteractionData } from '@robustrec/core';
import { fetchInteractionData } from '@robustrec/grpc';
import { isDotProductScorer, topItems, type Scorer } from '@robustrec/scoring';
import { ServePool } from './serve-pool';
import { createScorer } from '@robustrec/models';
import type { ModelRegistry } from './registry';

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

/**
 * Loaded models for serving. Dot-product models (MF, LightGCN) are scored on the serving
 * worker pool, which batches whatever queues up while its workers are busy; other models
 * (NeuMF) are micro-batched per event-loop turn on this thread.
 */
export class ModelServer {
  private readonly loaded = new Map<string, Promise<ServedModel>>();
  /** name -> model id of the served version. */
  private readonly serving = new Map<string, string>();
  private readonly queues = new Map<string, { served: ServedModel; seen: Pending[]; unseen: Pending[] }>();
  private readonly pool: ServePool;

  constructor(private readonly registry: ModelRegistry, private readonly datasets: DatasetCache, opts: { threads?: number } = {}) {
    const env = process.env.ROBUSTREC_SERVE_THREADS;
    this.pool = new ServePool(opts.threads ?? (env ? Number(env) : undefined));
  }

  load(model: evaluator.Model): Promise<ServedModel> {
    let p = this.loaded.get(model.id);
    if (!p) {
      p = (async () => {
        const scorer = scorerFor(this.registry.load(model));
        const data = await this.datasets.get(model.datasetId);
        if (isDotProductScorer(scorer)) this.pool.add(model.id, scorer, data.train);
        return { model, scorer, seen: data.train };
      })();
      p.catch(() => this.loaded.delete(model.id));
      this.loaded.set(model.id, p);
    }
    return p;
  }

  /** Loads a version and makes it the served one of its name (atomic switch: requests already resolved finish on the old one). */
  async serve(model: evaluator.Model): Promise<ServedModel> {
    const s = await this.load(model);
    this.serving.set(model.name, model.id);
    return s;
  }

  /** Resolves a reference to a loaded model: explicit id/version, or the served version of a name. */
  async resolve(ref: evaluator.ModelRef | undefined): Promise<ServedModel> {
    if (ref && !ref.id && ref.name && !ref.version) {
      const id = this.serving.get(ref.name);
      // the hot path: no catalogue query for the served version of a name
      const hit = id ? this.loaded.get(id) : undefined;
      if (hit) return hit;
      if (id) return this.load(this.registry.get({ id, name: '', version: 0 }));
      return this.serve(this.registry.get(ref));
    }
    const hit = ref?.id ? this.loaded.get(ref.id) : undefined;
    return hit ?? this.load(this.registry.get(ref));
  }

  list(): Array<{ model: evaluator.Model; serving: boolean }> {
    return [...this.loaded.keys()].map((id) => {
      const model = this.registry.get({ id, name: '', version: 0 });
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

  close(): Promise<void> {
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
