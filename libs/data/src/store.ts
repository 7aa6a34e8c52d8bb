import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import {
  dataRoots,
  datasetsDir,
  invalidArgument,
  notFound,
  provenance,
  resolveUnderRoots,
  resourceExhausted,
  RrError,
  type InteractionData,
  type ProvenanceRecord,
} from '@robustrec/core';
import { atomicWriteFile, openDatabase, type Db } from '@robustrec/store';
import { decodeCsr, encodeCsr } from './binary';
import { CATALOGUE, catalogueEntry, ensureCatalogueDataset, localCataloguePath, recordedSha256, type CatalogueEntry, type Fetcher } from './catalogue';
import { datasetIdOf, type DatasetContent } from './content';
import { importInteractionFile, type InteractionFileOptions } from './interactions-file';
import { parseLightGcn, type LightGcnOptions } from './lightgcn';
import { poison } from './poison';
import { exportAuthorsProfiles, parseAuthorsProfiles, profileSetIdOf, validateProfileSet, type Profile } from './profiles';
import { statistics, type DatasetStatistics } from './statistics';
import { resolveSyntheticOptions, syntheticInteractions, type SyntheticOptions } from './synthetic';

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

const SPLITS = ['train', 'valid', 'test'] as const;
export const LIGHTGCN_FILES = ['train.txt', 'valid.txt', 'test.txt'] as const;

/** Largest profile-set file importProfileSet reads (the same as a JSON document sent inline). */
export const MAX_PROFILE_FILE_BYTES = 64 << 20;
const DATASET_SELECT = `SELECT d.*, l.parent_id, l.profile_set_id FROM datasets d LEFT JOIN lineage l ON l.dataset_id = d.id`;

