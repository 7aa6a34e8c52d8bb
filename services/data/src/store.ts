import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  dataRoots,
  datasetsDir,
  failpoint,
  invalidArgument,
  notFound,
  provenance,
  resolveUnderRoots,
  resourceExhausted,
  type InteractionData,
  type ProvenanceRecord,
} from '@robustrec/core';
import { openDatabase, type Db } from '@robustrec/store';
import { CATALOGUE, catalogueEntry, type CatalogueEntry, type DatasetContent, type DatasetStatistics, ensureCatalogueDataset, exportAuthorsProfiles, type Fetcher, type InteractionFileOptions, type LightGcnOptions, localCataloguePath, type Profile, recordedSha256, statistics, type SyntheticOptions } from '@robustrec/data';
import { runDataTask, stageDataset, type DataTask, type PreparedProfileSet, type StagedDataset, type StoredDataset } from './tasks';

export type DatasetKind = 'clean' | 'synthetic' | 'poisoned';

/** Catalogue row of one stored dataset. */
export interface DatasetRecord {
  id: string;
  name: string;
  kind: DatasetKind;
  numUsers: number;
  numGenuineUsers: number;
  numItems: number;
  numTrain: number;
  numValid: number;
  numTest: number;
  /** Poisoned datasets: clean parent and injected profile set ("" otherwise). */
  parentId: string;
  profileSetId: string;
  targetItems: number[];
  /** sha256 over the stored CSR files (train, valid, test) in order. */
  checksum: string;
  source: string;
  provenance: ProvenanceRecord;
}

export interface ProfileSetRecord {
  id: string;
  datasetId: string;
  generator: string;
  targetItems: number[];
  numProfiles: number;
  provenance: ProvenanceRecord;
  seconds: number;
}

export interface ImportResult {
  dataset: DatasetRecord;
  existed: boolean;
  seconds: number;
}

export interface ProfileSetInput {
  datasetId: string;
  generator?: string;
  targetItems: number[];
  profiles: Profile[];
  provenance?: ProvenanceRecord;
  seconds?: number;
}

export interface DataStoreOptions {
  /** Directories user-supplied paths must lie under (default: dataRoots()). */
  roots?: string[];
  /** Local public-datasets directory for the catalogue (default: datasetsDir()). */
  datasetsDir?: string;
  /** Downloader for catalogue datasets (default: HTTPS). */
  fetcher?: Fetcher;
  /** Catalogue entries (default: CATALOGUE). */
  catalogue?: readonly CatalogueEntry[];
}

const MIGRATIONS = [
  `
  CREATE TABLE datasets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('clean', 'synthetic', 'poisoned')),
    num_users INTEGER NOT NULL,
    num_genuine_users INTEGER NOT NULL,
    num_items INTEGER NOT NULL,
    num_train INTEGER NOT NULL,
    num_valid INTEGER NOT NULL,
    num_test INTEGER NOT NULL,
    target_items TEXT NOT NULL,
    checksum TEXT NOT NULL,
    source TEXT NOT NULL,
    provenance TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE checksums (
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (dataset_id, file)
  );
  CREATE TABLE profile_sets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    dataset_id TEXT NOT NULL REFERENCES datasets(id),
    generator TEXT NOT NULL,
    target_items TEXT NOT NULL,
    num_profiles INTEGER NOT NULL,
    provenance TEXT NOT NULL,
    seconds REAL NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE profiles (
    profile_set_id TEXT NOT NULL REFERENCES profile_sets(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    items TEXT NOT NULL,
    PRIMARY KEY (profile_set_id, idx)
  );
  CREATE TABLE lineage (
    dataset_id TEXT PRIMARY KEY REFERENCES datasets(id) ON DELETE CASCADE,
    parent_id TEXT NOT NULL REFERENCES datasets(id),
    profile_set_id TEXT NOT NULL REFERENCES profile_sets(id)
  );
  `,
];

interface DatasetRow {
  id: string;
  name: string;
  kind: DatasetKind;
  num_users: number;
  num_genuine_users: number;
  num_items: number;
  num_train: number;
  num_valid: number;
  num_test: number;
  target_items: string;
  checksum: string;
  source: string;
  provenance: string;
  parent_id: string | null;
  profile_set_id: string | null;
}

