import { availableParallelism } from 'node:os';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { readdirSync, rmSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { data, trainer } from '@robustrec/contracts';
import { checkMemory, failedPrecondition, homeDir, invalidArgument, isRrError, lockDirectory, memoryBudget, newId, provenance, startTsWorker, unavailable } from '@robustrec/core';
import { call, componentInfoToProto, fromServiceError, peerClient, publicMessage, registerModel, serverStream, startServer, unary, writeMessage } from '@robustrec/grpc';
import { checkJobOptions, componentSpecs, jobOptionsFromProto, jobOptionsToProto, resolveTrainConfig, trainConfigFromProto, trainConfigToProto, Trainer, type TrainConfig } from '@robustrec/models';
import { sweepTempFiles } from '@robustrec/store';
import { isTerminal, JobStore, toMetrics, type JobRecord } from './jobs';
import type { HistoryStored, WorkerInput, WorkerMessage } from './worker';

const S = trainer.JobState;

export interface TrainerServiceOptions {
  /** Listen address (default 127.0.0.1:0). */
  address?: string;
  /** State directory (default homeDir()); the trainer keeps <home>/trainer/. */
  home?: string;
  /** DataService address. */
  dataAddress: string;
  /** ModelRegistryService address (the evaluator process). */
  registryAddress: string;
  /** Jobs trained at once (default 1: a job already uses the cores it needs). */
  concurrency?: number;
  /**
   * Threads per job for the optimiser update (default: 2 when the machine has 2+ cores, else
   * 1). Results do not depend on it; set 1 when several trainers share the cores.
   */
  threads?: number;
  /**
   * How long a finished job keeps retrying its model upload while the registry is unreachable
   * (UNAVAILABLE or DEADLINE_EXCEEDED), with backoff, before it fails (default 120 s).
   */
  registerRetryMs?: number;
  /** Memory budget in bytes (default: ROBUSTREC_MEMORY_BUDGET or the core default). */
  memoryBudgetBytes?: number;
}

/**
 * Refuses a job whose training state would not fit the memory budget: embeddings of every
 * user and item with the optimiser's two moments and a gradient (4 float32 copies), NeuMF's
 * MLP on top, and the dataset itself (train, valid and test as CSR, fetched into the worker).
 */
export function checkTrainingMemory(config: TrainConfig, d: data.Dataset, budget: number): void {
  const rows = d.numUsers + d.numItems;
  const params = rows * config.dim * 4 * 4 * (config.backbone.name === 'neumf' ? 2 : 1);
  const interactions = d.numTrain + d.numValid + d.numTest;
  const dataset = interactions * 16 + (d.numUsers + 1) * 4 * 3;
  checkMemory('config.dim', params + dataset, budget, `training ${config.backbone.name} with dim ${config.dim} on ${d.numUsers} users × ${d.numItems} items`);
}

interface Running {
  worker: Worker;
  cancelFlag: Int32Array;
  epochSeconds: number[];
}

/**
 * Job scheduler: persists jobs in SQLite, runs each in a worker thread, streams progress
 * to watchers, registers finished models in the model registry. Jobs a dead process left
 * RUNNING are resumed from their last checkpoint at start-up.
 *
 * Faults: a checkpoint is written atomically after every epoch, so a killed trainer resumes
 * from the last finished epoch with bit-identical results. A finished job's model upload is
 * retried while the registry is unreachable, and the registry keeps one model per job, so
 * neither a registry restart nor a trainer killed mid-upload loses or duplicates a model.
 * On shutdown (stop) running jobs are left RUNNING with their checkpoints, and watchers are
 * told so (UNAVAILABLE): they reconnect to the restarted trainer.
 */
export class JobScheduler {
  readonly store: JobStore;
  private readonly events = new EventEmitter();
  private readonly running = new Map<string, Running>();
  private readonly registering = new Set<Promise<unknown>>();
  private readonly dir: string;
  /** Stopping: no job starts, uploads are not retried. */
  private closed = false;
  private readonly budget: number;
  private storeClosed = false;
  private readonly unlock: () => void;

  constructor(private readonly opts: TrainerServiceOptions) {
    this.budget = memoryBudget(opts.memoryBudgetBytes);
    this.dir = join(opts.home ?? homeDir(), 'trainer');
    // one trainer per directory: a second would resume (and train) the first one's RUNNING jobs
    this.unlock = lockDirectory(this.dir, 'trainer');
    try {
      this.store = new JobStore(join(this.dir, 'trainer.db'));
    } catch (e) {
      this.unlock();
      throw e;
    }
    this.events.setMaxListeners(0);
    this.sweepCheckpoints();
  }

  /** Removes half-written checkpoints and those of jobs that ended (killed before their cleanup). */
  private sweepCheckpoints(): void {
    const dir = join(this.dir, 'checkpoints');
    sweepTempFiles(dir);
    let files: string[] = [];
    try {
      files = readdirSync(dir);
    } catch {
      return;
    }
    const pending = new Set(this.store.pending().map((j) => j.id));
    for (const f of files) {
      const m = /^(.+)\.ckpt$/.exec(f);
      if (m && !pending.has(m[1]!)) rmSync(join(dir, f), { force: true });
    }
  }

  /** Subscribes to the scheduler's stop (shutdown); returns an unsubscribe function. */
  onStop(fn: () => void): () => void {
    this.events.on('stop', fn);
    return () => this.events.off('stop', fn);
  }

  checkpointPath(id: string): string {
    return join(this.dir, 'checkpoints', `${id}.ckpt`);
  }

  /** Validates and queues a job. */
  async start(req: trainer.StartJobRequest): Promise<JobRecord> {
    if (req.idempotencyKey) {
      const existing = this.store.byIdempotencyKey(req.idempotencyKey);
      if (existing) return existing;
    }
    if (!req.datasetId) throw invalidArgument('dataset_id', 'is required');
    if (!req.config?.backbone?.name) throw invalidArgument('config.backbone.name', 'is required (e.g. "mf", "lightgcn", "neumf")');
    const config = resolveTrainConfig(trainConfigFromProto(req.config));
    const options = checkJobOptions(jobOptionsFromProto(req.options));
    // The dataset must exist before a job is accepted (NOT_FOUND is forwarded as is), and
    // the model it implies must fit the memory budget.
    const dc = peerClient(data.DataServiceClient, this.opts.dataAddress);
    const { dataset } = await call(dc, dc.getDataset, { id: req.datasetId }, { kind: 'lookup' });
    checkTrainingMemory(config, dataset!, this.budget);
    const job: JobRecord = {
      id: newId('job'),
      name: req.name || `${config.backbone.name}-${config.defense.name}`,
      datasetId: req.datasetId,
      config,
      options,
      state: S.JOB_STATE_QUEUED,
      epoch: 0,
      modelId: '',
      error: '',
      createdAt: new Date().toISOString(),
      startedAt: '',
      finishedAt: '',
      metrics: {},
      secondsPerEpoch: 0,
      idempotencyKey: req.idempotencyKey,
      provenance: provenance(config.seed, { datasetId: req.datasetId, trainOnValid: options.trainOnValid, ...config }),
    };
    this.store.insert(job);
    this.emit(job.id);
    this.pump();
    return job;
  }

  cancel(id: string): JobRecord {
    const job = this.store.get(id);
    if (isTerminal(job.state)) throw failedPrecondition(`job ${id} already ended (${trainer.jobStateToJSON(job.state)})`);
    const r = this.running.get(id);
    if (r) {
      Atomics.store(r.cancelFlag, 0, 1);
      return job;
    }
    this.finish(id, { state: S.JOB_STATE_CANCELLED });
    return this.store.get(id);
  }

  /** Subscribes to a job's changes; returns an unsubscribe function. */
  watch(id: string, fn: (job: JobRecord, progress?: trainer.EpochProgress) => void): () => void {
    this.events.on(id, fn);
    return () => this.events.off(id, fn);
  }

  /** Resumes jobs a previous process left unfinished, then starts queued ones. */
  resume(): void {
    for (const j of this.store.pending()) if (j.state === S.JOB_STATE_RUNNING) this.store.update(j.id, { state: S.JOB_STATE_QUEUED });
    this.pump();
  }

  private emit(id: string, progress?: trainer.EpochProgress): void {
    this.events.emit(id, this.store.get(id), progress);
  }

  private finish(id: string, patch: Parameters<JobStore['update']>[1]): void {
    this.store.update(id, { ...patch, finishedAt: new Date().toISOString() });
    this.running.delete(id);
    if (patch.state === S.JOB_STATE_SUCCEEDED || patch.state === S.JOB_STATE_CANCELLED) rmSync(this.checkpointPath(id), { force: true });
    this.emit(id);
    this.pump();
  }

  private pump(): void {
    if (this.closed) return;
    const slots = (this.opts.concurrency ?? 1) - this.running.size;
    if (slots <= 0) return;
    const queued = this.store.pending().filter((j) => j.state === S.JOB_STATE_QUEUED && !this.running.has(j.id));
    for (const job of queued.slice(0, slots)) this.launch(job);
  }

  private launch(job: JobRecord): void {
    const flag = new SharedArrayBuffer(4);
    const input: WorkerInput = {
      jobId: job.id,
      datasetId: job.datasetId,
      dataAddress: this.opts.dataAddress,
      config: job.config,
      options: job.options,
      checkpointPath: this.checkpointPath(job.id),
      cancelFlag: flag,
      threads: this.opts.threads ?? Math.min(2, availableParallelism()),
    };
    const worker = startTsWorker(new URL('./worker.ts', import.meta.url), input as unknown as Record<string, unknown>);
    const r: Running = { worker, cancelFlag: new Int32Array(flag), epochSeconds: [] };
    this.running.set(job.id, r);
    this.store.update(job.id, { state: S.JOB_STATE_RUNNING, startedAt: job.startedAt || new Date().toISOString() });
    this.emit(job.id);
    let ended = false;
    worker.on('message', (m: WorkerMessage) => {
      if (this.closed) return;
      switch (m.type) {
        case 'started':
          break;
        case 'history':
          this.store.putEpoch(job.id, { epoch: m.epoch, epochs: job.config.epochs, metrics: m.metrics, seconds: m.seconds });
          worker.postMessage({ type: 'history-stored', epoch: m.epoch } satisfies HistoryStored);
          break;
        case 'epoch': {
          r.epochSeconds.push(m.seconds);
          const mean = r.epochSeconds.reduce((a, b) => a + b, 0) / r.epochSeconds.length;
          this.store.update(job.id, { epoch: m.epoch, metrics: m.metrics, secondsPerEpoch: mean });
          this.emit(job.id, {
            epoch: m.epoch,
            epochs: job.config.epochs,
            metrics: toMetrics(m.metrics),
            seconds: m.seconds,
            etaSeconds: mean * (job.config.epochs - m.epoch),
          });
          break;
        }
        case 'done': {
          ended = true;
          void worker.terminate();
          // what ran the training, as the training thread saw it, before the model is registered
          const prov = this.store.get(job.id).provenance;
          this.store.update(job.id, { provenance: { ...prov, versions: { ...prov.versions, ...m.engine } } });
          const p = this.register(job.id, m).then(
            (modelId) => !this.storeClosed && this.finish(job.id, { state: S.JOB_STATE_SUCCEEDED, modelId }),
            // stopped mid-upload: the job stays RUNNING and registers again (once) after a restart
            (e: unknown) => !this.closed && this.finish(job.id, { state: S.JOB_STATE_FAILED, error: `model registration failed: ${e instanceof Error ? e.message : e}` }),
          );
          this.registering.add(p);
          void p.finally(() => this.registering.delete(p));
          break;
        }
        case 'cancelled':
          ended = true;
          void worker.terminate();
          this.finish(job.id, { state: S.JOB_STATE_CANCELLED });
          break;
        case 'failed':
          ended = true;
          void worker.terminate();
          this.finish(job.id, { state: S.JOB_STATE_FAILED, error: m.error });
          break;
      }
    });
    worker.on('error', (e) => {
      if (ended || this.closed) return;
      ended = true;
      this.finish(job.id, { state: S.JOB_STATE_FAILED, error: `worker crashed: ${e.message}` });
    });
    worker.on('exit', () => {
      if (ended || this.closed) return;
      ended = true;
      this.finish(job.id, { state: S.JOB_STATE_FAILED, error: 'worker exited unexpectedly' });
    });
  }

  /** Uploads a finished job's model, retrying while the registry is unreachable (see registerRetryMs). */
  private async register(id: string, m: Extract<WorkerMessage, { type: 'done' }>): Promise<string> {
    const job = this.store.get(id);
    const header = {
      id: '',
      name: job.name,
      version: 0,
      backbone: m.backbone,
      defense: job.config.defense.name,
      datasetId: job.datasetId,
      jobId: job.id,
      numUsers: m.numUsers,
      numItems: m.numItems,
      tensors: Object.entries(m.tensors).map(([name, t]) => ({ name, shape: t.shape })),
      metrics: toMetrics(job.metrics),
      provenance: job.provenance,
      sizeBytes: 0,
    };
    const tensors = Object.fromEntries(Object.entries(m.tensors).map(([k, t]) => [k, t.data]));
    const deadline = Date.now() + (this.opts.registerRetryMs ?? 120_000);
    for (let attempt = 1, delay = 250; ; attempt++, delay = Math.min(delay * 2, 4_000)) {
      try {
        return (await registerModel(this.opts.registryAddress, header, tensors)).id;
      } catch (e) {
        const err = isRrError(e) ? e : fromServiceError(e);
        const retry = err.code === 'UNAVAILABLE' || err.code === 'DEADLINE_EXCEEDED';
        if (!retry || this.closed || Date.now() + delay > deadline) throw attempt > 1 ? new Error(`${err.message} (after ${attempt} attempts)`) : err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /**
   * Stops for a shutdown: no new job starts, watchers are told (onStop), running jobs' workers
   * are stopped (the jobs stay RUNNING and resume from their checkpoints after a restart) and
   * uploads in flight get up to graceMs to finish. The job table stays open for the calls the
   * server is still draining; close() closes it.
   */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.events.emit('stop');
    await Promise.all([...this.running.values()].map((r) => r.worker.terminate()));
    this.running.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.registering]), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    await this.stop(0);
    this.storeClosed = true;
    this.store.close();
    this.unlock();
  }
}

export function toProtoJob(j: JobRecord): trainer.Job {
  return {
    id: j.id,
    datasetId: j.datasetId,
    config: trainConfigToProto(j.config),
    options: jobOptionsToProto(j.options),
    state: j.state,
    epoch: j.epoch,
    modelId: j.modelId,
    // the stored error keeps its detail for the log; callers get the public form
    error: publicMessage(j.error),
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    metrics: toMetrics(j.metrics),
    name: j.name,
    secondsPerEpoch: j.secondsPerEpoch,
    provenance: j.provenance,
  };
}

/** Starts the TrainerService (plus health and reflection) and resumes unfinished jobs. */
export async function startTrainerService(opts: TrainerServiceOptions) {
  await Trainer.loadBackend();
  const scheduler = new JobScheduler(opts);
  const impl: trainer.TrainerServiceServer = {
    startJob: unary(async (req) => ({ job: toProtoJob(await scheduler.start(req)) })),
    getJob: unary((req) => ({ job: toProtoJob(scheduler.store.get(req.id)), history: scheduler.store.history(req.id) })),
    listJobs: unary((req) => ({ jobs: scheduler.store.list(req.state || undefined).map(toProtoJob) })),
    listComponents: unary(() => {
      const s = componentSpecs();
      return { backbones: s.backbones.map(componentInfoToProto), defenses: s.defenses.map(componentInfoToProto), trainOptions: componentInfoToProto(s.train) };
    }),
    cancelJob: unary((req) => ({ job: toProtoJob(scheduler.cancel(req.id)) })),
    watchJob: serverStream(async (req, call) => {
      const first = scheduler.store.get(req.id);
      await writeMessage(call, { job: toProtoJob(first), progress: undefined });
      if (isTerminal(first.state)) return;
      await new Promise<void>((resolve, reject) => {
        const queue: Array<[JobRecord, trainer.EpochProgress | undefined]> = [];
        let busy = false;
        const drain = async (): Promise<void> => {
          if (busy) return;
          busy = true;
          try {
            while (queue.length) {
              const [job, progress] = queue.shift()!;
              await writeMessage(call, { job: toProtoJob(job), progress });
              if (isTerminal(job.state)) {
                stop();
                resolve();
                return;
              }
            }
          } catch (e) {
            stop();
            reject(e);
          } finally {
            busy = false;
          }
        };
        const unwatch = scheduler.watch(req.id, (job, progress) => {
          queue.push([job, progress]);
          void drain();
        });
        const unstop = scheduler.onStop(() => {
          stop();
          const j = scheduler.store.get(req.id);
          reject(unavailable(`trainer shutting down: job ${j.id} stays ${trainer.jobStateToJSON(j.state)} at epoch ${j.epoch} and resumes from its last checkpoint when the trainer restarts; watch it again then`));
        });
        const stop = (): void => {
          unwatch();
          unstop();
        };
        call.on('cancelled', () => {
          stop();
          resolve();
        });
      });
    }),
  };
  // requests are small: a config, an id
  const server = await startServer([{ name: 'robustrec.v1.TrainerService', definition: trainer.TrainerServiceService, implementation: impl }], opts.address, { maxReceiveMessageBytes: 1 << 20 });
  // job table open (checkpoints swept), engine loaded, unfinished jobs requeued: ready
  scheduler.resume();
  server.markReady();
  return {
    ...server,
    scheduler,
    /** NOT_SERVING, stop jobs (left resumable) and end watches, drain calls, close the job table. */
    async shutdown(graceMs?: number) {
      server.lifecycle.markNotServing();
      await scheduler.stop(graceMs);
      await server.shutdown(graceMs);
      await scheduler.close();
    },
  };
}


