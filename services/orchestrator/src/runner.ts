import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { attack, common, data, evaluator, trainer } from '@robustrec/contracts';
import { credentials } from '@grpc/grpc-js';
import { canonicalJson, datasetsDir, RrError } from '@robustrec/core';
import { call, callOptions, channelOptions, createClient, fromServiceError, iterate } from '@robustrec/grpc';
import { jobOptionsToProto, trainConfigToProto } from '@robustrec/models';
import type { AttackSpec, Cell, DatasetSpec, ExperimentSpec } from './spec';
import { expandCells, poisons } from './spec';
import type { CellRecord, ExperimentStore } from './store';

/** Addresses of the services an experiment drives; several trainers/attackers spread the cells. */
export interface Endpoints {
  data: string;
  evaluator: string;
  trainers: string[];
  attackers: string[];
}

export interface RunEvents {
  cellStart?(cell: Cell, index: number, total: number): void;
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

const TERMINAL = new Set([trainer.JobState.JOB_STATE_SUCCEEDED, trainer.JobState.JOB_STATE_FAILED, trainer.JobState.JOB_STATE_CANCELLED]);

/**
 * Drives data -> attack -> trainer -> evaluator over gRPC only. Every cell's outcome is
 * stored; finished cells are skipped on a re-run; shared steps (imports, attacks) are
 * memoised so that a dataset or an attack is produced once per spec.
 */
export class Orchestrator {
  private readonly inflight = new Map<string, Promise<string>>();
  private rr = 0;

  constructor(
    private readonly endpoints: Endpoints,
    private readonly store: ExperimentStore,
    private readonly events: RunEvents = {},
    private readonly reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
  ) {
    if (!endpoints.trainers.length) throw new RrError('INVALID_ARGUMENT', 'at least one trainer address is required');
  }

  async run(spec: ExperimentSpec): Promise<CellRecord[]> {
    const cells = expandCells(spec);
    let next = 0;
    let started = 0;
    // One lane per trainer: each lane takes the next pending cell and runs it on its trainer.
    const lanes = this.endpoints.trainers.map(async (trainerAddress) => {
      while (next < cells.length) {
        const cell = cells[next++]!;
        const done = this.store.get(spec.name, cell.key);
        if (done?.state === 'done') {
          this.events.cellSkip?.(cell, done);
          continue;
        }
        this.events.cellStart?.(cell, started++, cells.length);
        const rec = await this.runCell(spec, cell, trainerAddress);
        this.events.cellDone?.(cell, rec);
      }
    });
    await Promise.all(lanes);
    return this.store.list(spec.name);
  }

  private base(spec: ExperimentSpec, cell: Cell): CellRecord {
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
      state: 'running',
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

  private async runCell(spec: ExperimentSpec, cell: Cell, trainerAddress: string): Promise<CellRecord> {
    const t0 = performance.now();
    const rec = this.base(spec, cell);
    this.store.upsert(rec);
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
        const job = await this.train(spec, cell, rec.datasetId, trainerAddress);
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
    return this.store.get(spec.name, cell.key)!;
  }

  /** Memoised (in the store and in flight) shared step. */
  private once(key: string, fn: () => Promise<string>): Promise<string> {
    const stored = this.store.memo(key);
    if (stored) return Promise.resolve(stored);
    let p = this.inflight.get(key);
    if (!p) {
      p = fn().then((v) => {
        this.store.setMemo(key, v);
        return v;
      });
      p.catch(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
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
      const address = this.endpoints.attackers[this.rr++ % Math.max(1, this.endpoints.attackers.length)];
      if (!address) throw new RrError('FAILED_PRECONDITION', `attack ${a.name} needs an attack service address`);
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
    } finally {
      dc.close();
    }
  }

  /** A finished cell of any spec in this store that trained exactly this config on this dataset. */
  private sameTraining(cell: Cell, datasetId: string): CellRecord | undefined {
    const want = trainingIdentity(cell);
    return this.store.list().find((c) => c.state === 'done' && c.datasetId === datasetId && c.modelId !== '' && trainingIdentity(c.config as Cell) === want);
  }

  /**
   * Starts (or, by its idempotency key, reattaches to) the cell's training job and watches it
   * to its end. The trainer may restart meanwhile (a job survives it, see the trainer's
   * JobScheduler): a failed StartJob or a lost WatchJob stream is retried under the
   * reconnect policy, and each retry that gets through resets the count.
   */
  private async train(spec: ExperimentSpec, cell: Cell, datasetId: string, address: string): Promise<trainer.Job> {
    // a trainer that restarts must be reached again within seconds, not after grpc-js's default
    // reconnect backoff (up to 2 minutes)
    const c = new trainer.TrainerServiceClient(address, credentials.createInsecure(), {
      ...channelOptions,
      'grpc.initial_reconnect_backoff_ms': this.reconnect.initialDelayMs,
      'grpc.max_reconnect_backoff_ms': this.reconnect.maxDelayMs,
    });
    try {
      // The idempotency key makes a re-run (after a crash) reattach to the same job.
      const start = { datasetId, config: trainConfigOf(cell), options: jobOptionsOf(cell), name: `${spec.name}/${cell.model.variant}`, idempotencyKey: `${spec.name}:${cell.key}` };
      let last = (await this.retrying(address, 'StartJob', () => call(c, c.startJob, start))).job!;
      await this.retrying(address, `WatchJob ${last.id}`, async (progressed) => {
        for await (const ev of iterate(c.watchJob({ id: last.id }, callOptions('watch')))) {
          last = ev.job!;
          progressed();
          if (ev.progress) this.events.epoch?.(cell, ev.progress.epoch, ev.progress.epochs, ev.progress.metrics, ev.progress.etaSeconds);
        }
        if (!TERMINAL.has(last.state)) throw new RrError('UNAVAILABLE', `the watch of job ${last.id} ended while it was ${trainer.jobStateToJSON(last.state)}`);
      });
      if (last.state !== trainer.JobState.JOB_STATE_SUCCEEDED)
        throw new RrError('ABORTED', `training job ${last.id} ended ${trainer.jobStateToJSON(last.state)}${last.error ? `: ${last.error}` : ''}`);
      return last;
    } finally {
      c.close();
    }
  }

  /**
   * Runs fn until it succeeds, retrying on UNAVAILABLE with backoff for at most
   * reconnect.attempts failures in a row (fn calls progressed() when it got through).
   */
  private async retrying<T>(address: string, what: string, fn: (progressed: () => void) => Promise<T>): Promise<T> {
    let failures = 0;
    for (let delay = this.reconnect.initialDelayMs; ; delay = Math.min(2 * delay, this.reconnect.maxDelayMs)) {
      try {
        return await fn(() => {
          failures = 0;
          delay = this.reconnect.initialDelayMs;
        });
      } catch (e) {
        const err = fromServiceError(e);
        if (err.code !== 'UNAVAILABLE') throw err;
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
