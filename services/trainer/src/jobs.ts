import { common, trainer } from '@robustrec/contracts';
import { notFound, type ProvenanceRecord } from '@robustrec/core';
import { openDatabase, type Db } from '@robustrec/store';
import type { JobOptions, TrainConfig } from '@robustrec/models';

/** A job as stored; the proto Job is derived from it. */
export interface JobRecord {
  id: string;
  name: string;
  datasetId: string;
  config: TrainConfig;
  options: JobOptions;
  state: trainer.JobState;
  epoch: number;
  modelId: string;
  error: string;
  createdAt: string;
  startedAt: string;
  finishedAt: string;
  metrics: Record<string, number>;
  secondsPerEpoch: number;
  idempotencyKey: string;
  provenance: ProvenanceRecord;
}

const MIGRATIONS = [
  `CREATE TABLE jobs (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     dataset_id TEXT NOT NULL,
     config_json TEXT NOT NULL,
     train_on_valid INTEGER NOT NULL,
     eval_every INTEGER NOT NULL,
     state INTEGER NOT NULL,
     epoch INTEGER NOT NULL DEFAULT 0,
     model_id TEXT NOT NULL DEFAULT '',
     error TEXT NOT NULL DEFAULT '',
     created_at TEXT NOT NULL,
     started_at TEXT NOT NULL DEFAULT '',
     finished_at TEXT NOT NULL DEFAULT '',
     metrics_json TEXT NOT NULL DEFAULT '{}',
     seconds_per_epoch REAL NOT NULL DEFAULT 0,
     idempotency_key TEXT,
     provenance_json TEXT NOT NULL
   );
   CREATE UNIQUE INDEX jobs_idempotency ON jobs(idempotency_key) WHERE idempotency_key IS NOT NULL;`,
  // every completed epoch of a job (GetJob's history): one row per (job, epoch), so an epoch
  // a resumed job trains again replaces its row; at most config.epochs (<= 10,000) rows a job
  `CREATE TABLE job_epochs (
     job_id TEXT NOT NULL REFERENCES jobs(id),
     epoch INTEGER NOT NULL,
     epochs INTEGER NOT NULL,
     metrics_json TEXT NOT NULL,
     seconds REAL NOT NULL,
     PRIMARY KEY (job_id, epoch)
   ) WITHOUT ROWID;`,
];

type Row = Record<string, string | number | null>;

/** The trainer's SQLite job table. */
export class JobStore {
  readonly db: Db;

  constructor(path: string) {
    this.db = openDatabase(path, MIGRATIONS);
  }

