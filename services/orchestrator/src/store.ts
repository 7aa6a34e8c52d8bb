import { openDatabase, type Db } from '@robustrec/store';

/** One cell's stored outcome. */
export interface CellRecord {
  specName: string;
  key: string;
  dataset: string;
  attack: string;
  model: string;
  variant: string;
  sweepParam: string;
  sweepValue: number | null;
  seed: number;
  state: 'pending' | 'running' | 'done' | 'failed';
  datasetId: string;
  jobId: string;
  modelId: string;
  evaluationId: string;
  metrics: Record<string, number>;
  config: unknown;
  versions: Record<string, string>;
  error: string;
  /** gRPC status name of the failure (e.g. FAILED_PRECONDITION for a broken generator); '' unless failed. */
  errorCode: string;
  seconds: number;
  finishedAt: string;
  /** The trainer replica that owns the cell's job ("host:port"; '' before training). */
  replica?: string;
  /** Replicas the cell's training was lost on (they vanished) before it moved. */
  lostReplicas?: string[];
}

export type ExperimentState = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

/** One submission of a spec to the orchestrator service. */
export interface ExperimentRecord {
  id: string;
  specName: string;
  specYaml: string;
  seeds: number[];
  state: ExperimentState;
  submittedAt: string;
  finishedAt: string;
  error: string;
}

