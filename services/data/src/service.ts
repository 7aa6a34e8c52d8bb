import type { ServerWritableStream } from '@grpc/grpc-js';
import { common, data } from '@robustrec/contracts';
import { checkMemory, homeDir, invalidArgument, memoryBudget, resolveUnderRoots, type Csr, type InteractionData, type ProvenanceRecord } from '@robustrec/core';
import { resolveSyntheticOptions, syntheticBytes } from '@robustrec/data';
import { DataStore, LIGHTGCN_FILES, type DataStoreOptions, type DatasetKind, type DatasetRecord, type ImportResult, type ProfileSetRecord } from './store';
import type { DataTask, StagedDataset } from './tasks';
import { allowPathsUnder, authorizeDatasetRead, dataTokenKey, serverStream, startServer, unary, writeMessage, type RunningServer } from '@robustrec/grpc';
import type { Metadata } from '@grpc/grpc-js';
import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DataWorkers } from './workers';

export const DEFAULT_CHUNK = 65_536;
export const MAX_CHUNK = 1_048_576;
/** Longest splits list FetchDataset takes (duplicates are dropped: each split is sent once). */
export const MAX_SPLITS = 16;
/** Largest request: profile sets and profile-set JSON documents come in one message. */
export const MAX_REQUEST_BYTES = 64 << 20;

export interface DataServiceOptions extends DataStoreOptions {
  /** Listen address (default 127.0.0.1:0, an ephemeral loopback port). */
  address?: string;
  /** Platform home; state lives under <home>/data (default: ROBUSTREC_HOME or ./.robustrec). */
  home?: string;
  /** Worker threads for imports and other heavy work (default ROBUSTREC_DATA_WORKERS, else min(2, cores)). */
  workers?: number;
  /** Memory budget in bytes (default: ROBUSTREC_MEMORY_BUDGET or the core default). */
  memoryBudgetBytes?: number;
  /**
   * Key verifying data access tokens, shared with the attack service (default: see
   * dataTokenKey: ROBUSTREC_DATA_TOKEN_KEY, ROBUSTREC_DATA_TOKEN_KEY_FILE, else the home's key).
   */
  dataTokenKey?: string;
}

export interface RunningDataService {
  address: string;
  port: number;
  store: DataStore;
  workers: DataWorkers;
  server: RunningServer;
  shutdown(graceMs?: number): Promise<void>;
}

const KIND_TO_PROTO: Record<DatasetKind, data.DatasetKind> = {
  clean: data.DatasetKind.DATASET_KIND_CLEAN,
  synthetic: data.DatasetKind.DATASET_KIND_SYNTHETIC,
  poisoned: data.DatasetKind.DATASET_KIND_POISONED,
};
const KIND_FROM_PROTO = new Map(Object.entries(KIND_TO_PROTO).map(([k, v]) => [v, k as DatasetKind]));

const toProvenance = (p: ProvenanceRecord): common.Provenance => ({ ...p, versions: { ...p.versions } });

export function toProtoDataset(d: DatasetRecord): data.Dataset {
  return { ...d, kind: KIND_TO_PROTO[d.kind], provenance: toProvenance(d.provenance) };
}

function toProtoProfileSet(p: ProfileSetRecord, profiles: data.FakeProfile[] = []): data.ProfileSet {
  return { ...p, profiles, provenance: toProvenance(p.provenance) };
}

const SPLIT_NAMES: Record<number, 'train' | 'valid' | 'test'> = {
  [common.Split.SPLIT_TRAIN]: 'train',
  [common.Split.SPLIT_VALID]: 'valid',
  [common.Split.SPLIT_TEST]: 'test',
};

/** Streams one split as COO chunks in user then item order (the CSR order). */
async function streamSplit(call: ServerWritableStream<data.FetchDatasetRequest, data.FetchDatasetResponse>, split: common.Split, m: Csr, chunk: number): Promise<void> {
  const nnz = m.indices.length;
  let row = 0;
  for (let start = 0; start < nnz; start += chunk) {
    const end = Math.min(nnz, start + chunk);
    const users = new Array<number>(end - start);
    for (let p = start; p < end; p++) {
      while (m.indptr[row + 1]! <= p) row++;
      users[p - start] = row;
    }
    await writeMessage(call, { chunk: { split, users, items: Array.from(m.indices.subarray(start, end)) } });
    // a write that fits the buffer does not yield: let other calls in between chunks
    await new Promise((r) => setImmediate(r));
  }
}

