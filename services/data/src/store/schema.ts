/**
 * The data service's SQLite catalogue (<home>/data/data.db): datasets with the checksums of
 * their files and the lineage of poisoned ones (datasets.ts), profile sets and their profiles
 * (profile-sets.ts). One database, so a poisoned dataset's lineage row can reference both.
 */
export const MIGRATIONS = [
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
