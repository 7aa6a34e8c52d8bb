import { exportAuthorsProfiles, type Profile } from '@robustrec/data';
import { notFound, provenance, type ProvenanceRecord } from '@robustrec/core';
import type { Db } from '@robustrec/store';
import type { PreparedProfileSet } from '../tasks';
import type { Datasets } from './datasets';

/** Stored profile sets (fake-user profiles of an attack), content addressed, each in the item space of one dataset. */
export interface ProfileSetRecord {
  id: string;
  datasetId: string;
  generator: string;
  targetItems: number[];
  numProfiles: number;
  provenance: ProvenanceRecord;
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

interface ProfileSetRow {
  id: string;
  dataset_id: string;
  generator: string;
  target_items: string;
  num_profiles: number;
  provenance: string;
  seconds: number;
}

export class ProfileSets {
  constructor(
    private readonly db: Db,
    private readonly datasets: Datasets,
  ) {}

  /** Stores a validated profile set in one transaction (or finds it: existed). */
  commit(prepared: PreparedProfileSet, meta: { generator?: string; provenance?: ProvenanceRecord; seconds?: number }): { profileSet: ProfileSetRecord; existed: boolean } {
    const { id, set } = prepared;
    const existing = this.find(id);
    if (existing) return { profileSet: existing, existed: true };
    const ds = this.datasets.get(set.datasetId);
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

  find(id: string): ProfileSetRecord | undefined {
    const row = this.db.prepare('SELECT * FROM profile_sets WHERE id = ?').get(id) as ProfileSetRow | undefined;
    return row && toProfileSetRecord(row);
  }

  get(id: string): ProfileSetRecord & { profiles: Profile[] } {
    const rec = this.find(id);
    if (!rec) throw notFound('profile set', id);
    const rows = this.db.prepare('SELECT name, items FROM profiles WHERE profile_set_id = ? ORDER BY idx').all(id) as Array<{ name: string; items: string }>;
    return { ...rec, profiles: rows.map((r) => ({ name: r.name, items: JSON.parse(r.items) as number[] })) };
  }

  list(datasetId?: string): ProfileSetRecord[] {
    const rows = (datasetId
      ? this.db.prepare('SELECT * FROM profile_sets WHERE dataset_id = ? ORDER BY seq DESC').all(datasetId)
      : this.db.prepare('SELECT * FROM profile_sets ORDER BY seq DESC').all()) as ProfileSetRow[];
    return rows.map(toProfileSetRecord);
  }

  export(id: string): string {
    return exportAuthorsProfiles(this.get(id));
  }

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