/** In-memory bytes per byte of interaction text while importing (arrays, k-core, splits, CSR files). */
const TEXT_EXPANSION = 8;

/** Total size of the files that exist among `paths`. */
const textBytes = (paths: string[]): number => paths.reduce((s, f) => s + (existsSync(f) ? statSync(f).size : 0), 0);

/** FetchDataset: header, then each requested split's chunks. */
async function fetchDataset(
  store: DataStore,
  load: (id: string) => Promise<InteractionData>,
  req: data.FetchDatasetRequest,
  call: ServerWritableStream<data.FetchDatasetRequest, data.FetchDatasetResponse>,
  authorize: (metadata: Metadata, datasetId: string, splits: common.Split[]) => void,
): Promise<void> {
  const chunk = req.chunkSize === 0 ? DEFAULT_CHUNK : req.chunkSize;
  if (chunk > MAX_CHUNK) throw invalidArgument('chunk_size', `at most ${MAX_CHUNK}, got ${chunk}`);
  // a split asked for twice is sent once: 200 copies of one split in a 232-byte request
  // used to answer 200 copies of the split (amplification)
  if (req.splits.length > MAX_SPLITS) throw invalidArgument('splits', `at most ${MAX_SPLITS} entries, got ${req.splits.length}`);
  req.splits.forEach((s, k) => {
    if (!SPLIT_NAMES[s]) throw invalidArgument(`splits[${k}]`, `not a split: ${s}`);
  });
  const splits = req.splits.length ? [...new Set(req.splits)] : [common.Split.SPLIT_TRAIN, common.Split.SPLIT_VALID, common.Split.SPLIT_TEST];
  // before the lookup: a scoped caller learns nothing about datasets outside its scope
  authorize(call.metadata, req.id, splits);
  const rec = store.datasets.get(req.id);
  const d = await load(req.id);
  await writeMessage(call, { header: { dataset: toProtoDataset(rec) } });
  for (const s of splits) await streamSplit(call, s, d[SPLIT_NAMES[s]!], chunk);
}

/**
 * The DataService implementation over a DataStore: a thin adapter, all logic lives in
 * @robustrec/data. Every heavy step runs on the data workers (see DataStore for who writes
 * the catalogue: this thread, in commit*).
 */
