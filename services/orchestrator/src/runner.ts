import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { attack, common, data, evaluator, trainer } from '@robustrec/contracts';
import { canonicalJson, datasetsDir, RrError } from '@robustrec/core';
import { call, callOptions, createClient, fromServiceError, iterate } from '@robustrec/grpc';
import { ReplicaPool, type ReplicaPoolOptions } from './replicas';
import { jobOptionsToProto, trainConfigToProto } from '@robustrec/models';
import type { AttackSpec, Cell, DatasetSpec, ExperimentSpec } from './spec';
import { expandCells, poisons } from './spec';
import type { CellRecord, ExperimentStore } from './store';

/**
 * Addresses of the services an experiment drives; several trainers/attackers spread the
 * cells. Trainers and attackers are replica sources (replicas.ts): "host:port", or
 * "dns:///name:port" / "srv:///_grpc._tcp.name" discovered through DNS.
 */
export interface Endpoints {
  data: string;
  evaluator: string;
  trainers: string[];
  attackers: string[];
}

export interface RunEvents {
  cellStart?(cell: Cell, index: number, total: number): void;
  /** The cell's record changed (its replica was assigned, its job started or moved). */
  cellUpdate?(record: CellRecord): void;
  cellSkip?(cell: Cell, record: CellRecord): void;
  epoch?(cell: Cell, epoch: number, epochs: number, metrics: common.Metric[], etaSeconds: number): void;
  cellDone?(cell: Cell, record: CellRecord): void;
  log?(message: string): void;
}

const metricKey = (m: common.Metric): string => (m.k ? `${m.name}@${m.k}` : m.name);

/** How long the orchestrator keeps trying to reach a trainer that went away (restart, network). */
export interface ReconnectPolicy {
  /** Attempts after a failure before the cell fails (default 40). */
  attempts: number;
  /** First delay; doubles up to maxDelayMs (defaults 250 ms and 3 s: about 2 minutes in all). */
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { attempts: 40, initialDelayMs: 250, maxDelayMs: 3_000 };

/** Job states a job never leaves. */
export const TERMINAL = new Set([trainer.JobState.JOB_STATE_SUCCEEDED, trainer.JobState.JOB_STATE_FAILED, trainer.JobState.JOB_STATE_CANCELLED]);

/** The replica a cell's job ran on vanished: the cell moves to another one. */
class ReplicaLost extends Error {
  constructor(readonly replica: string, readonly reason: string) {
    super(`trainer ${replica} lost: ${reason}`);
  }
}

/** Abort reason of an orchestrator that stops: running jobs are left running on their trainers. */
export const SHUTDOWN = 'orchestrator shutting down';

export interface RunOptions {
  /** Aborting stops starting cells and cancels the running cells' jobs on their trainers. */
  signal?: AbortSignal;
}

/**
 * Drives data -> attack -> trainer -> evaluator over gRPC only. Every cell's outcome is
 * stored; finished cells are skipped on a re-run; shared steps (imports, attacks) are
 * memoised so that a dataset or an attack is produced once per spec.
 *
 * Cells are spread over the trainer replicas (one leased slot per running cell, see
 * ReplicaPool); each cell's job is pinned to the replica that owns it (stored with the
 * cell, so a re-run reattaches there), and a cell whose replica vanishes runs again on
 * another one: the same replica coming back within the pool's lostAfterMs keeps the job
 * (it resumes from its checkpoint on that replica's volume).
 */
export class Orchestrator {
  private readonly inflight = new Map<string, Promise<string>>();
  readonly trainers: ReplicaPool;
  readonly attackers: ReplicaPool | undefined;
  private readonly ownPools: boolean;

