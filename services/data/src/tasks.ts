import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { invalidArgument, notFound, provenance, RrError, type InteractionData, type ProvenanceRecord } from '@robustrec/core';
import { atomicWriteFile } from '@robustrec/store';
import { type DatasetContent, datasetIdOf, type DatasetStatistics, decodeCsr, encodeCsr, importInteractionFile, type InteractionFileOptions, type LightGcnOptions, parseAuthorsProfiles, parseLightGcn, poison, type Profile, type ProfileSetContent, profileSetIdOf, resolveSyntheticOptions, statistics, syntheticInteractions, type SyntheticOptions, validateProfileSet } from '@robustrec/data';
import type { DatasetKind, DatasetRecord } from './store';

/**
 * The data service's heavy work (parsing, k-core, splits, synthesis, poisoning, encoding and
 * hashing, dataset files, profile parsing and validation, loading with checksum checks,
 * statistics) as self-contained tasks: plain data in, plain data out, no SQLite. The data
 * service runs them on worker threads (services/data/src/workers.ts) so that its event loop,
 * and the other services sharing the process under `robustrec up`, keep answering; DataStore
 * runs the same tasks inline for its synchronous API. DataStore.plan* builds a task on the
 * service thread (path checks, catalogue reads), DataStore.commit* stores its result.
 */
export type DataTask =
  | { op: 'lightgcn'; dataDir: string; dir: string; opts: LightGcnOptions; source: string; name: string }
  | { op: 'interactions'; dataDir: string; file: string; options: InteractionFileOptions; name: string }
  | { op: 'synthetic'; dataDir: string; options: SyntheticOptions; name: string }
  | { op: 'poison'; dataDir: string; clean: StoredDataset; set: { targetItems: number[]; profiles: Profile[] }; meta: StageMeta }
  | { op: 'load'; stored: StoredDataset }
  | { op: 'statistics'; stored: StoredDataset }
  | { op: 'profile-set'; content: ProfileSetContent; numItems: number }
  | { op: 'profile-file'; datasetId: string; numItems: number; path?: string; json?: string; minLength: number };

/** The result type of each task. */
export interface DataTaskResults {
  lightgcn: StagedDataset;
  interactions: StagedDataset;
  synthetic: StagedDataset;
  poison: StagedDataset;
  load: InteractionData;
  statistics: DatasetStatistics;
  'profile-set': PreparedProfileSet;
  'profile-file': PreparedProfileSet & { dropped: number };
}

export type DataTaskResult<T extends DataTask> = DataTaskResults[T['op']];

/** What the catalogue knows of a stored dataset, enough to read its files. */
export interface StoredDataset {
  record: DatasetRecord;
  dir: string;
  /** sha256 of each file, as recorded at import. */
  sums: Record<string, string>;
}

export interface StageMeta {
  name: string;
  kind: DatasetKind;
  source: string;
  provenance: ProvenanceRecord;
  lineage?: { parentId: string; profileSetId: string };
}

/**
 * A dataset whose files are written and fsynced in a private staging directory under
 * <data>/tmp, not yet visible: DataStore.commitStaged renames it into place and inserts its
 * catalogue rows in one step of the service thread.
 */
export interface StagedDataset {
  tmp: string;
  record: DatasetRecord;
  files: Array<{ file: string; sha256: string; bytes: number }>;
  lineage?: { parentId: string; profileSetId: string };
}

/** A validated profile set and its content address, ready for DataStore.commitProfileSet. */
export interface PreparedProfileSet {
  id: string;
  set: ProfileSetContent;
}

export const SPLITS = ['train', 'valid', 'test'] as const;