const MIGRATIONS = [
  `CREATE TABLE cells (
     spec_name TEXT NOT NULL,
     key TEXT NOT NULL,
     dataset TEXT NOT NULL,
     attack TEXT NOT NULL,
     model TEXT NOT NULL,
     variant TEXT NOT NULL,
     sweep_param TEXT NOT NULL DEFAULT '',
     sweep_value REAL,
     seed INTEGER NOT NULL,
     state TEXT NOT NULL,
     dataset_id TEXT NOT NULL DEFAULT '',
     job_id TEXT NOT NULL DEFAULT '',
     model_id TEXT NOT NULL DEFAULT '',
     evaluation_id TEXT NOT NULL DEFAULT '',
     metrics_json TEXT NOT NULL DEFAULT '{}',
     config_json TEXT NOT NULL DEFAULT '{}',
     versions_json TEXT NOT NULL DEFAULT '{}',
     error TEXT NOT NULL DEFAULT '',
     seconds REAL NOT NULL DEFAULT 0,
     finished_at TEXT NOT NULL DEFAULT '',
     PRIMARY KEY (spec_name, key)
   );
   CREATE TABLE memo (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // replica pinning (the trainer that owns a cell's job) and submitted experiments
  `ALTER TABLE cells ADD COLUMN replica TEXT NOT NULL DEFAULT '';
   ALTER TABLE cells ADD COLUMN lost_replicas_json TEXT NOT NULL DEFAULT '[]';
   CREATE TABLE experiments (
     id TEXT PRIMARY KEY,
     spec_name TEXT NOT NULL,
     spec_yaml TEXT NOT NULL,
     seeds_json TEXT NOT NULL DEFAULT '[]',
     state TEXT NOT NULL,
     submitted_at TEXT NOT NULL,
     finished_at TEXT NOT NULL DEFAULT '',
     error TEXT NOT NULL DEFAULT ''
   );
   CREATE INDEX experiments_by_spec ON experiments (spec_name);`,
  // a failed cell's gRPC status name
  `ALTER TABLE cells ADD COLUMN error_code TEXT NOT NULL DEFAULT '';`,
  // each spec's definition as last run (the dashboard and GetResults build its tables from it)
  `CREATE TABLE specs (name TEXT PRIMARY KEY, spec_json TEXT NOT NULL, updated_at TEXT NOT NULL);`,
];

/** A spec's stored cells, counted by state. */
export interface SpecSummary {
  name: string;
  total: number;
  done: number;
  failed: number;
  running: number;
  lastFinishedAt: string;
}

type Row = Record<string, string | number | null>;

/** The orchestrator's SQLite record of experiment cells, plus a memo of shared steps (imports, attacks). */
export class ExperimentStore {
  readonly db: Db;
  constructor(path: string) {
    this.db = openDatabase(path, MIGRATIONS);
  }

  upsert(c: Omit<CellRecord, 'finishedAt' | 'errorCode'> & { finishedAt?: string; errorCode?: string }): void {
    this.db
      .prepare(
        `INSERT INTO cells (spec_name, key, dataset, attack, model, variant, sweep_param, sweep_value, seed, state, dataset_id, job_id, model_id, evaluation_id,
           metrics_json, config_json, versions_json, error, seconds, finished_at, replica, lost_replicas_json, error_code)
         VALUES (@specName, @key, @dataset, @attack, @model, @variant, @sweepParam, @sweepValue, @seed, @state, @datasetId, @jobId, @modelId, @evaluationId, @metrics, @config, @versions, @error, @seconds, @finishedAt, @replica, @lostReplicas, @errorCode)
         ON CONFLICT (spec_name, key) DO UPDATE SET state = excluded.state, dataset_id = excluded.dataset_id, job_id = excluded.job_id,
           model_id = excluded.model_id, evaluation_id = excluded.evaluation_id, metrics_json = excluded.metrics_json, config_json = excluded.config_json,
           versions_json = excluded.versions_json, error = excluded.error, error_code = excluded.error_code, seconds = excluded.seconds, finished_at = excluded.finished_at,
           replica = excluded.replica, lost_replicas_json = excluded.lost_replicas_json`,
      )
      .run({
        ...c,
        sweepValue: c.sweepValue ?? null,
        metrics: JSON.stringify(c.metrics),
        config: JSON.stringify(c.config),
        versions: JSON.stringify(c.versions),
        finishedAt: c.finishedAt ?? '',
        replica: c.replica ?? '',
        lostReplicas: JSON.stringify(c.lostReplicas ?? []),
        errorCode: c.errorCode ?? '',
      });
  }

  // ---- experiments (ExperimentService) ----

  addExperiment(e: ExperimentRecord): void {
    this.db
      .prepare('INSERT INTO experiments VALUES (@id, @specName, @specYaml, @seeds, @state, @submittedAt, @finishedAt, @error)')
      .run({ ...e, seeds: JSON.stringify(e.seeds) });
  }

  /** Ends an experiment (state, end time, error). */
  finishExperiment(id: string, state: ExperimentState, error = ''): void {
    this.db.prepare('UPDATE experiments SET state = ?, finished_at = ?, error = ? WHERE id = ?').run(state, new Date().toISOString(), error, id);
  }

  getExperiment(id: string): ExperimentRecord | undefined {
    const r = this.db.prepare('SELECT * FROM experiments WHERE id = ?').get(id) as Row | undefined;
    return r ? experimentFromRow(r) : undefined;
  }

  listExperiments(specName?: string): ExperimentRecord[] {
    const rows = (specName
      ? this.db.prepare('SELECT * FROM experiments WHERE spec_name = ? ORDER BY rowid DESC').all(specName)
      : this.db.prepare('SELECT * FROM experiments ORDER BY rowid DESC').all()) as Row[];
    return rows.map(experimentFromRow);
  }

  /**
   * Experiments left running by an orchestrator that stopped (crash, restart) are marked
   * interrupted when the next one opens the store; their cells stay (a re-submission resumes).
   */
  interruptRunning(): number {
    return this.db.prepare("UPDATE experiments SET state = 'interrupted', finished_at = ?, error = 'the orchestrator stopped while it ran' WHERE state = 'running'").run(new Date().toISOString()).changes;
  }

  get(specName: string, key: string): CellRecord | undefined {
    const r = this.db.prepare('SELECT * FROM cells WHERE spec_name = ? AND key = ?').get(specName, key) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  list(specName?: string): CellRecord[] {
    const rows = (specName
      ? this.db.prepare('SELECT * FROM cells WHERE spec_name = ? ORDER BY rowid').all(specName)
      : this.db.prepare('SELECT * FROM cells ORDER BY rowid').all()) as Row[];
    return rows.map(fromRow);
  }

  // ---- specs ----

  /**
   * Records the definition a spec was run with. A run of some of its seeds (--seeds) adds
   * them to the seeds stored before, so the spec's results keep every seed that ran.
   */
  putSpec(spec: { name: string; seeds: number[] }): void {
    const before = this.getSpec(spec.name) as { seeds?: number[] } | undefined;
    const seeds = [...new Set([...(before?.seeds ?? []), ...spec.seeds])].sort((a, b) => a - b);
    this.db.prepare('INSERT OR REPLACE INTO specs VALUES (?, ?, ?)').run(spec.name, JSON.stringify({ ...spec, seeds }), new Date().toISOString());
  }

  /** The definition a spec was last run with (parsed JSON), if recorded. */
  getSpec(name: string): unknown {
    const r = this.db.prepare('SELECT spec_json FROM specs WHERE name = ?').get(name) as { spec_json: string } | undefined;
    return r ? JSON.parse(r.spec_json) : undefined;
  }

  /** Every spec with stored cells, by name. */
  specSummaries(): SpecSummary[] {
    return (
      this.db
        .prepare(
          `SELECT spec_name AS name, COUNT(*) AS total, SUM(state = 'done') AS done, SUM(state = 'failed') AS failed,
             SUM(state = 'running') AS running, MAX(finished_at) AS lastFinishedAt
           FROM cells GROUP BY spec_name ORDER BY spec_name`,
        )
        .all() as SpecSummary[]
    ).map((r) => ({ ...r, lastFinishedAt: r.lastFinishedAt ?? '' }));
  }

  memo(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM memo WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMemo(key: string, value: string): void {
    this.db.prepare('INSERT OR REPLACE INTO memo VALUES (?, ?)').run(key, value);
  }

  close(): void {
    this.db.close();
  }
}

function fromRow(r: Row): CellRecord {
  return {
    specName: r.spec_name as string,
    key: r.key as string,
    dataset: r.dataset as string,
    attack: r.attack as string,
    model: r.model as string,
    variant: r.variant as string,
    sweepParam: r.sweep_param as string,
    sweepValue: r.sweep_value as number | null,
    seed: r.seed as number,
    state: r.state as CellRecord['state'],
    datasetId: r.dataset_id as string,
    jobId: r.job_id as string,
    modelId: r.model_id as string,
    evaluationId: r.evaluation_id as string,
    metrics: JSON.parse(r.metrics_json as string),
    config: JSON.parse(r.config_json as string),
    versions: JSON.parse(r.versions_json as string),
    error: r.error as string,
    errorCode: r.error_code as string,
    seconds: r.seconds as number,
    finishedAt: r.finished_at as string,
    replica: (r.replica as string) ?? '',
    lostReplicas: JSON.parse((r.lost_replicas_json as string) ?? '[]'),
  };
}

function experimentFromRow(r: Row): ExperimentRecord {
  return {
    id: r.id as string,
    specName: r.spec_name as string,
    specYaml: r.spec_yaml as string,
    seeds: JSON.parse(r.seeds_json as string),
    state: r.state as ExperimentState,
    submittedAt: r.submitted_at as string,
    finishedAt: r.finished_at as string,
    error: r.error as string,
  };
}