  insert(j: JobRecord): void {
    this.db
      .prepare(
        `INSERT INTO jobs (id, name, dataset_id, config_json, train_on_valid, eval_every, state, created_at, idempotency_key, provenance_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(j.id, j.name, j.datasetId, JSON.stringify(j.config), j.options.trainOnValid ? 1 : 0, j.options.evalEvery, j.state, j.createdAt, j.idempotencyKey || null, JSON.stringify(j.provenance));
  }

  update(id: string, patch: Partial<Pick<JobRecord, 'state' | 'epoch' | 'modelId' | 'error' | 'startedAt' | 'finishedAt' | 'metrics' | 'secondsPerEpoch' | 'provenance'>>): JobRecord {
    const cols: Record<string, unknown> = {};
    if (patch.state !== undefined) cols.state = patch.state;
    if (patch.epoch !== undefined) cols.epoch = patch.epoch;
    if (patch.modelId !== undefined) cols.model_id = patch.modelId;
    if (patch.error !== undefined) cols.error = patch.error;
    if (patch.startedAt !== undefined) cols.started_at = patch.startedAt;
    if (patch.finishedAt !== undefined) cols.finished_at = patch.finishedAt;
    if (patch.metrics !== undefined) cols.metrics_json = JSON.stringify(patch.metrics);
    if (patch.secondsPerEpoch !== undefined) cols.seconds_per_epoch = patch.secondsPerEpoch;
    if (patch.provenance !== undefined) cols.provenance_json = JSON.stringify(patch.provenance);
    const keys = Object.keys(cols);
    if (keys.length) this.db.prepare(`UPDATE jobs SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({ ...cols, id });
    return this.get(id);
  }

  /** Stores one completed epoch (replacing the row of an epoch trained again after a resume). */
  putEpoch(jobId: string, p: { epoch: number; epochs: number; metrics: Record<string, number>; seconds: number }): void {
    this.db
      .prepare(
        `INSERT INTO job_epochs (job_id, epoch, epochs, metrics_json, seconds) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (job_id, epoch) DO UPDATE SET epochs = excluded.epochs, metrics_json = excluded.metrics_json, seconds = excluded.seconds`,
      )
      .run(jobId, p.epoch, p.epochs, JSON.stringify(p.metrics), p.seconds);
  }

  /** The completed epochs of a job, in order (eta_seconds is 0: they are history). */
  history(jobId: string): trainer.EpochProgress[] {
    const rows = this.db.prepare('SELECT epoch, epochs, metrics_json, seconds FROM job_epochs WHERE job_id = ? ORDER BY epoch').all(jobId) as Array<{
      epoch: number;
      epochs: number;
      metrics_json: string;
      seconds: number;
    }>;
    return rows.map((r) => ({ epoch: r.epoch, epochs: r.epochs, metrics: toMetrics(JSON.parse(r.metrics_json) as Record<string, number>), seconds: r.seconds, etaSeconds: 0 }));
  }

  get(id: string): JobRecord {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    if (!row) throw notFound('job', id);
    return fromRow(row);
  }

  byIdempotencyKey(key: string): JobRecord | undefined {
    const row = this.db.prepare('SELECT * FROM jobs WHERE idempotency_key = ?').get(key) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(state?: trainer.JobState): JobRecord[] {
    const rows = (state
      ? this.db.prepare('SELECT * FROM jobs WHERE state = ? ORDER BY created_at DESC, rowid DESC').all(state)
      : this.db.prepare('SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC').all()) as Row[];
    return rows.map(fromRow);
  }

  /** Jobs to (re)run at start-up, oldest first: queued ones and those a dead process left running. */
  pending(): JobRecord[] {
    return (this.db
      .prepare('SELECT * FROM jobs WHERE state IN (?, ?) ORDER BY created_at ASC, rowid ASC')
      .all(trainer.JobState.JOB_STATE_RUNNING, trainer.JobState.JOB_STATE_QUEUED) as Row[]).map(fromRow);
  }

  close(): void {
    this.db.close();
  }
}

function fromRow(r: Row): JobRecord {
  return {
    id: r.id as string,
    name: r.name as string,
    datasetId: r.dataset_id as string,
    config: JSON.parse(r.config_json as string) as TrainConfig,
    options: { trainOnValid: r.train_on_valid === 1, evalEvery: r.eval_every as number },
    state: r.state as trainer.JobState,
    epoch: r.epoch as number,
    modelId: r.model_id as string,
    error: r.error as string,
    createdAt: r.created_at as string,
    startedAt: r.started_at as string,
    finishedAt: r.finished_at as string,
    metrics: JSON.parse(r.metrics_json as string) as Record<string, number>,
    secondsPerEpoch: r.seconds_per_epoch as number,
    idempotencyKey: (r.idempotency_key as string | null) ?? '',
    provenance: JSON.parse(r.provenance_json as string) as ProvenanceRecord,
  };
}

export const isTerminal = (s: trainer.JobState): boolean =>
  s === trainer.JobState.JOB_STATE_SUCCEEDED || s === trainer.JobState.JOB_STATE_FAILED || s === trainer.JobState.JOB_STATE_CANCELLED;

/** Metric map -> proto metrics ("recall@20" -> name recall, k 20). */
export function toMetrics(m: Record<string, number>): common.Metric[] {
  return Object.entries(m).map(([key, value]) => {
    const at = key.lastIndexOf('@');
    return at > 0 ? { name: key.slice(0, at), k: Number(key.slice(at + 1)), value } : { name: key, k: 0, value };
  });
}