export function dataServiceImpl(store: DataStore, workers: DataWorkers, budget = memoryBudget(), tokenKey?: Buffer): data.DataServiceServer {
  const key = tokenKey ?? dataTokenKey(store.home);
  const authorize = (metadata: Metadata, datasetId: string, splits: common.Split[]): void => authorizeDatasetRead(metadata, { datasetId, splits }, key);
  const importing = async (task: Extract<DataTask, { op: 'lightgcn' | 'interactions' | 'synthetic' | 'poison' }>): Promise<ImportResult> => {
    const t0 = performance.now();
    const staged: StagedDataset = await workers.run(task);
    return store.datasets.commit(staged, t0);
  };
  // one load per dataset at a time, however many callers fetch it
  const loading = new Map<string, Promise<InteractionData>>();
  const load = (id: string): Promise<InteractionData> => {
    const hit = store.cached(id);
    if (hit) return Promise.resolve(hit);
    let p = loading.get(id);
    if (!p) {
      p = workers.run({ op: 'load', stored: store.datasets.stored(id) }).then((d) => store.cache(d));
      void p.finally(() => loading.delete(id)).catch(() => undefined);
      loading.set(id, p);
    }
    return p;
  };

  return {
    importDataset: unary(async (req: data.ImportDatasetRequest): Promise<data.ImportDatasetResponse> => {
      const name = req.name;
      let r: ImportResult;
      if (req.lightgcn) {
        if (!req.lightgcn.directory) throw invalidArgument('lightgcn.directory', 'required');
        const dir = resolveUnderRoots(req.lightgcn.directory, store.roots, 'lightgcn.directory');
        const files = LIGHTGCN_FILES.map((f) => resolveUnderRoots(join(dir, f), store.roots, 'lightgcn.directory'));
        checkMemory('lightgcn.directory', textBytes(files) * TEXT_EXPANSION, budget, 'importing these files');
        r = await importing(store.planLightGcn(req.lightgcn.directory, { name, mergeValidIntoTrain: req.lightgcn.mergeValidIntoTrain }));
      } else if (req.interactions) {
        const s = req.interactions;
        if (!s.path) throw invalidArgument('interactions.path', 'required');
        checkMemory('interactions.path', textBytes([resolveUnderRoots(s.path, store.roots, 'interactions.path')]) * TEXT_EXPANSION, budget, 'importing this file');
        r = await importing(
          store.planInteractionFile(s.path, {
            name,
            delimiter: s.delimiter,
            hasHeader: s.hasHeader,
            userColumn: s.userColumn,
            itemColumn: s.itemColumn,
            timestampColumn: s.timestampColumn,
            ratingColumn: s.ratingColumn,
            minRating: s.minRating,
            userCore: s.userCore,
            itemCore: s.itemCore,
            testRatio: s.testRatio,
            validRatio: s.validRatio,
            seed: s.seed,
          }),
        );
      } else if (req.synthetic) {
        const s = req.synthetic;
        checkMemory('synthetic.num_users', syntheticBytes(resolveSyntheticOptions({ ...s, seed: s.seed || undefined })), budget, 'the synthetic dataset');
        r = await importing(
          store.planSynthetic({
            name,
            numUsers: s.numUsers,
            numItems: s.numItems,
            meanInteractions: s.meanInteractions,
            popularityExponent: s.popularityExponent,
            clusters: s.clusters,
            seed: s.seed || undefined,
          }),
        );
      } else if (req.catalogue) {
        if (!req.catalogue.name) throw invalidArgument('catalogue.name', 'required');
        r = await importing(await store.planCatalogue(req.catalogue.name, { displayName: name, mergeValidIntoTrain: req.catalogue.mergeValidIntoTrain }));
      } else throw invalidArgument('source', 'one of lightgcn, interactions, synthetic or catalogue is required');
      return { dataset: toProtoDataset(r.dataset), existed: r.existed, seconds: r.seconds };
    }),

    getDataset: unary((req: data.GetDatasetRequest, call) => {
      authorize(call.metadata, req.id, []);
      return { dataset: toProtoDataset(store.datasets.get(req.id)) };
    }),

    listDatasets: unary((req: data.ListDatasetsRequest) => {
      const kind = req.kind === data.DatasetKind.DATASET_KIND_UNSPECIFIED ? undefined : KIND_FROM_PROTO.get(req.kind);
      if (req.kind !== data.DatasetKind.DATASET_KIND_UNSPECIFIED && !kind) throw invalidArgument('kind', `unknown dataset kind ${req.kind}`);
      return { datasets: store.datasets.list(kind).map(toProtoDataset) };
    }),

    getStatistics: unary(async (req: data.GetStatisticsRequest) => {
      const s = await workers.run({ op: 'statistics', stored: store.datasets.stored(req.id) });
      return { statistics: { ...s, itemPopularity: Array.from(s.itemPopularity) } };
    }),

    fetchDataset: serverStream((req: data.FetchDatasetRequest, call) => fetchDataset(store, load, req, call, authorize)),

    derivePoisonedDataset: unary(async (req: data.DerivePoisonedDatasetRequest) => {
      if (!req.profileSetId) throw invalidArgument('profile_set_id', 'required');
      const r = await importing(store.planPoisoned(req.datasetId, req.profileSetId, req.name));
      return { dataset: toProtoDataset(r.dataset), existed: r.existed };
    }),

    putProfileSet: unary(async (req: data.PutProfileSetRequest) => {
      const p = req.profileSet;
      if (!p) throw invalidArgument('profile_set', 'required');
      // items are validated, copied and stored as JSON: ~24 bytes each, plus per-profile overhead
      const items = p.profiles.reduce((s, f) => s + f.items.length, 0);
      checkMemory('profile_set.profiles', items * 24 + p.profiles.length * 128, budget, `${p.profiles.length} profiles of ${items} items`);
      const input = {
        datasetId: p.datasetId,
        generator: p.generator,
        targetItems: p.targetItems,
        profiles: p.profiles.map((f) => ({ name: f.name, items: f.items })),
        ...(p.provenance ? { provenance: { ...p.provenance, createdAt: p.provenance.createdAt || new Date().toISOString() } } : {}),
        seconds: p.seconds,
      };
      const prepared = await workers.run(store.planProfileSet(input));
      const r = store.profileSets.commit(prepared, input);
      return { profileSet: toProtoProfileSet(r.profileSet), existed: r.existed };
    }),

    importProfileSet: unary(async (req: data.ImportProfileSetRequest) => {
      const opts = { datasetId: req.datasetId, path: req.path, json: req.json, minLength: req.minLength, generator: req.generator };
      const prepared = await workers.run(store.planProfileFile(opts));
      const r = store.profileSets.commit(prepared, store.importedProfileMeta(opts));
      return { profileSet: toProtoProfileSet(r.profileSet), dropped: prepared.dropped, existed: r.existed };
    }),

    exportProfileSet: unary((req: data.ExportProfileSetRequest) => ({ json: store.profileSets.export(req.id) })),

    getProfileSet: unary((req: data.GetProfileSetRequest) => {
      const p = store.profileSets.get(req.id);
      return { profileSet: toProtoProfileSet(p, p.profiles) };
    }),

    listProfileSets: unary((req: data.ListProfileSetsRequest) => ({
      profileSets: store.profileSets.list(req.datasetId || undefined).map((p) => toProtoProfileSet(p)),
    })),

    listCatalogue: unary(() => ({
      entries: store.catalogue().map((e) => ({ name: e.name, urls: e.urls, sha256: e.sha256, users: e.users, items: e.items, interactions: e.interactions, localPath: e.localPath })),
    })),
  };
}