interface ProfileSetRow {
  id: string;
  dataset_id: string;
  generator: string;
  target_items: string;
  num_profiles: number;
  provenance: string;
  seconds: number;
}

export const LIGHTGCN_FILES = ['train.txt', 'valid.txt', 'test.txt'] as const;

/** Largest profile-set file importProfileSet reads (the same as a JSON document sent inline). */
export const MAX_PROFILE_FILE_BYTES = 64 << 20;
const DATASET_SELECT = `SELECT d.*, l.parent_id, l.profile_set_id FROM datasets d LEFT JOIN lineage l ON l.dataset_id = d.id`;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The data service's state: SQLite catalogue (<home>/data/data.db: datasets, checksums,
 * profile sets and profiles, lineage) plus one immutable directory of binary CSR files
 * per dataset (<home>/data/datasets/<id>/). Datasets are content addressed.
 *
 * Who writes what: the heavy half of every operation is a DataTask (tasks.ts) that needs no
 * SQLite; an import's task stages the dataset's files (fsynced) in a private directory under
 * <data>/tmp. The data service runs tasks on worker threads, several at once. Only the thread
 * that owns this DataStore touches the catalogue: commitStaged renames a staged directory into
 * place and inserts its rows in one transaction, synchronously, so two imports committing
 * "at once" are simply two commits one after the other on that thread (the second finds the
 * first's row and reports existed). better-sqlite3 connections are per thread and
 * synchronous, so there is exactly one writer connection and no busy waiting.
 *
 * Crash safety: a dataset is visible once its row is committed, and its directory is in place
 * before that. Start-up removes what a killed process can leave behind: staging directories of
 * dead processes and dataset directories without a catalogue row (killed between rename and
 * commit). The catalogue is SQLite in WAL mode: a kill never leaves a half transaction.
 */
export class DataStore {
  readonly dir: string;
  readonly db: Db;
  readonly roots: string[];
  private readonly opts: DataStoreOptions;
  private readonly cacheDir: string;
  /** Small LRU of loaded datasets (immutable, so caching is safe). */
  private readonly loaded = new Map<string, InteractionData>();

  private constructor(readonly home: string, opts: DataStoreOptions) {
    this.opts = opts;
    this.dir = join(home, 'data');
    this.cacheDir = join(home, 'cache');
    this.roots = opts.roots ?? dataRoots();
    mkdirSync(join(this.dir, 'datasets'), { recursive: true });
    mkdirSync(join(this.dir, 'tmp'), { recursive: true });
    this.db = openDatabase(join(this.dir, 'data.db'), MIGRATIONS);
    this.sweepTemp();
    this.sweepUncommitted();
  }

  static open(home: string, opts: DataStoreOptions = {}): DataStore {
    return new DataStore(home, opts);
  }

  close(): void {
    this.db.close();
  }

  /** Removes temp dirs left by crashed imports of processes that no longer run. */
  private sweepTemp(): void {
    for (const e of readdirSync(join(this.dir, 'tmp'))) {
      const pid = Number(e.split('-')[0]);
      if (!Number.isInteger(pid) || !isAlive(pid)) rmSync(join(this.dir, 'tmp', e), { recursive: true, force: true });
    }
  }

  /** Removes dataset directories without a catalogue row: an import killed between its rename and its commit. */
  private sweepUncommitted(): void {
    const known = new Set((this.db.prepare('SELECT id FROM datasets').all() as Array<{ id: string }>).map((r) => r.id));
    for (const e of readdirSync(join(this.dir, 'datasets'))) if (!known.has(e)) rmSync(join(this.dir, 'datasets', e), { recursive: true, force: true });
  }

  datasetDir(id: string): string {
    if (!/^ds_[0-9a-f]{24}$/.test(id)) throw notFound('dataset', id);
    return join(this.dir, 'datasets', id);
  }

  // ---- imports: plan (this thread) -> task (any thread) -> commit (this thread) ----------

  /** LightGCN text directory (under a data root). */
  planLightGcn(directory: string, opts: LightGcnOptions & { name?: string } = {}): Extract<DataTask, { op: 'lightgcn' }> {
    const dir = resolveUnderRoots(directory, this.roots, 'lightgcn.directory');
    // the files are opened by name inside the directory: a link there must not lead out either
    for (const f of LIGHTGCN_FILES) resolveUnderRoots(join(dir, f), this.roots, 'lightgcn.directory');
    return { op: 'lightgcn', dataDir: this.dir, dir, opts: { mergeValidIntoTrain: opts.mergeValidIntoTrain }, source: `lightgcn:${dir}`, name: opts.name || basename(dir) };
  }

  /** Generic CSV/TSV interaction file (under a data root): k-core, remap, split. */
  planInteractionFile(path: string, opts: InteractionFileOptions & { name?: string } = {}): Extract<DataTask, { op: 'interactions' }> {
    const file = resolveUnderRoots(path, this.roots, 'interactions.path');
    const { name, ...options } = opts;
    return { op: 'interactions', dataDir: this.dir, file, options, name: name ?? '' };
  }

  /** Seeded synthetic dataset. */
  planSynthetic(opts: SyntheticOptions & { name?: string } = {}): Extract<DataTask, { op: 'synthetic' }> {
    const { name, ...options } = opts;
    return { op: 'synthetic', dataDir: this.dir, options, name: name ?? '' };
  }

  /** Public benchmark by name: local datasets directory, else verified cache, else download. */
  async planCatalogue(name: string, opts: LightGcnOptions & { displayName?: string } = {}): Promise<Extract<DataTask, { op: 'lightgcn' }>> {
    const entry = catalogueEntry(name, this.catalogueEntries());
    const dir = await ensureCatalogueDataset(entry, this.catalogueDirs());
    return { op: 'lightgcn', dataDir: this.dir, dir, opts: { mergeValidIntoTrain: opts.mergeValidIntoTrain }, source: `catalogue:${name}`, name: opts.displayName || name };
  }

  /** Derives (or finds) the poisoned dataset of a clean dataset and one of its profile sets. */
  planPoisoned(datasetId: string, profileSetId: string, name?: string): Extract<DataTask, { op: 'poison' }> {
    const clean = this.get(datasetId);
    const set = this.getProfileSet(profileSetId);
    if (set.datasetId !== clean.id)
      throw invalidArgument('profile_set_id', `profile set ${set.id} uses the item space of dataset ${set.datasetId}, not ${clean.id}`);
    const prov = provenance(set.provenance.seed, { parentId: clean.id, profileSetId: set.id, generator: set.generator, attack: JSON.parse(set.provenance.configJson || '{}') as unknown });
    return {
      op: 'poison',
      dataDir: this.dir,
      clean: this.stored(clean.id),
      set: { targetItems: set.targetItems, profiles: set.profiles },
      meta: {
        name: name || `${clean.name}+${set.generator}`,
        kind: 'poisoned',
        source: `poisoned:${clean.id}+${set.id}`,
        provenance: prov,
        lineage: { parentId: clean.id, profileSetId: set.id },
      },
    };
  }

  importLightGcn(directory: string, opts: LightGcnOptions & { name?: string } = {}): ImportResult {
    const t0 = performance.now();
    return this.commitStaged(runDataTask(this.planLightGcn(directory, opts)), t0);
  }

  importInteractionFile(path: string, opts: InteractionFileOptions & { name?: string } = {}): ImportResult {
    const t0 = performance.now();
    return this.commitStaged(runDataTask(this.planInteractionFile(path, opts)), t0);
  }

  importSynthetic(opts: SyntheticOptions & { name?: string } = {}): ImportResult {
    const t0 = performance.now();
    return this.commitStaged(runDataTask(this.planSynthetic(opts)), t0);
  }

  async importCatalogue(name: string, opts: LightGcnOptions & { displayName?: string } = {}): Promise<ImportResult> {
    const t0 = performance.now();
    return this.commitStaged(runDataTask(await this.planCatalogue(name, opts)), t0);
  }

  derivePoisoned(datasetId: string, profileSetId: string, name?: string): ImportResult {
    const t0 = performance.now();
    return this.commitStaged(runDataTask(this.planPoisoned(datasetId, profileSetId, name)), t0);
  }

  /** Stores in-memory interaction data built elsewhere (tests, other tools). */
  importData(data: DatasetContent, meta: { name: string; kind?: DatasetKind; source?: string; provenance?: ProvenanceRecord }): ImportResult {
    const t0 = performance.now();
    const kind = meta.kind ?? 'clean';
    if (kind === 'poisoned') throw invalidArgument('kind', 'poisoned datasets are derived with derivePoisoned, which records their lineage');
    return this.commitStaged(stageDataset(this.dir, data, { name: meta.name, kind, source: meta.source ?? 'memory', provenance: meta.provenance ?? provenance(0, { source: 'memory' }) }), t0);
  }

  /**
   * Makes a staged dataset visible: its directory is renamed into place and its rows are
   * inserted in one transaction (see the class comment). Content already stored: the staged
   * copy is dropped and the stored record returned with existed = true.
   */
  commitStaged(staged: StagedDataset, t0: number): ImportResult {
    const { record, tmp } = staged;
    const seconds = (): number => (performance.now() - t0) / 1000;
    const existing = this.find(record.id);
    if (existing) {
      rmSync(tmp, { recursive: true, force: true });
      return { dataset: existing, existed: true, seconds: seconds() };
    }
    const final = this.datasetDir(record.id);
    let renamed = false;
    try {
      // a directory without a catalogue row is the leftover of a crash between rename and commit
      rmSync(final, { recursive: true, force: true });
      renameSync(tmp, final);
      renamed = true;
      failpoint('data.renamed');
      this.db.transaction(() => {
        this.db
          .prepare(
            `INSERT INTO datasets (id, name, kind, num_users, num_genuine_users, num_items, num_train, num_valid, num_test,
               target_items, checksum, source, provenance, created_at)
             VALUES (@id, @name, @kind, @numUsers, @numGenuineUsers, @numItems, @numTrain, @numValid, @numTest,
               @targetItems, @checksum, @source, @provenance, @createdAt)`,
          )
          .run({
            ...record,
            targetItems: JSON.stringify(record.targetItems),
            provenance: JSON.stringify(record.provenance),
            createdAt: record.provenance.createdAt,
          });
        const ins = this.db.prepare('INSERT INTO checksums (dataset_id, file, sha256, bytes) VALUES (?, ?, ?, ?)');
        for (const f of staged.files) ins.run(record.id, f.file, f.sha256, f.bytes);
        if (staged.lineage)
          this.db.prepare('INSERT INTO lineage (dataset_id, parent_id, profile_set_id) VALUES (?, ?, ?)').run(record.id, staged.lineage.parentId, staged.lineage.profileSetId);
      })();
      return { dataset: record, existed: false, seconds: seconds() };
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      if (renamed) rmSync(final, { recursive: true, force: true });
      throw e;
    }
  }

  // ---- reads ---------------------------------------------------------------------------

  private find(id: string): DatasetRecord | undefined {
    const row = this.db.prepare(`${DATASET_SELECT} WHERE d.id = ?`).get(id) as DatasetRow | undefined;
    return row && toRecord(row);
  }

  /** Dataset metadata; NOT_FOUND for an unknown id. */
  get(id: string): DatasetRecord {
    const r = this.find(id);
    if (!r) throw notFound('dataset', id);
    return r;
  }

  /** Datasets newest first, optionally of one kind. */
  list(kind?: DatasetKind): DatasetRecord[] {
    const rows = (kind
      ? this.db.prepare(`${DATASET_SELECT} WHERE d.kind = ? ORDER BY d.seq DESC`).all(kind)
      : this.db.prepare(`${DATASET_SELECT} ORDER BY d.seq DESC`).all()) as DatasetRow[];
    return rows.map(toRecord);
  }

  /** What a task needs to read a stored dataset's files (NOT_FOUND for an unknown id). */
  stored(id: string): StoredDataset {
    const record = this.get(id);
    const rows = this.db.prepare('SELECT file, sha256 FROM checksums WHERE dataset_id = ?').all(id) as Array<{ file: string; sha256: string }>;
    return { record, dir: this.datasetDir(id), sums: Object.fromEntries(rows.map((r) => [r.file, r.sha256])) };
  }

  /** A loaded dataset if it is in the cache (most recently used moves last). */
  cached(id: string): InteractionData | undefined {
    const hit = this.loaded.get(id);
    if (hit) {
      this.loaded.delete(id);
      this.loaded.set(id, hit);
    }
    return hit;
  }

  /** Adds a loaded dataset to the cache (a few, least recently used evicted). */
  cache(data: InteractionData): InteractionData {
    this.loaded.set(data.id, data);
    if (this.loaded.size > 4) this.loaded.delete(this.loaded.keys().next().value!);
    return data;
  }

  /** Loads a dataset's arrays, verifying each file against its recorded sha256. */
  load(id: string): InteractionData {
    return this.cached(id) ?? this.cache(runDataTask({ op: 'load', stored: this.stored(id) }));
  }

  /** Original ids of a remapped (CSV/TSV) import, index = internal id; undefined for other kinds. */
  originalIds(id: string): { users: string[]; items: string[] } | undefined {
    this.get(id);
    const p = (f: string): string => join(this.datasetDir(id), f);
    if (!existsSync(p('users.txt'))) return undefined;
    const lines = (f: string): string[] => readFileSync(p(f), 'utf8').split('\n').slice(0, -1);
    return { users: lines('users.txt'), items: lines('items.txt') };
  }

  statistics(id: string): DatasetStatistics {
    return statistics(this.load(id));
  }

  // ---- profile sets & poisoning -------------------------------------------------------

  /** Validation task of a profile set (the dataset must exist). */
  planProfileSet(input: ProfileSetInput): Extract<DataTask, { op: 'profile-set' }> {
    const ds = this.get(input.datasetId);
    return { op: 'profile-set', content: { datasetId: ds.id, targetItems: input.targetItems, profiles: input.profiles }, numItems: ds.numItems };
  }

  /** Validates and stores a profile set (content addressed). */
  putProfileSet(input: ProfileSetInput): { profileSet: ProfileSetRecord; existed: boolean } {
    return this.commitProfileSet(runDataTask(this.planProfileSet(input)), input);
  }

  /** Stores a validated profile set in one transaction (or finds it: existed). */
  commitProfileSet(prepared: PreparedProfileSet, meta: { generator?: string; provenance?: ProvenanceRecord; seconds?: number }): { profileSet: ProfileSetRecord; existed: boolean } {
    const { id, set } = prepared;
    const existing = this.findProfileSet(id);
    if (existing) return { profileSet: existing, existed: true };
    const ds = this.get(set.datasetId);
    const record: ProfileSetRecord = {
      id,
      datasetId: ds.id,
      generator: meta.generator || 'imported',
      targetItems: set.targetItems,
      numProfiles: set.profiles.length,
      provenance: meta.provenance ?? provenance(0, { generator: meta.generator || 'imported' }),
      seconds: meta.seconds ?? 0,
    };
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO profile_sets (id, dataset_id, generator, target_items, num_profiles, provenance, seconds, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, ds.id, record.generator, JSON.stringify(record.targetItems), record.numProfiles, JSON.stringify(record.provenance), record.seconds, record.provenance.createdAt);
      const ins = this.db.prepare('INSERT INTO profiles (profile_set_id, idx, name, items) VALUES (?, ?, ?, ?)');
      set.profiles.forEach((p, k) => ins.run(id, k, p.name, JSON.stringify(p.items)));
    })();
    return { profileSet: record, existed: false };
  }

  /** Parse-and-validate task of the authors' JSON format, from a file under a data root (or given text). */
  planProfileFile(opts: { datasetId: string; path?: string; json?: string; minLength?: number }): Extract<DataTask, { op: 'profile-file' }> {
    const ds = this.get(opts.datasetId);
    if (!opts.json && !opts.path) throw invalidArgument('path', 'either path or json is required');
    const path = opts.json ? undefined : resolveUnderRoots(opts.path!, this.roots, 'path');
    if (path) {
      if (!existsSync(path) || !statSync(path).isFile()) throw notFound('file', opts.path!);
      const size = statSync(path).size;
      if (size > MAX_PROFILE_FILE_BYTES) throw resourceExhausted(`path: ${basename(path)} is ${size} bytes, more than the ${MAX_PROFILE_FILE_BYTES} a profile-set file may have`);
    }
    return { op: 'profile-file', datasetId: ds.id, numItems: ds.numItems, minLength: opts.minLength ?? 0, ...(opts.json ? { json: opts.json } : { path }) };
  }

  /** Provenance of an imported profile set. */
  importedProfileMeta(opts: { path?: string; json?: string; minLength?: number; generator?: string }): { generator: string; provenance: ProvenanceRecord } {
    const cfg = { generator: opts.generator || 'imported', source: opts.json ? 'json' : (opts.path ?? 'json'), minLength: opts.minLength ?? 0 };
    return { generator: cfg.generator, provenance: provenance(0, cfg) };
  }

  /** Imports the authors' JSON format from a file under a data root (or given text). */
  importProfileSet(opts: { datasetId: string; path?: string; json?: string; minLength?: number; generator?: string }): {
    profileSet: ProfileSetRecord;
    existed: boolean;
    dropped: number;
  } {
    const r = runDataTask(this.planProfileFile(opts));
    return { ...this.commitProfileSet(r, this.importedProfileMeta(opts)), dropped: r.dropped };
  }

  private findProfileSet(id: string): ProfileSetRecord | undefined {
    const row = this.db.prepare('SELECT * FROM profile_sets WHERE id = ?').get(id) as ProfileSetRow | undefined;
    return row && toProfileSetRecord(row);
  }

  getProfileSet(id: string): ProfileSetRecord & { profiles: Profile[] } {
    const rec = this.findProfileSet(id);
    if (!rec) throw notFound('profile set', id);
    const rows = this.db.prepare('SELECT name, items FROM profiles WHERE profile_set_id = ? ORDER BY idx').all(id) as Array<{ name: string; items: string }>;
    return { ...rec, profiles: rows.map((r) => ({ name: r.name, items: JSON.parse(r.items) as number[] })) };
  }

  listProfileSets(datasetId?: string): ProfileSetRecord[] {
    const rows = (datasetId
      ? this.db.prepare('SELECT * FROM profile_sets WHERE dataset_id = ? ORDER BY seq DESC').all(datasetId)
      : this.db.prepare('SELECT * FROM profile_sets ORDER BY seq DESC').all()) as ProfileSetRow[];
    return rows.map(toProfileSetRecord);
  }

  exportProfileSet(id: string): string {
    return exportAuthorsProfiles(this.getProfileSet(id));
  }

  // ---- catalogue -----------------------------------------------------------------------

  private catalogueEntries(): readonly CatalogueEntry[] {
    return this.opts.catalogue ?? CATALOGUE;
  }

  private catalogueDirs(): { datasetsDir: string; cacheDir: string; fetcher?: Fetcher } {
    return { datasetsDir: this.opts.datasetsDir ?? datasetsDir(), cacheDir: this.cacheDir, ...(this.opts.fetcher ? { fetcher: this.opts.fetcher } : {}) };
  }

  /** Catalogue entries with where each is available locally ("" when not) and the digests pinned or recorded. */
  catalogue(): Array<CatalogueEntry & { localPath: string }> {
    const dirs = this.catalogueDirs();
    return this.catalogueEntries().map((e) => ({ ...e, sha256: { ...recordedSha256(e, dirs), ...e.sha256 }, localPath: localCataloguePath(e, dirs) }));
  }
}

function toRecord(r: DatasetRow): DatasetRecord {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    numUsers: r.num_users,
    numGenuineUsers: r.num_genuine_users,
    numItems: r.num_items,
    numTrain: r.num_train,
    numValid: r.num_valid,
    numTest: r.num_test,
    parentId: r.parent_id ?? '',
    profileSetId: r.profile_set_id ?? '',
    targetItems: JSON.parse(r.target_items) as number[],
    checksum: r.checksum,
    source: r.source,
    provenance: JSON.parse(r.provenance) as ProvenanceRecord,
  };
}

function toProfileSetRecord(r: ProfileSetRow): ProfileSetRecord {
  return {
    id: r.id,
    datasetId: r.dataset_id,
    generator: r.generator,
    targetItems: JSON.parse(r.target_items) as number[],
    numProfiles: r.num_profiles,
    provenance: JSON.parse(r.provenance) as ProvenanceRecord,
    seconds: r.seconds,
  };
}