export const sha = (parts: Uint8Array[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** Staging directories are named <pid>-<dataset id>-<random>: DataStore sweeps those of dead processes. */
export function stageDataset(dataDir: string, c: DatasetContent, meta: StageMeta): StagedDataset {
  const id = datasetIdOf(c);
  const files: Record<string, Uint8Array[]> = {};
  for (const s of SPLITS) files[`${s}.csr`] = encodeCsr(c[s]);
  if (c.userIds) files['users.txt'] = [Buffer.from(c.userIds.join('\n') + '\n')];
  if (c.itemIds) files['items.txt'] = [Buffer.from(c.itemIds.join('\n') + '\n')];
  const tmp = join(dataDir, 'tmp', `${process.pid}-${id}-${Math.random().toString(36).slice(2, 8)}`);
  try {
    for (const [file, parts] of Object.entries(files)) atomicWriteFile(join(tmp, file), parts);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
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
  return {
    tmp,
    record,
    files: Object.entries(files).map(([file, parts]) => ({ file, sha256: sha(parts), bytes: parts.reduce((s, p) => s + p.byteLength, 0) })),
    ...(meta.lineage ? { lineage: meta.lineage } : {}),
  };
}

/** Reads a stored dataset's splits, verifying each file against its recorded sha256. */
export function loadStored(s: StoredDataset): InteractionData {
  const { record: rec, dir } = s;
  const read = (file: string): Buffer => {
    const p = join(dir, file);
    if (!existsSync(p)) throw new RrError('INTERNAL', `dataset ${rec.id}: stored file ${file} is missing`);
    const b = readFileSync(p);
    if (sha([b]) !== s.sums[file]) throw new RrError('INTERNAL', `dataset ${rec.id}: stored file ${file} does not match its recorded sha256`);
    return b;
  };
  const [train, valid, test] = SPLITS.map((sp) => decodeCsr(read(`${sp}.csr`), `${rec.id}/${sp}.csr`));
  return {
    id: rec.id,
    numUsers: rec.numUsers,
    numGenuineUsers: rec.numGenuineUsers,
    numItems: rec.numItems,
    train: train!,
    valid: valid!,
    test: test!,
    targetItems: Uint32Array.from(rec.targetItems),
  };
}

function parsedContent(dir: string, opts: LightGcnOptions): DatasetContent {
  const p = parseLightGcn(dir, opts);
  return { ...p, numGenuineUsers: p.numUsers, targetItems: [] };
}

/** Runs a task on this thread (a CSV import streams its file, so tasks are async). */
export async function runDataTask<T extends DataTask>(task: T): Promise<DataTaskResult<T>> {
  return (await run(task)) as DataTaskResult<T>;
}

async function run(t: DataTask): Promise<DataTaskResults[keyof DataTaskResults]> {
  switch (t.op) {
    case 'lightgcn': {
      const prov = provenance(0, { source: 'lightgcn', mergeValidIntoTrain: t.opts.mergeValidIntoTrain === true });
      return stageDataset(t.dataDir, parsedContent(t.dir, t.opts), { name: t.name, kind: 'clean', source: t.source, provenance: prov });
    }
    case 'interactions': {
      const r = await importInteractionFile(t.file, t.options);
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
      const prov = provenance(t.options.seed ?? 2024, { source: 'interactions', ...t.options, chronological: r.chronological, counts: r.counts });
      return stageDataset(t.dataDir, content, { name: t.name || basename(t.file, extname(t.file)), kind: 'clean', source: `interactions:${t.file}`, provenance: prov });
    }
    case 'synthetic': {
      const o = resolveSyntheticOptions(t.options);
      const d = syntheticInteractions(o);
      const src = `synthetic:seed=${o.seed},users=${o.numUsers},items=${o.numItems},mean=${o.meanInteractions},zipf=${o.popularityExponent},clusters=${o.clusters}`;
      return stageDataset(t.dataDir, d, { name: t.name || `synthetic-${o.seed}`, kind: 'synthetic', source: src, provenance: provenance(o.seed, o) });
    }
    case 'poison':
      return stageDataset(t.dataDir, poison(loadStored(t.clean), t.set), t.meta);
    case 'load':
      return loadStored(t.stored);
    case 'statistics':
      return statistics(loadStored(t.stored));
    case 'profile-set': {
      const set = validateProfileSet(t.content, t.numItems);
      return { id: profileSetIdOf(set), set };
    }
    case 'profile-file': {
      let text = t.json ?? '';
      let label = 'json';
      if (!text) {
        const file = t.path!;
        if (!existsSync(file) || !statSync(file).isFile()) throw notFound('file', basename(file));
        text = readFileSync(file, 'utf8');
        label = basename(file);
      }
      const parsed = parseAuthorsProfiles(text, label, t.minLength);
      if (parsed.profiles.length === 0) throw invalidArgument('min_length', `all ${parsed.dropped} profiles of ${label} are shorter than ${t.minLength}`);
      const set = validateProfileSet({ datasetId: t.datasetId, targetItems: parsed.targetItems, profiles: parsed.profiles }, t.numItems);
      return { id: profileSetIdOf(set), set, dropped: parsed.dropped };
    }
  }
}

/**
 * The buffers of a load or statistics result, to move (not copy) them to the thread that
 * asked. Only buffers these tasks allocated themselves: never a Buffer pool's.
 */
export function transferablesOf(task: DataTask, result: unknown): ArrayBuffer[] {
  const out = new Set<ArrayBufferLike>();
  if (task.op === 'load') {
    const d = result as InteractionData;
    for (const m of [d.train, d.valid, d.test]) out.add(m.indptr.buffer).add(m.indices.buffer);
    out.add(d.targetItems.buffer);
  } else if (task.op === 'statistics') out.add((result as DatasetStatistics).itemPopularity.buffer);
  return [...out].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
}