/** Data worker threads: ROBUSTREC_DATA_WORKERS, else min(2, cores). */
function defaultWorkers(): number {
  const env = Number(process.env.ROBUSTREC_DATA_WORKERS);
  return Number.isInteger(env) && env >= 1 ? env : Math.min(2, availableParallelism());
}

/**
 * Starts the DataService (with health and reflection) over a DataStore in <home>/data.
 * Start-up order: the store is opened (and swept), the port bound with every health name
 * NOT_SERVING, then the workers load their modules; SERVING once they all have. Calls that
 * arrive before are accepted and wait for a worker.
 */
export async function startDataService(opts: DataServiceOptions = {}): Promise<RunningDataService> {
  const { address, home, workers: size, memoryBudgetBytes, dataTokenKey: explicitKey, ...storeOpts } = opts;
  const budget = memoryBudget(memoryBudgetBytes);
  const store = DataStore.open(home ?? homeDir(), storeOpts);
  const workers = new DataWorkers(size ?? defaultWorkers());
  try {
    // status messages may name paths under the roots callers import from, and nothing else
    allowPathsUnder(store.roots);
    const server = await startServer(
      [{ name: 'robustrec.v1.DataService', definition: data.DataServiceService, implementation: dataServiceImpl(store, workers, budget, dataTokenKey(home ?? homeDir(), explicitKey)) }],
      address,
      { maxReceiveMessageBytes: MAX_REQUEST_BYTES },
    );
    try {
      await workers.ready();
    } catch (e) {
      await server.shutdown(0);
      throw e;
    }
    server.markReady();
    return {
      address: server.address,
      port: server.port,
      store,
      workers,
      server,
      async shutdown(graceMs?: number) {
        await server.shutdown(graceMs);
        await workers.close();
        store.close();
      },
    };
  } catch (e) {
    await workers.close();
    store.close();
    throw e;
  }
}
