import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { notFound, RrError, unavailable } from '@robustrec/core';

/** A public benchmark in the LightGCN text format. */
export interface CatalogueEntry {
  name: string;
  /** File name -> public source address. */
  urls: Record<string, string>;
  /** File name -> pinned sha256, where it could be verified. Unpinned files are verified-and-recorded on first download. */
  sha256: Record<string, string>;
  /** Published statistics (LightGCN paper, Table 1). */
  users: number;
  items: number;
  interactions: number;
}

// The LightGCN authors' repository holds the three benchmarks (train.txt/test.txt; the
// training files include what other copies split off as valid.txt). Their digests cannot
// be checked offline here, so none are pinned: the first download records them
// (trust on first use) and later cache hits are verified against the record.
const LIGHTGCN = 'https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data';
const lightgcnUrls = (name: string): Record<string, string> => ({
  'train.txt': `${LIGHTGCN}/${name}/train.txt`,
  'test.txt': `${LIGHTGCN}/${name}/test.txt`,
});

/** The public-benchmark catalogue: one entry per dataset, in one place. */
export const CATALOGUE: readonly CatalogueEntry[] = [
  { name: 'gowalla', urls: lightgcnUrls('gowalla'), sha256: {}, users: 29_858, items: 40_981, interactions: 1_027_370 },
  { name: 'yelp2018', urls: lightgcnUrls('yelp2018'), sha256: {}, users: 31_668, items: 38_048, interactions: 1_561_406 },
  { name: 'amazon-book', urls: lightgcnUrls('amazon-book'), sha256: {}, users: 52_643, items: 91_599, interactions: 2_984_108 },
];

/** Downloads one address; injectable so tests can prove the verify/cache path without a network. */
export type Fetcher = (url: string) => Promise<Uint8Array>;

export const httpFetcher: Fetcher = async (url) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
};

export function catalogueEntry(name: string, catalogue: readonly CatalogueEntry[] = CATALOGUE): CatalogueEntry {
  const e = catalogue.find((c) => c.name === name);
  if (!e) throw notFound('catalogue dataset', `${name} (known: ${catalogue.map((c) => c.name).join(', ')})`);
  return e;
}

export interface CatalogueDirs {
  /** Local datasets directory (ROBUSTREC_DATASETS_DIR); a "<name>/train.txt" there is used as is, without network. */
  datasetsDir: string;
  /** Download cache: <home>/cache. */
  cacheDir: string;
  fetcher?: Fetcher;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const RECORD = 'sha256.json';

/** Where the dataset is available without downloading ("" when it is not). */
export function localCataloguePath(entry: CatalogueEntry, dirs: CatalogueDirs): string {
  const local = join(dirs.datasetsDir, entry.name);
  if (existsSync(join(local, 'train.txt'))) return local;
  const cached = join(dirs.cacheDir, entry.name);
  if (existsSync(join(cached, RECORD))) return cached;
  return '';
}

/** Digests recorded on first download of a cached entry (empty when not cached). */
export function recordedSha256(entry: CatalogueEntry, dirs: CatalogueDirs): Record<string, string> {
  const p = join(dirs.cacheDir, entry.name, RECORD);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Record<string, string>) : {};
}

/**
 * Makes a catalogue dataset available locally and returns its directory: the local
 * datasets directory when it has the files, else the verified cache, else a download
 * (each file checked against its pinned sha256, the digests recorded, then the whole
 * directory renamed into the cache at once so a failed download leaves nothing).
 */
export async function ensureCatalogueDataset(entry: CatalogueEntry, dirs: CatalogueDirs): Promise<string> {
  const local = join(dirs.datasetsDir, entry.name);
  if (existsSync(join(local, 'train.txt'))) return local;
  const cached = join(dirs.cacheDir, entry.name);
  if (existsSync(join(cached, RECORD))) {
    const record = recordedSha256(entry, dirs);
    for (const file of Object.keys(entry.urls)) {
      const p = join(cached, file);
      const want = entry.sha256[file] ?? record[file];
      if (!existsSync(p) || sha(readFileSync(p)) !== want)
        throw new RrError('INTERNAL', `cached ${entry.name}/${file} is missing or does not match its recorded sha256; delete ${cached} to download again`);
    }
    return cached;
  }
  const fetcher = dirs.fetcher ?? httpFetcher;
  mkdirSync(dirs.cacheDir, { recursive: true });
  const tmp = join(dirs.cacheDir, `.${entry.name}.tmp-${process.pid}-${Date.now()}`);
  mkdirSync(tmp);
  try {
    const record: Record<string, string> = {};
    for (const [file, url] of Object.entries(entry.urls)) {
      let bytes: Uint8Array;
      try {
        bytes = await fetcher(url);
      } catch (e) {
        throw unavailable(
          `dataset ${entry.name} is not in ${dirs.datasetsDir} and downloading ${url} failed (${(e as Error).message}); ` +
            `set ROBUSTREC_DATASETS_DIR to a directory holding ${entry.name}/train.txt and test.txt`,
        );
      }
      const digest = sha(bytes);
      const pinned = entry.sha256[file];
      if (pinned && pinned !== digest) throw unavailable(`download of ${url} has sha256 ${digest}, expected ${pinned}`);
      writeFileSync(join(tmp, file), bytes);
      record[file] = digest;
    }
    writeFileSync(join(tmp, RECORD), JSON.stringify(record, null, 2));
    renameSync(tmp, cached);
    return cached;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