const sha = (parts: Uint8Array[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

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
 * per dataset (<home>/data/datasets/<id>/). Datasets are content addressed; an import
 * writes its files into a temp dir, renames it into place and inserts its rows in one
 * transaction, removing everything on failure.
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

  datasetDir(id: string): string {
    if (!/^ds_[0-9a-f]{24}$/.test(id)) throw notFound('dataset', id);
    return join(this.dir, 'datasets', id);
  }

  // ---- imports -------------------------------------------------------------------------

  /** LightGCN text directory (under a data root). */
  importLightGcn(directory: string, opts: LightGcnOptions & { name?: string } = {}): ImportResult {
    const t0 = performance.now();
    const dir = resolveUnderRoots(directory, this.roots, 'lightgcn.directory');
    // the files are opened by name inside the directory: a link there must not lead out either
    for (const f of LIGHTGCN_FILES) resolveUnderRoots(join(dir, f), this.roots, 'lightgcn.directory');
    return this.importParsed(dir, opts, `lightgcn:${dir}`, opts.name || basename(dir), t0);
  }

  private importParsed(dir: string, opts: LightGcnOptions, source: string, name: string, t0: number): ImportResult {
    const p = parseLightGcn(dir, opts);
    const content: DatasetContent = { ...p, numGenuineUsers: p.numUsers, targetItems: [] };
    const prov = provenance(0, { source: 'lightgcn', mergeValidIntoTrain: opts.mergeValidIntoTrain === true });
    return this.store(content, { name, kind: 'clean', source, provenance: prov }, t0);
  }

  /** Generic CSV/TSV interaction file (under a data root): k-core, remap, split. */
  importInteractionFile(path: string, opts: InteractionFileOptions & { name?: string } = {}): ImportResult {
    const t0 = performance.now();
    const file = resolveUnderRoots(path, this.roots, 'interactions.path');
    const { name, ...options } = opts;
    const r = importInteractionFile(file, options);
    const content: DatasetContent = {
      numUsers: r.numUsers,
      numGenuineUsers: r.numUsers,
      numItems: r.numItems,
      train: r.train,
      valid: r.valid,
      test: r.test,
      targetItems: [],
      userIds: r.userIds,
      itemIds: r.itemIds,
    };
    const prov = provenance(options.seed ?? 2024, { source: 'interactions', ...options, chronological: r.chronological, counts: r.counts });
    return this.store(content, { name: name || basename(file, extname(file)), kind: 'clean', source: `interactions:${file}`, provenance: prov }, t0);
  }

  /** Seeded synthetic dataset. */
  importSynthetic(opts: SyntheticOptions & { name?: string } = {}): ImportResult {
    const t0 = performance.now();
    const { name, ...options } = opts;
    const o = resolveSyntheticOptions(options);
    const d = syntheticInteractions(o);
    const src = `synthetic:seed=${o.seed},users=${o.numUsers},items=${o.numItems},mean=${o.meanInteractions},zipf=${o.popularityExponent},clusters=${o.clusters}`;
    return this.store(d, { name: name || `synthetic-${o.seed}`, kind: 'synthetic', source: src, provenance: provenance(o.seed, o) }, t0);
  }

  /** Public benchmark by name: local datasets directory, else verified cache, else download. */
  async importCatalogue(name: string, opts: LightGcnOptions & { displayName?: string } = {}): Promise<ImportResult> {
    const t0 = performance.now();
    const entry = catalogueEntry(name, this.catalogueEntries());
    const dir = await ensureCatalogueDataset(entry, this.catalogueDirs());
    return this.importParsed(dir, opts, `catalogue:${name}`, opts.displayName || name, t0);
  }

  /** Stores in-memory interaction data built elsewhere (tests, other tools). */
  importData(data: DatasetContent, meta: { name: string; kind?: DatasetKind; source?: string; provenance?: ProvenanceRecord }): ImportResult {
    const kind = meta.kind ?? 'clean';
    if (kind === 'poisoned') throw invalidArgument('kind', 'poisoned datasets are derived with derivePoisoned, which records their lineage');
    return this.store(data, { name: meta.name, kind, source: meta.source ?? 'memory', provenance: meta.provenance ?? provenance(0, { source: 'memory' }) }, performance.now());
  }

  private store(
    c: DatasetContent,
    meta: { name: string; kind: DatasetKind; source: string; provenance: ProvenanceRecord; lineage?: { parentId: string; profileSetId: string } },
    t0: number,
  ): ImportResult {
    const id = datasetIdOf(c);
    const existing = this.find(id);
    if (existing) return { dataset: existing, existed: true, seconds: (performance.now() - t0) / 1000 };

    const files: Record<string, Uint8Array[]> = {};
    for (const s of SPLITS) files[`${s}.csr`] = encodeCsr(c[s]);
    if (c.userIds) files['users.txt'] = [Buffer.from(c.userIds.join('\n') + '\n')];
    if (c.itemIds) files['items.txt'] = [Buffer.from(c.itemIds.join('\n') + '\n')];
    const tmp = join(this.dir, 'tmp', `${process.pid}-${id}-${Math.random().toString(36).slice(2, 8)}`);
    const final = this.datasetDir(id);
    let renamed = false;
    try {
      for (const [file, parts] of Object.entries(files)) atomicWriteFile(join(tmp, file), parts);
      // a directory without a catalogue row is the leftover of a crash between rename and commit
      rmSync(final, { recursive: true, force: true });
      renameSync(tmp, final);
      renamed = true;
      const record: DatasetRecord = {
        id,
        name: meta.name,
        kind: meta.kind,
        numUsers: c.numUsers,
        numGenuineUsers: c.numGenuineUsers,
        numItems: c.numItems,
        numTrain: c.train.indices.length,
        numValid: c.valid.indices.length,
        numTest: c.test.indices.length,
        parentId: meta.lineage?.parentId ?? '',
        profileSetId: meta.lineage?.profileSetId ?? '',
        targetItems: Array.from(c.targetItems),
        checksum: sha(SPLITS.flatMap((s) => files[`${s}.csr`]!)),
        source: meta.source,
        provenance: meta.provenance,
      };
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
        for (const [file, parts] of Object.entries(files))
          ins.run(id, file, sha(parts), parts.reduce((s, p) => s + p.byteLength, 0));
        if (meta.lineage)
          this.db.prepare('INSERT INTO lineage (dataset_id, parent_id, profile_set_id) VALUES (?, ?, ?)').run(id, meta.lineage.parentId, meta.lineage.profileSetId);
      })();
      return { dataset: record, existed: false, seconds: (performance.now() - t0) / 1000 };
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

  /** Loads a dataset's arrays, verifying each file against its recorded sha256. */
  load(id: string): InteractionData {
    const hit = this.loaded.get(id);
    if (hit) {
      this.loaded.delete(id);
      this.loaded.set(id, hit);
      return hit;
    }
    const rec = this.get(id);
    const sums = new Map(
      (this.db.prepare('SELECT file, sha256 FROM checksums WHERE dataset_id = ?').all(id) as Array<{ file: string; sha256: string }>).map((r) => [r.file, r.sha256]),
    );
    const read = (file: string): Buffer => {
      const p = join(this.datasetDir(id), file);
      if (!existsSync(p)) throw new RrError('INTERNAL', `dataset ${id}: stored file ${file} is missing`);
      const b = readFileSync(p);
      if (sha([b]) !== sums.get(file)) throw new RrError('INTERNAL', `dataset ${id}: stored file ${file} does not match its recorded sha256`);
      return b;
    };
    const [train, valid, test] = SPLITS.map((s) => decodeCsr(read(`${s}.csr`), `${id}/${s}.csr`));
    const data: InteractionData = {
      id,
      numUsers: rec.numUsers,
      numGenuineUsers: rec.numGenuineUsers,
      numItems: rec.numItems,
      train: train!,
      valid: valid!,
      test: test!,
      targetItems: Uint32Array.from(rec.targetItems),
    };
    this.loaded.set(id, data);
    if (this.loaded.size > 4) this.loaded.delete(this.loaded.keys().next().value!);
    return data;
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

  /** Validates and stores a profile set (content addressed). */
  putProfileSet(input: ProfileSetInput): { profileSet: ProfileSetRecord; existed: boolean } {
    const ds = this.get(input.datasetId);
    const set = validateProfileSet({ datasetId: ds.id, targetItems: input.targetItems, profiles: input.profiles }, ds.numItems);
    const id = profileSetIdOf(set);
    const existing = this.findProfileSet(id);
    if (existing) return { profileSet: existing, existed: true };
    const record: ProfileSetRecord = {
      id,
      datasetId: ds.id,
      generator: input.generator || 'imported',
      targetItems: set.targetItems,
      numProfiles: set.profiles.length,
      provenance: input.provenance ?? provenance(0, { generator: input.generator || 'imported' }),
      seconds: input.seconds ?? 0,
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

  /** Imports the authors' JSON format from a file under a data root (or given text). */
  importProfileSet(opts: { datasetId: string; path?: string; json?: string; minLength?: number; generator?: string }): {
    profileSet: ProfileSetRecord;
    existed: boolean;
    dropped: number;
  } {
    this.get(opts.datasetId);
    let text = opts.json ?? '';
    let label = 'json';
    if (!text) {
      if (!opts.path) throw invalidArgument('path', 'either path or json is required');
      const file = resolveUnderRoots(opts.path, this.roots, 'path');
      if (!existsSync(file) || !statSync(file).isFile()) throw notFound('file', opts.path);
      const size = statSync(file).size;
      if (size > MAX_PROFILE_FILE_BYTES) throw resourceExhausted(`path: ${basename(file)} is ${size} bytes, more than the ${MAX_PROFILE_FILE_BYTES} a profile-set file may have`);
      text = readFileSync(file, 'utf8');
      label = basename(file);
    }
    const parsed = parseAuthorsProfiles(text, label, opts.minLength ?? 0);
    if (parsed.profiles.length === 0) throw invalidArgument('min_length', `all ${parsed.dropped} profiles of ${label} are shorter than ${opts.minLength}`);
    const cfg = { generator: opts.generator || 'imported', source: opts.path ?? 'json', minLength: opts.minLength ?? 0 };
    const r = this.putProfileSet({ datasetId: opts.datasetId, generator: cfg.generator, targetItems: parsed.targetItems, profiles: parsed.profiles, provenance: provenance(0, cfg) });
    return { ...r, dropped: parsed.dropped };
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

  /** Derives (or finds) the poisoned dataset of a clean dataset and one of its profile sets. */
  derivePoisoned(datasetId: string, profileSetId: string, name?: string): ImportResult {
    const t0 = performance.now();
    const clean = this.get(datasetId);
    const set = this.getProfileSet(profileSetId);
    if (set.datasetId !== clean.id)
      throw invalidArgument('profile_set_id', `profile set ${set.id} uses the item space of dataset ${set.datasetId}, not ${clean.id}`);
    const data = poison(this.load(clean.id), set);
    const prov = provenance(set.provenance.seed, { parentId: clean.id, profileSetId: set.id, generator: set.generator, attack: JSON.parse(set.provenance.configJson || '{}') as unknown });
    return this.store(
      data,
      {
        name: name || `${clean.name}+${set.generator}`,
        kind: 'poisoned',
        source: `poisoned:${clean.id}+${set.id}`,
        provenance: prov,
        lineage: { parentId: clean.id, profileSetId: set.id },
      },
      t0,
    );
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
