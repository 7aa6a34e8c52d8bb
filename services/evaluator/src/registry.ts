import { join } from 'node:path';
import { closeSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { evaluator } from '@robustrec/contracts';
import { checkMemory, failpoint, invalidArgument, newId, notFound, resourceExhausted, RrError } from '@robustrec/core';
import { ArtifactStore, openDatabase, sweepTempFiles, type Db } from '@robustrec/store';

const MIGRATIONS = [
  `CREATE TABLE models (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     version INTEGER NOT NULL,
     header_json TEXT NOT NULL,
     created_at TEXT NOT NULL,
     UNIQUE (name, version)
   );
   CREATE TABLE evaluations (
     id TEXT PRIMARY KEY,
     model_id TEXT NOT NULL REFERENCES models(id),
     dataset_id TEXT NOT NULL,
     config_json TEXT NOT NULL,
     evaluation_json TEXT NOT NULL,
     created_at TEXT NOT NULL
   );`,
  // a training job registers its model once, however often it retries the upload
  `CREATE INDEX models_job_id ON models (json_extract(header_json, '$.jobId'));`,
  // movable labels of a name ("production", "staging"): one row each, moved by one UPDATE
  `CREATE TABLE aliases (
     name TEXT NOT NULL,
     alias TEXT NOT NULL,
     model_id TEXT NOT NULL REFERENCES models(id),
     updated_at TEXT NOT NULL,
     PRIMARY KEY (name, alias)
   );`,
  // ProjectUsers' 2-D points, computed once per (model, sample, seed): user ids as uint32 and
  // x, y per user as float32, each a little-endian BLOB (10,000 points: 120 KB)
  `CREATE TABLE projections (
     model_id TEXT NOT NULL REFERENCES models(id),
     sample INTEGER NOT NULL,
     seed INTEGER NOT NULL,
     method TEXT NOT NULL,
     params_json TEXT NOT NULL,
     num_genuine_users INTEGER NOT NULL,
     num_fake_users INTEGER NOT NULL,
     users BLOB NOT NULL,
     coords BLOB NOT NULL,
     seconds REAL NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (model_id, sample, seed)
   );`,
];

/** An alias label: a letter, then up to 63 of [A-Za-z0-9._-]; never a number (versions are). */
const ALIAS = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

/** The alias every name has implicitly: its newest version. */
export const LATEST = 'latest';

/** Checks an alias label (field names the request field). */
export function checkAlias(field: string, alias: string, settable = false): void {
  if (!ALIAS.test(alias)) throw invalidArgument(field, `must be a letter then up to 63 of [A-Za-z0-9._-], got ${JSON.stringify(alias.slice(0, 70))}`);
  if (settable && alias === LATEST) throw invalidArgument(field, '"latest" always names the newest version and cannot be set');
}

export interface LoadedTensors {
  header: evaluator.Model;
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
}

/** A stored ProjectUsers result (projection.ts). */
export interface StoredProjection {
  modelId: string;
  /** The request's sample (defaults applied): part of the key, even when the dataset has fewer genuine users. */
  sample: number;
  seed: number;
  method: string;
  /** The method's settings and which embeddings it read. */
  params: Record<string, unknown>;
  numGenuineUsers: number;
  numFakeUsers: number;
  /** User ids, increasing. */
  users: Uint32Array;
  /** x, y of each user. */
  coords: Float32Array;
  /** Compute time of the projection. */
  seconds: number;
}

/** Projections kept per model (each at most 120 KB), the oldest dropped first. */
export const MAX_PROJECTIONS_PER_MODEL = 64;

/** A copy of a BLOB's bytes as a typed array (a Buffer's offset need not be aligned). */
function blobOf<T extends Uint32Array | Float32Array>(b: Buffer, Ctor: new (n: number) => T): T {
  const out = new Ctor(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

const bytesOf = (a: Uint32Array | Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

const sizeOf = (t: evaluator.TensorInfo): number => t.shape.reduce((a, b) => a * b, 1);

/** Largest tensor an upload may declare (one typed array; V8's limit is near 2^32 elements). */
export const MAX_TENSOR_BYTES = 2 ** 31 - 1;

/**
 * Model registry: SQLite catalogue (names with versions 1, 2, ...) plus one artifact file
 * per model holding its float32 tensors in header order. Stored evaluations live here too.
 *
 * Crash safety: a model's file is written (atomically) before its row is committed, so a
 * killed process can leave a file without a row, or a temp file of a half-written one; both
 * are invisible through the API and removed at start-up. An evaluation is one row, written
 * after its metrics are complete.
 */
export class ModelRegistry {
  readonly db: Db;
  readonly artifacts: ArtifactStore;

  constructor(home: string) {
    const dir = join(home, 'evaluator');
    this.db = openDatabase(join(dir, 'registry.db'), MIGRATIONS);
    this.artifacts = new ArtifactStore(join(dir, 'models'));
    this.sweep();
  }

  /** Removes model files without a catalogue row and temp files of killed writers. */
  private sweep(): void {
    sweepTempFiles(this.artifacts.root);
    const known = new Set((this.db.prepare('SELECT id FROM models').all() as Array<{ id: string }>).map((r) => r.id));
    for (const f of readdirSync(this.artifacts.root)) {
      const m = /^(.+)\.bin$/.exec(f);
      if (m && !known.has(m[1]!)) this.artifacts.remove(f);
    }
  }

  /** The model a training job registered, if it did. */
  byJob(jobId: string): evaluator.Model | undefined {
    const row = this.db.prepare("SELECT header_json FROM models WHERE json_extract(header_json, '$.jobId') = ? LIMIT 1").get(jobId) as { header_json: string } | undefined;
    return row && evaluator.Model.fromJSON(JSON.parse(row.header_json));
  }

  /**
   * Validates an upload header; errors name the field. The declared tensors are sized here,
   * before any buffer is allocated for them: each at most MAX_TENSOR_BYTES, all together
   * within the memory budget (RESOURCE_EXHAUSTED naming the tensor's shape).
   */
  static checkHeader(h: evaluator.Model | undefined, budget = Infinity): evaluator.Model {
    if (!h) throw invalidArgument('header', 'the first message must be the model header');
    if (!h.name) throw invalidArgument('header.name', 'is required');
    if (!h.backbone) throw invalidArgument('header.backbone', 'is required');
    if (!h.tensors.length) throw invalidArgument('header.tensors', 'at least one tensor is required');
    const names = new Set<string>();
    h.tensors.forEach((t, i) => {
      if (!t.name || names.has(t.name)) throw invalidArgument(`header.tensors[${i}].name`, `missing or duplicate: ${JSON.stringify(t.name)}`);
      names.add(t.name);
      if (!t.shape.length || t.shape.length > 8 || t.shape.some((d) => !Number.isInteger(d) || d < 1))
        throw invalidArgument(`header.tensors[${i}].shape`, `must be 1 to 8 positive dimensions, got [${t.shape.slice(0, 8)}${t.shape.length > 8 ? ', …' : ''}]`);
      if (tensorBytes(t) > MAX_TENSOR_BYTES) throw resourceExhausted(`header.tensors[${i}].shape: [${t.shape}] is ${tensorBytes(t)} bytes of float32, more than the ${MAX_TENSOR_BYTES} bytes a tensor may have`);
    });
    let total = 0;
    h.tensors.forEach((t, i) => {
      total += tensorBytes(t);
      checkMemory(`header.tensors[${i}].shape`, total, budget, `the declared tensors (${h.tensors.length})`);
    });
    return h;
  }

  /**
   * Stores a complete upload atomically: file first (atomic rename), then the row. An upload
   * naming a job that already has a model returns that model (a trainer retrying after a lost
   * answer registers its job's model once).
   */
  register(header: evaluator.Model, tensors: Record<string, Uint8Array>): evaluator.Model {
    if (header.jobId) {
      const existing = this.byJob(header.jobId);
      if (existing) return existing;
    }
    const id = newId('model');
    const parts = header.tensors.map((t) => tensors[t.name]!);
    const sizeBytes = parts.reduce((a, p) => a + p.byteLength, 0);
    this.artifacts.write(`${id}.bin`, parts);
    failpoint('evaluator.model-written');
    try {
      return this.db.transaction(() => {
        const row = this.db.prepare('SELECT MAX(version) AS v FROM models WHERE name = ?').get(header.name) as { v: number | null };
        const model: evaluator.Model = { ...header, id, version: (row.v ?? 0) + 1, sizeBytes };
        this.db.prepare('INSERT INTO models VALUES (?, ?, ?, ?, ?)').run(id, model.name, model.version, JSON.stringify(evaluator.Model.toJSON(model)), new Date().toISOString());
        return model;
      })();
    } catch (e) {
      this.artifacts.remove(`${id}.bin`);
      throw e;
    }
  }

  /** Resolves a reference: id, or name + version, or name + alias, or name alone (latest). */
  get(ref: evaluator.ModelRef | undefined): evaluator.Model {
    if (!ref || (!ref.id && !ref.name)) throw invalidArgument('model', 'give an id or a name');
    const alias = !ref.id && !ref.version && ref.alias && ref.alias !== LATEST ? ref.alias : '';
    if (alias) checkAlias('model.alias', alias);
    const row = (ref.id
      ? this.db.prepare('SELECT header_json FROM models WHERE id = ?').get(ref.id)
      : ref.version
        ? this.db.prepare('SELECT header_json FROM models WHERE name = ? AND version = ?').get(ref.name, ref.version)
        : alias
          ? this.db.prepare('SELECT m.header_json FROM aliases a JOIN models m ON m.id = a.model_id WHERE a.name = ? AND a.alias = ?').get(ref.name, alias)
          : this.db.prepare('SELECT header_json FROM models WHERE name = ? ORDER BY version DESC LIMIT 1').get(ref.name)) as { header_json: string } | undefined;
    if (!row) throw notFound('model', ref.id || `${ref.name}${ref.version ? ` v${ref.version}` : alias ? ` alias ${alias}` : ''}`);
    return evaluator.Model.fromJSON(JSON.parse(row.header_json));
  }

  /**
   * Points alias at version of name in one transaction (the one atomic SQLite update of a
   * promotion). expected: compare-and-set on the version it points at now (0: must not
   * exist); a mismatch is ABORTED and changes nothing.
   */
  setAlias(name: string, alias: string, version: number, expected?: number): { alias: evaluator.Alias; previous: number } {
    if (!name) throw invalidArgument('name', 'is required');
    checkAlias('alias', alias, true);
    if (!Number.isInteger(version) || version < 1) throw invalidArgument('version', `must be a version number (1..), got ${version}`);
    return this.db.transaction(() => {
      const model = this.get({ id: '', name, version, alias: '' });
      const now = this.db.prepare('SELECT m.version AS v FROM aliases a JOIN models m ON m.id = a.model_id WHERE a.name = ? AND a.alias = ?').get(name, alias) as { v: number } | undefined;
      const previous = now?.v ?? 0;
      if (expected !== undefined && expected !== previous)
        throw new RrError('ABORTED', `expected_version: alias ${alias} of ${name} points at ${previous ? `version ${previous}` : 'nothing'}, not ${expected ? `version ${expected}` : 'nothing'}`);
      const at = new Date().toISOString();
      this.db.prepare('INSERT INTO aliases VALUES (?, ?, ?, ?) ON CONFLICT (name, alias) DO UPDATE SET model_id = excluded.model_id, updated_at = excluded.updated_at').run(name, alias, model.id, at);
      return { alias: { name, alias, version: model.version, modelId: model.id, updatedAt: at }, previous };
    })();
  }

  listAliases(name?: string): evaluator.Alias[] {
    const rows = this.db
      .prepare("SELECT a.name, a.alias, m.version, a.model_id, a.updated_at FROM aliases a JOIN models m ON m.id = a.model_id WHERE (? = '' OR a.name = ?) ORDER BY a.name, a.alias")
      .all(name ?? '', name ?? '') as Array<{ name: string; alias: string; version: number; model_id: string; updated_at: string }>;
    return rows.map((r) => ({ name: r.name, alias: r.alias, version: r.version, modelId: r.model_id, updatedAt: r.updated_at }));
  }

  deleteAlias(name: string, alias: string): evaluator.Alias {
    checkAlias('alias', alias, true);
    return this.db.transaction(() => {
      const found = this.listAliases(name).find((a) => a.alias === alias);
      if (!found) throw notFound('alias', `${alias} of ${name}`);
      this.db.prepare('DELETE FROM aliases WHERE name = ? AND alias = ?').run(name, alias);
      return found;
    })();
  }

  list(name?: string): evaluator.Model[] {
    const rows = (name
      ? this.db.prepare('SELECT header_json FROM models WHERE name = ? ORDER BY rowid DESC').all(name)
      : this.db.prepare('SELECT header_json FROM models ORDER BY rowid DESC').all()) as Array<{ header_json: string }>;
    return rows.map((r) => evaluator.Model.fromJSON(JSON.parse(r.header_json)));
  }

  /**
   * The model's tensors, read straight into one SharedArrayBuffer: the serving threads share
   * these tables as they are (ServePool.add copies nothing), so a served model is held once,
   * not three times (file buffer, a Float32Array copy, a shared copy) as before.
   */
  load(model: evaluator.Model): LoadedTensors {
    const expected = model.tensors.reduce((a, t) => a + tensorBytes(t), 0);
    const fd = openSync(this.artifacts.path(`${model.id}.bin`), 'r');
    let copy: Float32Array;
    try {
      const size = fstatSync(fd).size;
      if (size !== expected) throw new RrError('DATA_LOSS', `model ${model.id}: tensor file holds ${size} bytes, its header ${expected}`);
      copy = new Float32Array(new SharedArrayBuffer(size));
      const bytes = new Uint8Array(copy.buffer);
      for (let off = 0; off < size; ) {
        const n = readSync(fd, bytes, off, Math.min(size - off, 1 << 30), off);
        if (n === 0) throw new RrError('DATA_LOSS', `model ${model.id}: tensor file ended at byte ${off} of ${size}`);
        off += n;
      }
    } finally {
      closeSync(fd);
    }
    const tensors: LoadedTensors['tensors'] = {};
    let off = 0;
    for (const t of model.tensors) {
      const n = sizeOf(t);
      tensors[t.name] = { shape: t.shape, data: copy.subarray(off, off + n) };
      off += n;
    }
    return { header: model, tensors };
  }

  saveEvaluation(e: evaluator.Evaluation): void {
    failpoint('evaluator.evaluated');
    this.db
      .prepare('INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?)')
      .run(e.id, e.modelId, e.datasetId, e.provenance?.configJson ?? '{}', JSON.stringify(evaluator.Evaluation.toJSON(e)), new Date().toISOString());
  }

  getEvaluation(id: string): evaluator.Evaluation {
    const row = this.db.prepare('SELECT evaluation_json FROM evaluations WHERE id = ?').get(id) as { evaluation_json: string } | undefined;
    if (!row) throw notFound('evaluation', id);
    return evaluator.Evaluation.fromJSON(JSON.parse(row.evaluation_json));
  }

  listEvaluations(modelId?: string, datasetId?: string): evaluator.Evaluation[] {
    const rows = this.db
      .prepare('SELECT evaluation_json FROM evaluations WHERE (? = \'\' OR model_id = ?) AND (? = \'\' OR dataset_id = ?) ORDER BY rowid DESC')
      .all(modelId ?? '', modelId ?? '', datasetId ?? '', datasetId ?? '') as Array<{ evaluation_json: string }>;
    return rows.map((r) => evaluator.Evaluation.fromJSON(JSON.parse(r.evaluation_json)));
  }

  getProjection(modelId: string, sample: number, seed: number): StoredProjection | undefined {
    const r = this.db.prepare('SELECT * FROM projections WHERE model_id = ? AND sample = ? AND seed = ?').get(modelId, sample, seed) as
      | { method: string; params_json: string; num_genuine_users: number; num_fake_users: number; users: Buffer; coords: Buffer; seconds: number }
      | undefined;
    if (!r) return undefined;
    return {
      modelId,
      sample,
      seed,
      method: r.method,
      params: JSON.parse(r.params_json) as Record<string, unknown>,
      numGenuineUsers: r.num_genuine_users,
      numFakeUsers: r.num_fake_users,
      users: blobOf(r.users, Uint32Array),
      coords: blobOf(r.coords, Float32Array),
      seconds: r.seconds,
    };
  }

  /**
   * Stores a projection; the first one stored for its key stays (equal inputs give equal
   * points). A model keeps its newest `keep` projections: every seed is a new key, so the
   * table would otherwise grow with each request.
   */
  saveProjection(p: StoredProjection, keep = MAX_PROJECTIONS_PER_MODEL): void {
    this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO projections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (model_id, sample, seed) DO NOTHING')
        .run(p.modelId, p.sample, p.seed, p.method, JSON.stringify(p.params), p.numGenuineUsers, p.numFakeUsers, bytesOf(p.users), bytesOf(p.coords), p.seconds, new Date().toISOString());
      this.db
        .prepare('DELETE FROM projections WHERE model_id = ? AND rowid NOT IN (SELECT rowid FROM projections WHERE model_id = ? ORDER BY rowid DESC LIMIT ?)')
        .run(p.modelId, p.modelId, keep);
    })();
  }

  close(): void {
    this.db.close();
  }
}

export const tensorBytes = (t: evaluator.TensorInfo): number => 4 * sizeOf(t);
