import type { Worker } from 'node:worker_threads';
import { data, type evaluator } from '@robustrec/contracts';
import { checkMemory, failedPrecondition, invalidArgument, resourceExhausted, Rng, RrError, startTsWorker, unavailable } from '@robustrec/core';
import { call, peerClient } from '@robustrec/grpc';
import type { ProjectInput, ProjectOutput } from './project-worker';
import type { LoadedTensors, ModelRegistry, StoredProjection } from './registry';

/** Genuine users a projection samples when the request says 0, and the most it may ask for. */
export const DEFAULT_SAMPLE = 1500;
export const MAX_SAMPLE = 5000;
export const DEFAULT_SEED = 2024;
/** Most points one projection holds (sampled genuine plus every fake user): bounds its time and answer. */
export const MAX_POINTS = 10_000;

/**
 * UMAP settings. nEpochs 200 (UMAP's own choice for large inputs; it would take 500 below
 * 2,500 points) bounds the time. Measured on the 2-core dev machine, worker start included:
 * 2,000 users × 64 dims 4.0 s (neighbour graph about 1.2 s, then 16 ms an epoch; 500 epochs
 * would take 8.9 s); 440 × 16 (the test) 1.3 s; the largest projection, 10,000 × 64, 21 s.
 */
export const UMAP_PARAMS = { nNeighbors: 15, minDist: 0.1, nEpochs: 200 } as const;

/** Concurrent fits: one (a fit keeps a core busy; the others score), and at most this many waiting. */
const MAX_WAITING = 16;

/** A model's user embeddings as rows of `dim` values `stride` apart in `data`. */
export interface UserTable {
  data: Float32Array;
  rows: number;
  dim: number;
  stride: number;
  /** What the rows are, for the record. */
  source: string;
}

/**
 * The user embeddings a projection uses. MF: its user table. LightGCN: `user_embedding`,
 * which the trainer exports already propagated (the layer mean the scores use; the layer-0
 * table is `ego_embedding`). NeuMF: the GMF half of each `user_embedding` row (the first
 * dim/2 columns), the part that meets the items in a dot product; the MLP half only means
 * something through the MLP. FAILED_PRECONDITION names the model when there is none.
 */
export function userTable(loaded: LoadedTensors): UserTable {
  const m = loaded.header;
  const t = loaded.tensors.user_embedding;
  const refuse = (why: string): RrError => failedPrecondition(`model ${m.id} (${m.backbone}) has no user embeddings to project: ${why}`);
  if (!t) throw refuse(`it holds no user_embedding tensor (it has ${Object.keys(loaded.tensors).join(', ') || 'none'})`);
  if (t.shape.length !== 2) throw refuse(`user_embedding has shape [${t.shape}], not [users, dim]`);
  const [rows, width] = t.shape as [number, number];
  if (rows !== m.numUsers) throw refuse(`user_embedding has ${rows} rows for ${m.numUsers} users`);
  if (m.backbone === 'neumf') {
    if (width % 2 !== 0) throw refuse(`NeuMF user rows of odd width ${width}`);
    return { data: t.data, rows, dim: width / 2, stride: width, source: 'user_embedding[:, :dim/2] (GMF)' };
  }
  return { data: t.data, rows, dim: width, stride: width, source: m.backbone === 'lightgcn' ? 'user_embedding (propagated)' : 'user_embedding' };
}

/**
 * The users of a projection, by increasing id: `sample` genuine users drawn with the seed
 * (all of them when there are fewer), then every fake user (ids numGenuine..numUsers-1).
 */
export function pickUsers(numGenuine: number, numUsers: number, sample: number, seed: number): Uint32Array {
  const genuine = sample >= numGenuine ? Array.from({ length: numGenuine }, (_, u) => u) : new Rng(seed).fork('project-users.sample').sample(numGenuine, sample);
  const users = new Uint32Array(genuine.length + (numUsers - numGenuine));
  users.set(Uint32Array.from(genuine).sort());
  for (let u = numGenuine, i = genuine.length; u < numUsers; u++, i++) users[i] = u;
  return users;
}

/** Runs UMAP fits on worker threads, one at a time, queueing a few. */
export class Projector {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly workers = new Set<Worker>();
  private closed = false;

  /**
   * Fits rows to 2-D; coords hold x, y per row. Seconds: the fit's wall time, queueing
   * excluded. A fit whose callers all left while it was queued (abandoned) is not started.
   */
  async fit(input: ProjectInput, abandoned: () => boolean = () => false): Promise<{ coords: Float32Array; seconds: number }> {
    await this.acquire();
    try {
      if (abandoned()) throw new RrError('CANCELLED', 'projection abandoned by its callers before it started');
      return await this.spawn(input);
    } finally {
      this.release();
    }
  }

  private async acquire(): Promise<void> {
    if (this.closed) throw unavailable('evaluator shutting down');
    if (this.running < 1) {
      this.running++;
      return;
    }
    if (this.waiting.length >= MAX_WAITING) throw resourceExhausted(`projections: ${this.waiting.length} are already waiting for the projection thread; try again later`);
    // the finishing fit hands its slot over (release), so running stays counted
    await new Promise<void>((r) => this.waiting.push(r));
    if (this.closed) throw unavailable('evaluator shutting down');
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }

  private spawn(input: ProjectInput): Promise<{ coords: Float32Array; seconds: number }> {
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const w = startTsWorker(new URL('./project-worker.ts', import.meta.url), input as unknown as Record<string, unknown>, { transferList: [input.rows.buffer as ArrayBuffer] });
      this.workers.add(w);
      let settled = false;
      const settle = (f: () => void): void => {
        if (settled) return;
        settled = true;
        f();
      };
      w.once('message', (m: ProjectOutput) => {
        settle(() => ('error' in m ? reject(new RrError('INTERNAL', `UMAP failed: ${m.error}`)) : resolve({ coords: m.coords, seconds: (performance.now() - t0) / 1000 })));
        void w.terminate();
      });
      w.once('error', (e) => settle(() => reject(new RrError('INTERNAL', `projection thread failed: ${e.message}`))));
      w.once('exit', () => {
        this.workers.delete(w);
        settle(() => reject(unavailable('projection stopped: the evaluator is shutting down')));
      });
    });
  }

  /** Stops running fits and refuses queued and later ones (UNAVAILABLE). */
  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.waiting.splice(0)) r();
    await Promise.all([...this.workers].map((w) => w.terminate()));
  }
}

const key = (modelId: string, sample: number, seed: number): string => `${modelId}\0${sample}\0${seed}`;

function toResponse(p: StoredProjection, cached: boolean): evaluator.ProjectUsersResponse {
  const points: evaluator.UserPoint[] = Array.from(p.users, (user, i) => ({ user, x: p.coords[2 * i]!, y: p.coords[2 * i + 1]!, fake: user >= p.numGenuineUsers }));
  return { points, method: p.method, modelId: p.modelId, numGenuineUsers: p.numGenuineUsers, numFakeUsers: p.numFakeUsers, cached, seconds: p.seconds };
}

/**
 * EvaluatorService.ProjectUsers: a model's user embeddings in 2-D (UMAP), fake users marked,
 * computed once per (model, sample, seed) and kept in the registry's store.
 */
export class UserProjections {
  /** Fits under way or queued, with whether each caller waiting for it has gone. */
  private readonly inflight = new Map<string, { result: Promise<StoredProjection>; gone: Array<() => boolean> }>();
  readonly projector = new Projector();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly dataAddress: string,
    private readonly budget: number,
  ) {}

  /** callerGone: whether the caller has left (its call cancelled or past its deadline). */
  async project(req: evaluator.ProjectUsersRequest, callerGone: () => boolean = () => false): Promise<evaluator.ProjectUsersResponse> {
    const sample = req.sample || DEFAULT_SAMPLE;
    if (sample > MAX_SAMPLE) throw invalidArgument('sample', `at most ${MAX_SAMPLE} genuine users, got ${sample}`);
    const seed = req.seed || DEFAULT_SEED;
    const model = this.registry.get(req.model);
    const stored = this.registry.getProjection(model.id, sample, seed);
    if (stored) return toResponse(stored, true);
    // concurrent calls for the same points share one fit
    const k = key(model.id, sample, seed);
    let f = this.inflight.get(k);
    if (f) f.gone.push(callerGone);
    else {
      const gone = [callerGone];
      const result = this.compute(model, sample, seed, () => gone.every((g) => g())).finally(() => this.inflight.delete(k));
      this.inflight.set(k, (f = { result, gone }));
    }
    return toResponse(await f.result, false);
  }

  private async compute(model: evaluator.Model, sample: number, seed: number, abandoned: () => boolean): Promise<StoredProjection> {
    if (!model.datasetId) throw failedPrecondition(`model ${model.id} records no dataset, so its fake users are unknown`);
    const dc = peerClient(data.DataServiceClient, this.dataAddress);
    const { dataset } = await call(dc, dc.getDataset, { id: model.datasetId }, { kind: 'lookup' });
    const numUsers = dataset!.numUsers;
    const numGenuine = dataset!.numGenuineUsers;
    const table = userTable(this.registry.load(model));
    if (table.rows !== numUsers) throw failedPrecondition(`model ${model.id} has ${table.rows} user rows, its dataset ${dataset!.id} has ${numUsers} users`);
    const numFake = numUsers - numGenuine;
    const n = Math.min(sample, numGenuine) + numFake;
    if (n > MAX_POINTS) throw resourceExhausted(`sample: ${Math.min(sample, numGenuine)} genuine plus ${numFake} fake users of dataset ${dataset!.id} exceed the ${MAX_POINTS} points a projection may hold`);
    if (n <= 2) throw failedPrecondition(`model ${model.id}: ${n} users to project; UMAP needs at least 3`);
    // the rows as float32, then as UMAP's arrays of numbers, and its neighbour graph
    checkMemory('sample', n * table.dim * 24 + n * UMAP_PARAMS.nNeighbors * 64, this.budget, `projecting ${n} users of ${table.dim} dims`);
    const users = pickUsers(numGenuine, numUsers, sample, seed);
    const rows = new Float32Array(n * table.dim);
    users.forEach((u, i) => rows.set(table.data.subarray(u * table.stride, u * table.stride + table.dim), i * table.dim));
    const nNeighbors = Math.min(UMAP_PARAMS.nNeighbors, n - 1);
    const fit = await this.projector.fit({ rows, n, dim: table.dim, seed: new Rng(seed).fork('project-users.umap').u32(), nNeighbors, minDist: UMAP_PARAMS.minDist, nEpochs: UMAP_PARAMS.nEpochs }, abandoned);
    const projection: StoredProjection = {
      modelId: model.id,
      sample,
      seed,
      method: 'umap',
      params: { ...UMAP_PARAMS, nNeighbors, source: table.source },
      numGenuineUsers: numGenuine,
      numFakeUsers: numFake,
      users,
      coords: fit.coords,
      seconds: fit.seconds,
    };
    this.registry.saveProjection(projection);
    return projection;
  }

  close(): Promise<void> {
    return this.projector.close();
  }
}
