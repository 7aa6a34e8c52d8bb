import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { dataRoots, datasetsDir, invalidArgument, notFound, processAlive, provenance, resolveUnderRoots, resourceExhausted, type InteractionData, type ProvenanceRecord } from '@robustrec/core';
import { openDatabase, type Db } from '@robustrec/store';
import {
  CATALOGUE,
  catalogueEntry,
  ensureCatalogueDataset,
  localCataloguePath,
  recordedSha256,
  statistics,
  type CatalogueEntry,
  type DatasetContent,
  type DatasetStatistics,
  type Fetcher,
  type InteractionFileOptions,
  type LightGcnOptions,
  type SyntheticOptions,
} from '@robustrec/data';
import { loadStored, runDataTask, stageDataset, type DataTask } from '../tasks';
import { Datasets, type DatasetKind, type DatasetRecord, type ImportResult } from './datasets';
import { ProfileSets, type ProfileSetInput, type ProfileSetRecord } from './profile-sets';
import { MIGRATIONS } from './schema';

export { Datasets, ProfileSets };
export type { DatasetKind, DatasetRecord, ImportResult, ProfileSetInput, ProfileSetRecord };

export const LIGHTGCN_FILES = ['train.txt', 'valid.txt', 'test.txt'] as const;

/** Largest profile-set file importProfileSet reads (the same as a JSON document sent inline). */
export const MAX_PROFILE_FILE_BYTES = 64 << 20;

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
  /** Stored datasets (catalogue rows and files). */
  readonly datasets: Datasets;
  /** Stored profile sets. */
  readonly profileSets: ProfileSets;
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
    this.datasets = new Datasets(this.db, this.dir);
    this.profileSets = new ProfileSets(this.db, this.datasets);
    this.sweepTemp();
    this.datasets.sweepUncommitted();
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
      if (!Number.isInteger(pid) || !processAlive(pid)) rmSync(join(this.dir, 'tmp', e), { recursive: true, force: true });
    }
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
    const clean = this.datasets.get(datasetId);
    const set = this.profileSets.get(profileSetId);
    if (set.datasetId !== clean.id)
      throw invalidArgument('profile_set_id', `profile set ${set.id} uses the item space of dataset ${set.datasetId}, not ${clean.id}`);
    const prov = provenance(set.provenance.seed, { parentId: clean.id, profileSetId: set.id, generator: set.generator, attack: JSON.parse(set.provenance.configJson || '{}') as unknown });
    return {
      op: 'poison',
      dataDir: this.dir,
      clean: this.datasets.stored(clean.id),
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

  async importLightGcn(directory: string, opts: LightGcnOptions & { name?: string } = {}): Promise<ImportResult> {
    const t0 = performance.now();
    return this.datasets.commit(await runDataTask(this.planLightGcn(directory, opts)), t0);
  }

  async importInteractionFile(path: string, opts: InteractionFileOptions & { name?: string } = {}): Promise<ImportResult> {
    const t0 = performance.now();
    return this.datasets.commit(await runDataTask(this.planInteractionFile(path, opts)), t0);
  }

  async importSynthetic(opts: SyntheticOptions & { name?: string } = {}): Promise<ImportResult> {
    const t0 = performance.now();
    return this.datasets.commit(await runDataTask(this.planSynthetic(opts)), t0);
  }

  async importCatalogue(name: string, opts: LightGcnOptions & { displayName?: string } = {}): Promise<ImportResult> {
    const t0 = performance.now();
    return this.datasets.commit(await runDataTask(await this.planCatalogue(name, opts)), t0);
  }

  async derivePoisoned(datasetId: string, profileSetId: string, name?: string): Promise<ImportResult> {
    const t0 = performance.now();
    return this.datasets.commit(await runDataTask(this.planPoisoned(datasetId, profileSetId, name)), t0);
  }

  /** Stores in-memory interaction data built elsewhere (tests, other tools). */
  importData(data: DatasetContent, meta: { name: string; kind?: DatasetKind; source?: string; provenance?: ProvenanceRecord }): ImportResult {
    const t0 = performance.now();
    const kind = meta.kind ?? 'clean';
    if (kind === 'poisoned') throw invalidArgument('kind', 'poisoned datasets are derived with derivePoisoned, which records their lineage');
    return this.datasets.commit(stageDataset(this.dir, data, { name: meta.name, kind, source: meta.source ?? 'memory', provenance: meta.provenance ?? provenance(0, { source: 'memory' }) }), t0);
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
    return this.cached(id) ?? this.cache(loadStored(this.datasets.stored(id)));
  }

  statistics(id: string): DatasetStatistics {
    return statistics(this.load(id));
  }

  // ---- profile sets ---------------------------------------------------------------------

  /** Validation task of a profile set (the dataset must exist). */
  planProfileSet(input: ProfileSetInput): Extract<DataTask, { op: 'profile-set' }> {
    const ds = this.datasets.get(input.datasetId);
    return { op: 'profile-set', content: { datasetId: ds.id, targetItems: input.targetItems, profiles: input.profiles }, numItems: ds.numItems };
  }

  /** Validates and stores a profile set (content addressed). */
  async putProfileSet(input: ProfileSetInput): Promise<{ profileSet: ProfileSetRecord; existed: boolean }> {
    return this.profileSets.commit(await runDataTask(this.planProfileSet(input)), input);
  }

  /** Parse-and-validate task of the authors' JSON format, from a file under a data root (or given text). */
  planProfileFile(opts: { datasetId: string; path?: string; json?: string; minLength?: number }): Extract<DataTask, { op: 'profile-file' }> {
    const ds = this.datasets.get(opts.datasetId);
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
  async importProfileSet(opts: { datasetId: string; path?: string; json?: string; minLength?: number; generator?: string }): Promise<{
    profileSet: ProfileSetRecord;
    existed: boolean;
    dropped: number;
  }> {
    const r = await runDataTask(this.planProfileFile(opts));
    return { ...this.profileSets.commit(r, this.importedProfileMeta(opts)), dropped: r.dropped };
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
