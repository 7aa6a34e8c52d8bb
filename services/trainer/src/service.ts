import { availableParallelism } from 'node:os';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { data, trainer } from '@robustrec/contracts';
import { checkMemory, failedPrecondition, homeDir, invalidArgument, memoryBudget, newId, provenance, startTsWorker } from '@robustrec/core';
import { call, componentInfoToProto, peerClient, publicMessage, registerModel, serverStream, startServer, unary, writeMessage } from '@robustrec/grpc';
import { checkJobOptions, componentSpecs, jobOptionsFromProto, jobOptionsToProto, resolveTrainConfig, trainConfigFromProto, trainConfigToProto, Trainer, type TrainConfig } from '@robustrec/models';
import { isTerminal, JobStore, toMetrics, type JobRecord } from './jobs';
import type { WorkerInput, WorkerMessage } from './worker';

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
 */
export class JobScheduler {
  readonly store: JobStore;
  private readonly events = new EventEmitter();
  private readonly running = new Map<string, Running>();
  private readonly dir: string;
  private closed = false;
  private readonly budget: number;

  constructor(private readonly opts: TrainerServiceOptions) {
    this.budget = memoryBudget(opts.memoryBudgetBytes);
    this.dir = join(opts.home ?? homeDir(), 'trainer');
    this.store = new JobStore(join(this.dir, 'trainer.db'));
    this.events.setMaxListeners(0);
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
    job.provenance.versions = { ...job.provenance.versions, ...Trainer.engineInfo() };
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
        case 'done':
          ended = true;
          void worker.terminate();
          this.register(job.id, m).then(
            (modelId) => this.finish(job.id, { state: S.JOB_STATE_SUCCEEDED, modelId }),
            (e: unknown) => this.finish(job.id, { state: S.JOB_STATE_FAILED, error: `model registration failed: ${e instanceof Error ? e.message : e}` }),
          );
          break;
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

  private async register(id: string, m: Extract<WorkerMessage, { type: 'done' }>): Promise<string> {
    const job = this.store.get(id);
    const model = await registerModel(
      this.opts.registryAddress,
      {
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
      },
      Object.fromEntries(Object.entries(m.tensors).map(([k, t]) => [k, t.data])),
    );
    return model.id;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.running.values()].map((r) => r.worker.terminate()));
    this.running.clear();
    this.store.close();
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
    getJob: unary((req) => ({ job: toProtoJob(scheduler.store.get(req.id)) })),
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
        const stop = scheduler.watch(req.id, (job, progress) => {
          queue.push([job, progress]);
          void drain();
        });
        call.on('cancelled', () => {
          stop();
          resolve();
        });
      });
    }),
  };
  // requests are small: a config, an id
  const server = await startServer([{ name: 'robustrec.v1.TrainerService', definition: trainer.TrainerServiceService, implementation: impl }], opts.address, { maxReceiveMessageBytes: 1 << 20 });
  scheduler.resume();
  return {
    ...server,
    scheduler,
    async shutdown(graceMs?: number) {
      await scheduler.close();
      await server.shutdown(graceMs);
    },
  };
}