  constructor(
    private readonly endpoints: Endpoints,
    private readonly store: ExperimentStore,
    private readonly events: RunEvents = {},
    private readonly reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
    pools?: { trainers: ReplicaPool; attackers?: ReplicaPool } | ReplicaPoolOptions,
  ) {
    if (!endpoints.trainers.length) throw new RrError('INVALID_ARGUMENT', 'at least one trainer address is required');
    if (pools && 'trainers' in pools) {
      this.trainers = pools.trainers;
      this.attackers = pools.attackers;
      this.ownPools = false;
    } else {
      this.trainers = new ReplicaPool('trainer', endpoints.trainers, pools);
      this.attackers = endpoints.attackers.length ? new ReplicaPool('attack', endpoints.attackers, { ...pools, slots: Number.MAX_SAFE_INTEGER }) : undefined;
      this.ownPools = true;
    }
  }

  async run(spec: ExperimentSpec, opts: RunOptions = {}): Promise<CellRecord[]> {
    const cells = expandCells(spec);
    this.store.putSpec(spec);
    if (this.ownPools) {
      await this.trainers.start();
      await this.attackers?.start();
    }
    let started = 0;
    const running = new Set<Promise<void>>();
    try {
      for (const cell of cells) {
        const done = this.store.get(spec.name, cell.key);
        if (done?.state === 'done') {
          this.events.cellSkip?.(cell, done);
          continue;
        }
        // a slot on a trainer, preferably the one that owns the cell's job from an earlier run
        let replica: string;
        try {
          replica = await this.trainers.acquire(opts.signal, done?.replica || undefined);
        } catch (e) {
          if (opts.signal?.aborted) break;
          throw e;
        }
        this.events.cellStart?.(cell, started++, cells.length);
        const p: Promise<void> = this.runCell(spec, cell, replica, opts.signal).then((r) => {
          this.events.cellDone?.(cell, r.record);
          if (r.replica) this.trainers.release(r.replica);
          running.delete(p);
        });
        running.add(p);
      }
      await Promise.all(running);
    } finally {
      if (this.ownPools) {
        this.trainers.close();
        this.attackers?.close();
      }
    }
    return this.store.list(spec.name);
  }

  /** Runs a cell holding a slot on `replica`; resolves to its record and the replica whose slot it holds at the end. */
  private async runCell(spec: ExperimentSpec, cell: Cell, replica: string, signal?: AbortSignal): Promise<{ record: CellRecord; replica: string }> {
    const t0 = performance.now();
    const earlierRun = this.store.get(spec.name, cell.key);
    const rec = cellRecord(spec, cell, 'running');
    // an interrupted earlier run's job: reattach to it where it runs
    if (earlierRun?.replica === replica && earlierRun.jobId) rec.jobId = earlierRun.jobId;
    rec.lostReplicas = earlierRun?.lostReplicas ?? [];
    rec.replica = replica;
    this.store.upsert(rec);
    this.events.cellUpdate?.(rec);
    const holder = { replica };
    try {
      const cleanId = await this.once(`dataset:${canonicalJson(cell.dataset)}`, () => this.importDataset(cell.dataset));
      rec.datasetId = poisons(cell.attack)
        ? await this.once(`attack:${cleanId}:${canonicalJson(cell.attack)}`, () => this.poison(cleanId, cell.attack))
        : cleanId;
      this.store.upsert(rec);
      let secondsPerEpoch: number;
      const earlier = this.sameTraining(cell, rec.datasetId);
      if (earlier) {
        // The same training config on the same dataset was done by another cell (e.g. a
        // sweep point equal to a grid cell): reuse its model, evaluate with this cell's ks.
        this.events.log?.(`cell ${cell.attack.name}/${cell.model.variant}/seed ${cell.seed}: reusing the model trained for ${earlier.specName}/${earlier.variant}`);
        rec.jobId = earlier.jobId;
        rec.modelId = earlier.modelId;
        rec.versions = earlier.versions;
        secondsPerEpoch = earlier.metrics.seconds_per_epoch!;
      } else {
        const job = await this.train(spec, cell, rec, holder, signal);
        rec.jobId = job.id;
        rec.modelId = job.modelId;
        rec.versions = job.provenance?.versions ?? {};
        secondsPerEpoch = job.secondsPerEpoch;
      }
      // Poisoned data carries its targets in its lineage; on clean data, targets named in the
      // spec give the clean model's T-HR on them (the baseline an attack must beat).
      const ev = await this.evaluate(rec.modelId, rec.datasetId, cell.ks, poisons(cell.attack) ? [] : (cell.attack.targets ?? []));
      rec.evaluationId = ev.id;
      rec.metrics = {
        ...Object.fromEntries(ev.metrics.map((m) => [metricKey(m), m.value])),
        seconds_per_epoch: secondsPerEpoch,
      };
      rec.state = 'done';
    } catch (e) {
      rec.state = 'failed';
      const err = fromServiceError(e);
      rec.error = e instanceof Error ? e.message : String(e);
      // the status code says whose fault it was: a bad spec, a broken plug-in, an unreachable service
      rec.errorCode = err.code;
      this.events.log?.(`cell ${cell.dataset.name}/${cell.attack.name}/${cell.model.variant}/seed ${cell.seed} failed: ${err.code}: ${rec.error}`);
    }
    rec.seconds = (performance.now() - t0) / 1000;
    this.store.upsert({ ...rec, finishedAt: new Date().toISOString() });
    return { record: this.store.get(spec.name, cell.key)!, replica: holder.replica };
  }

