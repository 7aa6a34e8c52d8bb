import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { failpoint, notFound, type ProvenanceRecord } from '@robustrec/core';
import type { Db } from '@robustrec/store';
import type { StagedDataset, StoredDataset } from '../tasks';

/**
 * Stored datasets: their catalogue rows (datasets, checksums, lineage) and their immutable
 * directories of binary CSR files (<data>/datasets/<id>/), content addressed. A dataset is
 * visible once its row is committed; its directory is in place before that.
 */
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

export interface ImportResult {
  dataset: DatasetRecord;
  existed: boolean;
  seconds: number;
}

const DATASET_SELECT = `SELECT d.*, l.parent_id, l.profile_set_id FROM datasets d LEFT JOIN lineage l ON l.dataset_id = d.id`;

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

export class Datasets {
  constructor(
    private readonly db: Db,
    /** <home>/data */
    private readonly dir: string,
  ) {}

  datasetDir(id: string): string {
    if (!/^ds_[0-9a-f]{24}$/.test(id)) throw notFound('dataset', id);
    return join(this.dir, 'datasets', id);
  }

  /** Removes dataset directories without a catalogue row: an import killed between its rename and its commit. */
  sweepUncommitted(): void {
    const known = new Set((this.db.prepare('SELECT id FROM datasets').all() as Array<{ id: string }>).map((r) => r.id));
    for (const e of readdirSync(join(this.dir, 'datasets'))) if (!known.has(e)) rmSync(join(this.dir, 'datasets', e), { recursive: true, force: true });
  }

  /**
   * Makes a staged dataset visible: its directory is renamed into place and its rows are
   * inserted in one transaction (see the class comment). Content already stored: the staged
   * copy is dropped and the stored record returned with existed = true.
   */
  commit(staged: StagedDataset, t0: number): ImportResult {
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

  find(id: string): DatasetRecord | undefined {
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

  /** Original ids of a remapped (CSV/TSV) import, index = internal id; undefined for other kinds. */
  originalIds(id: string): { users: string[]; items: string[] } | undefined {
    this.get(id);
    const p = (f: string): string => join(this.datasetDir(id), f);
    if (!existsSync(p('users.txt'))) return undefined;
    const lines = (f: string): string[] => readFileSync(p(f), 'utf8').split('\n').slice(0, -1);
    return { users: lines('users.txt'), items: lines('items.txt') };
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