  /**
   * Memoised (in the store and in flight) shared step; its value is a dataset id. A stored id
   * is checked with the data service first: a store copied into a fresh home (a committed
   * results snapshot) remembers datasets that this data service never saw, and the step then
   * runs again (ids are content-derived, so it yields the same id).
   */
  private once(key: string, fn: () => Promise<string>): Promise<string> {
    let p = this.inflight.get(key);
    if (!p) {
      p = (async () => {
        const stored = this.store.memo(key);
        if (stored !== undefined && (await this.datasetExists(stored))) return stored;
        if (stored !== undefined) this.events.log?.(`${key.slice(0, key.indexOf(':'))} ${stored}: not in the data service; producing it again`);
        const v = await fn();
        this.store.setMemo(key, v);
        return v;
      })();
      p.catch(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async datasetExists(id: string): Promise<boolean> {
    const c = createClient(data.DataServiceClient, this.endpoints.data);
    try {
      await call(c, c.getDataset, { id }, { kind: 'lookup' });
      return true;
    } catch (e) {
      if (fromServiceError(e).code === 'NOT_FOUND') return false;
      throw e;
    } finally {
      c.close();
    }
  }

  private async importDataset(d: DatasetSpec): Promise<string> {
    const c = createClient(data.DataServiceClient, this.endpoints.data);
    try {
      const req = datasetRequest(d);
      const res = await call(c, c.importDataset, req, { kind: 'work' });
      this.events.log?.(`dataset ${d.name}: ${res.dataset!.id} (${res.dataset!.numUsers} users, ${res.dataset!.numItems} items${res.existed ? ', already stored' : ''})`);
      return res.dataset!.id;
    } finally {
      c.close();
    }
  }

  private async poison(datasetId: string, a: AttackSpec): Promise<string> {
    const dc = createClient(data.DataServiceClient, this.endpoints.data);
    try {
      if (a.profiles) {
        const path = isAbsolute(a.profiles) ? a.profiles : join(datasetsDir(), a.profiles);
        const imp = await call(dc, dc.importProfileSet, { datasetId, path, json: '', minLength: a.minLength ?? 10, generator: a.name.toLowerCase() }, { kind: 'work' });
        const res = await call(dc, dc.derivePoisonedDataset, { datasetId, profileSetId: imp.profileSet!.id, name: '' }, { kind: 'work' });
        this.events.log?.(`attack ${a.name}: imported ${imp.profileSet!.numProfiles} profiles (${imp.dropped} dropped) -> ${res.dataset!.id}`);
        return res.dataset!.id;
      }
      if (!this.attackers) throw new RrError('FAILED_PRECONDITION', `attack ${a.name} needs an attack service address`);
      // the least busy attack replica; one that is unreachable is left for the next
      const tried = new Set<string>();
      for (;;) {
        const address = await this.attackers.acquire(undefined, this.attackers.live().find((x) => !tried.has(x)));
        tried.add(address);
        try {
          const out = await this.generate(address, datasetId, a);
          this.attackers.succeeded(address);
          return out;
        } catch (e) {
          const err = fromServiceError(e);
          if (err.code !== 'UNAVAILABLE' || this.attackers.live().every((x) => tried.has(x))) throw err;
          this.events.log?.(`attack ${a.name}: attack service ${address} unavailable (${err.message}); trying another`);
          await this.attackers.failed(address);
        } finally {
          this.attackers.release(address);
        }
      }
    } finally {
      dc.close();
    }
  }

  private async generate(address: string, datasetId: string, a: AttackSpec): Promise<string> {
    {
      const ac = createClient(attack.AttackServiceClient, address);
      try {
        const sel = { unpopular: attack.TargetSelection.TARGET_SELECTION_UNPOPULAR, popular: attack.TargetSelection.TARGET_SELECTION_POPULAR, random: attack.TargetSelection.TARGET_SELECTION_RANDOM };
        const config: attack.AttackConfig = {
          generator: { name: a.generator!, params: a.params ?? {}, options: a.options ?? {} },
          targetItems: a.targets ?? [],
          numTargets: a.numTargets ?? 0,
          targetSelection: a.targetSelection ? sel[a.targetSelection] : attack.TargetSelection.TARGET_SELECTION_UNSPECIFIED,
          budgetFraction: a.budget ?? 0,
          numFakeUsers: 0,
          profileLength: a.profileLength ?? 0,
          seed: a.seed ?? 2024,
        };
        let poisoned = '';
        for await (const ev of iterate(ac.generate({ datasetId, config, derivePoisoned: true, timeoutSeconds: 0 }, callOptions('watch')))) {
          if (ev.result) {
            poisoned = ev.result.poisonedDataset!.id;
            this.events.log?.(`attack ${a.name}: generated ${ev.result.profileSet!.numProfiles} profiles in ${ev.result.seconds.toFixed(1)} s -> ${poisoned}`);
          }
        }
        if (!poisoned) throw new RrError('INTERNAL', `attack ${a.name}: the attack service sent no result`);
        return poisoned;
      } finally {
        ac.close();
      }
    }
  }

  /** A finished cell of any spec in this store that trained exactly this config on this dataset. */
  private sameTraining(cell: Cell, datasetId: string): CellRecord | undefined {
    const want = trainingIdentity(cell);
    return this.store.list().find((c) => c.state === 'done' && c.datasetId === datasetId && c.modelId !== '' && trainingIdentity(c.config as Cell) === want);
  }

  /**
   * Trains a cell on the replica whose slot it holds (holder.replica) and watches the job to
   * its end. A replica that restarts is reached again (the job survives it, see the trainer's
   * JobScheduler, and the idempotency key reattaches a StartJob); one that the pool declares
   * lost (gone from DNS, or failing for lostAfterMs) is left: the cell takes a slot on another
   * replica and its job starts there (the lost one's checkpoint is on that replica's volume).
   */
  private async train(spec: ExperimentSpec, cell: Cell, rec: CellRecord, holder: { replica: string }, signal?: AbortSignal): Promise<trainer.Job> {
    for (;;) {
      try {
        return await this.trainOn(spec, cell, rec, holder.replica, signal);
      } catch (e) {
        if (!(e instanceof ReplicaLost)) throw e;
        this.events.log?.(`cell ${cell.attack.name}/${cell.model.variant}/seed ${cell.seed}: ${e.message}; moving it to another trainer`);
        rec.lostReplicas = [...(rec.lostReplicas ?? []), e.replica];
        rec.jobId = '';
        this.trainers.release(holder.replica);
        holder.replica = '';
        holder.replica = await this.trainers.acquire(signal);
        rec.replica = holder.replica;
        this.store.upsert(rec);
        this.events.cellUpdate?.(rec);
      }
    }
  }

  private async trainOn(spec: ExperimentSpec, cell: Cell, rec: CellRecord, address: string, signal?: AbortSignal): Promise<trainer.Job> {
    // a trainer that restarts must be reached again within seconds, not after grpc-js's default
    // reconnect backoff (up to 2 minutes)
    const c = createClient(trainer.TrainerServiceClient, address, {
      options: { 'grpc.initial_reconnect_backoff_ms': this.reconnect.initialDelayMs, 'grpc.max_reconnect_backoff_ms': this.reconnect.maxDelayMs },
    });
    let watch: { cancel(): void } | undefined;
    let jobId = '';
    const onAbort = (): void => {
      watch?.cancel();
      // best effort: the job stops on its trainer too, unless the orchestrator is only shutting
      // down (a restarted one reattaches to the job)
      if (jobId && signal?.reason !== SHUTDOWN) call(c, c.cancelJob, { id: jobId }).catch(() => undefined);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal?.aborted) throw new RrError('CANCELLED', 'experiment cancelled');
      // The idempotency key makes a re-run (after a crash) reattach to the same job on this replica.
      const start = { datasetId: rec.datasetId, config: trainConfigOf(cell), options: jobOptionsOf(cell), name: `${spec.name}/${cell.model.variant}`, idempotencyKey: `${spec.name}:${cell.key}` };
      let last = (await this.retrying(address, 'StartJob', () => call(c, c.startJob, start))).job!;
      jobId = last.id;
      if (signal?.aborted) onAbort();
      if (rec.jobId !== last.id) {
        rec.jobId = last.id;
        this.store.upsert(rec);
        this.events.cellUpdate?.(rec);
      }
      await this.retrying(address, `WatchJob ${last.id}`, async (progressed) => {
        const stream = c.watchJob({ id: last.id }, callOptions('watch'));
        watch = stream;
        for await (const ev of iterate(stream)) {
          last = ev.job!;
          progressed();
          if (ev.progress) this.events.epoch?.(cell, ev.progress.epoch, ev.progress.epochs, ev.progress.metrics, ev.progress.etaSeconds);
        }
        if (!TERMINAL.has(last.state)) throw new RrError('UNAVAILABLE', `the watch of job ${last.id} ended while it was ${trainer.jobStateToJSON(last.state)}`);
      }, signal);
      if (last.state !== trainer.JobState.JOB_STATE_SUCCEEDED)
        throw new RrError(signal?.aborted ? 'CANCELLED' : 'ABORTED', `training job ${last.id} ended ${trainer.jobStateToJSON(last.state)}${last.error ? `: ${last.error}` : ''}`);
      return last;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      c.close();
    }
  }

  /**
   * Runs fn until it succeeds, retrying on UNAVAILABLE with backoff for at most
   * reconnect.attempts failures in a row (fn calls progressed() when it got through), unless
   * the trainer pool declares the replica lost first (ReplicaLost).
   */
  private async retrying<T>(address: string, what: string, fn: (progressed: () => void) => Promise<T>, signal?: AbortSignal): Promise<T> {
    let failures = 0;
    for (let delay = this.reconnect.initialDelayMs; ; delay = Math.min(2 * delay, this.reconnect.maxDelayMs)) {
      try {
        const out = await fn(() => {
          failures = 0;
          delay = this.reconnect.initialDelayMs;
          this.trainers.succeeded(address);
        });
        this.trainers.succeeded(address);
        return out;
      } catch (e) {
        if (signal?.aborted) throw new RrError('CANCELLED', 'experiment cancelled');
        const err = fromServiceError(e);
        if (err.code !== 'UNAVAILABLE') throw err;
        if (await this.trainers.failed(address)) throw new ReplicaLost(address, `${what}: ${err.message}`);
        if (++failures > this.reconnect.attempts)
          throw new RrError('UNAVAILABLE', `trainer ${address}: ${what} failed ${failures} times in a row, last: ${err.message}`);
        this.events.log?.(`trainer ${address}: ${what}: ${err.message}; retrying in ${delay} ms (${failures}/${this.reconnect.attempts})`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async evaluate(modelId: string, datasetId: string, ks: number[], targetItems: number[]): Promise<evaluator.Evaluation> {
    const c = createClient(evaluator.EvaluatorServiceClient, this.endpoints.evaluator);
    try {
      const res = await call(c, c.evaluate, { model: { id: modelId, name: '', version: 0 }, datasetId, split: common.Split.SPLIT_TEST, ks, targetItems }, { kind: 'work' });
      return res.evaluation!;
    } finally {
      c.close();
    }
  }
}

const lightgcnDir = (d: DatasetSpec): string | undefined => (d.lightgcn ? (isAbsolute(d.lightgcn) ? d.lightgcn : join(datasetsDir(), d.lightgcn)) : undefined);

/** Whether a spec's LightGCN directory is missing and its fallback source is used instead. */
export function usesFallback(d: DatasetSpec): boolean {
  const dir = lightgcnDir(d);
  return dir !== undefined && !!d.fallback && !existsSync(join(dir, 'train.txt'));
}

/** DatasetSpec -> ImportDatasetRequest, falling back when a LightGCN directory is missing. */
export function datasetRequest(d: DatasetSpec): data.ImportDatasetRequest {
  const merge = false; // the split is kept; training on train ∪ valid is a trainer option
  const src = usesFallback(d) ? d.fallback! : d;
  const req: data.ImportDatasetRequest = { name: d.name };
  if (src.synthetic) req.synthetic = { numUsers: 0, numItems: 0, meanInteractions: 0, popularityExponent: 0, clusters: 0, seed: 0, ...src.synthetic };
  else if (src.catalogue) req.catalogue = { name: src.catalogue, mergeValidIntoTrain: merge };
  else if (src.interactions) req.interactions = { delimiter: '', hasHeader: false, userColumn: '', itemColumn: '', timestampColumn: '', ratingColumn: '', minRating: 0, ...src.interactions } as data.InteractionFileSource;
  else if (src.lightgcn) req.lightgcn = { directory: lightgcnDir(src as DatasetSpec)!, mergeValidIntoTrain: merge };
  return req;
}

/** The trainer config a cell asks for (the spec's train section, its model, its seed). */
export function trainConfigOf(cell: Cell): trainer.TrainConfig {
  const { evalEvery: _jobOption, ...options } = cell.train;
  return trainConfigToProto({
    ...options,
    backbone: { name: cell.model.backbone, params: cell.model.backboneParams ?? {}, options: {} },
    defense: { name: cell.model.defense ?? 'none', params: cell.model.params ?? {}, options: cell.model.options ?? {} },
    seed: cell.seed,
  });
}

/** How a cell's job runs: the dataset's trainOnValid and the spec's evalEvery. */
export const jobOptionsOf = (cell: Cell): trainer.JobOptions => jobOptionsToProto({ trainOnValid: cell.dataset.trainOnValid ?? false, evalEvery: cell.train.evalEvery ?? 0 });

/** What makes two cells' trainings the same: config and job options (trainOnValid changes the data). */
const trainingIdentity = (cell: Cell): string => canonicalJson([trainConfigOf(cell), jobOptionsOf(cell)]);

/** A cell's record before it has results: its identity from the spec, in `state`. */
export function cellRecord(spec: ExperimentSpec, cell: Cell, state: CellRecord['state']): CellRecord {
  return {
    specName: spec.name,
    key: cell.key,
    dataset: usesFallback(cell.dataset) ? `${cell.dataset.name} (fallback data)` : cell.dataset.name,
    attack: cell.attack.name,
    model: cell.model.name,
    variant: cell.model.variant,
    sweepParam: cell.model.sweepParam ?? '',
    sweepValue: cell.model.sweepValue ?? null,
    seed: cell.seed,
    state,
    datasetId: '',
    jobId: '',
    modelId: '',
    evaluationId: '',
    metrics: {},
    config: cell,
    versions: {},
    error: '',
    errorCode: '',
    seconds: 0,
    finishedAt: '',
  };
}
