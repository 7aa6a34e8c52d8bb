import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { rowOf } from '@robustrec/core';
import type { CatalogueEntry } from '@robustrec/data';
import { DataStore } from '../src/store';

const tmp = { dir: mkdtempSync(join(tmpdir(), 'rr-store-')) };
afterAll(() => rmSync(tmp.dir, { recursive: true, force: true }));
const roots = [join(tmp.dir, 'root')];
mkdirSync(roots[0]!, { recursive: true });

/** A small LightGCN directory under the data root. */
function lightgcn(name: string, train: string, test: string): string {
  const dir = join(roots[0]!, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.txt'), train);
  writeFileSync(join(dir, 'test.txt'), test);
  return dir;
}

const stored = (home: string): { dirs: string[]; tmp: string[]; rows: number } => {
  const db = new Database(join(home, 'data', 'data.db'), { readonly: true });
  const rows = (db.prepare('SELECT COUNT(*) AS n FROM datasets').get() as { n: number }).n;
  db.close();
  return { dirs: readdirSync(join(home, 'data', 'datasets')), tmp: readdirSync(join(home, 'data', 'tmp')), rows };
};

describe('DataStore', () => {
  it('imports, content-addresses (same data -> same id, existed) and loads back verified arrays', async () => {
    const home = join(tmp.dir, 'h1');
    const s = DataStore.open(home, { roots });
    const dir = lightgcn('a', '0 1 2\n1 0\n', '0 3\n1 2\n');
    const r1 = await s.importLightGcn(dir, { name: 'first' });
    expect(r1.existed).toBe(false);
    expect(r1.dataset).toMatchObject({ name: 'first', kind: 'clean', numUsers: 2, numItems: 4, numTrain: 3, numTest: 2, numValid: 0 });
    const copy = lightgcn('a-copy', '1 0\n0 2 1\n', '1 2\n0 3\n'); // same interactions, other order and dir
    const r2 = await s.importLightGcn(copy, { name: 'second' });
    expect(r2.existed).toBe(true);
    expect(r2.dataset.id).toBe(r1.dataset.id);
    expect(r2.dataset.name).toBe('first');
    expect(s.datasets.list().map((d) => d.id)).toEqual([r1.dataset.id]);
    s.close();

    const reopened = DataStore.open(home, { roots });
    const d = reopened.load(r1.dataset.id);
    expect(Array.from(rowOf(d.train, 0))).toEqual([1, 2]);
    expect(Array.from(rowOf(d.test, 1))).toEqual([2]);
    // the file header + arrays are on disk with a checksum that is re-verified on load
    const file = join(home, 'data', 'datasets', r1.dataset.id, 'train.csr');
    expect(readFileSync(file).subarray(0, 6).toString()).toBe('RRCSR1');
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(file, bytes);
    const fresh = DataStore.open(home, { roots });
    expect(() => fresh.load(r1.dataset.id)).toThrow(/does not match its recorded sha256/);
    expect(() => fresh.datasets.get('ds_000000000000000000000000')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    reopened.close();
    fresh.close();
  });

  it('refuses paths outside the data roots (PERMISSION_DENIED)', async () => {
    const s = DataStore.open(join(tmp.dir, 'h2'), { roots });
    await expect(s.importLightGcn(join(tmp.dir, 'elsewhere'))).rejects.toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
    await expect(s.importInteractionFile(join(roots[0]!, '..', 'x.csv'))).rejects.toThrow(expect.objectContaining({ code: 'PERMISSION_DENIED' }));
    s.close();
  });

  it('a malformed file stores nothing', async () => {
    const home = join(tmp.dir, 'h3');
    const s = DataStore.open(home, { roots });
    const dir = lightgcn('bad', '0 1\n1 2;\n', '0 1\n');
    await expect(s.importLightGcn(dir)).rejects.toThrow(/^train\.txt:2:/);
    expect(stored(home)).toEqual({ dirs: [], tmp: [], rows: 0 });
    s.close();
  });

  it('a failure after the files are in place removes them and rolls back every row', async () => {
    const home = join(tmp.dir, 'h4');
    const s = DataStore.open(home, { roots });
    // a real SQLite failure in the middle of the import transaction (after the dataset row)
    const db = new Database(join(home, 'data', 'data.db'));
    db.exec(`CREATE TRIGGER fail_checksums BEFORE INSERT ON checksums BEGIN SELECT RAISE(ABORT, 'disk says no'); END;`);
    const dir = lightgcn('b', '0 1\n1 2\n', '0 2\n');
    await expect(s.importLightGcn(dir)).rejects.toThrow(/disk says no/);
    expect(stored(home)).toEqual({ dirs: [], tmp: [], rows: 0 });
    db.exec('DROP TRIGGER fail_checksums');
    db.close();
    const ok = await s.importLightGcn(dir);
    expect(ok.existed).toBe(false);
    expect(stored(home)).toMatchObject({ dirs: [ok.dataset.id], rows: 1 });
    s.close();
  });

  it('records original ids of a CSV import and derives poisoned datasets with lineage', async () => {
    const s = DataStore.open(join(tmp.dir, 'h5'), { roots });
    const lines = ['user,item'];
    for (let u = 0; u < 12; u++) for (let i = 0; i < 12; i++) lines.push(`U${u},I${(u + i) % 13}`);
    writeFileSync(join(roots[0]!, 'x.csv'), lines.join('\n'));
    const r = await s.importInteractionFile(join(roots[0]!, 'x.csv'), { hasHeader: true, userCore: 10, itemCore: 10 });
    const ids = s.datasets.originalIds(r.dataset.id)!;
    expect(ids.users.length).toBe(r.dataset.numUsers);
    expect(ids.items).toContain('I0');
    const ps = await s.putProfileSet({ datasetId: r.dataset.id, generator: 'random', targetItems: [0], profiles: [{ name: '', items: [0, 1] }] });
    expect(ps.existed).toBe(false);
    expect(s.profileSets.get(ps.profileSet.id).profiles).toEqual([{ name: 'fake_user_0', items: [0, 1] }]);
    const p = await s.derivePoisoned(r.dataset.id, ps.profileSet.id);
    expect(p.dataset).toMatchObject({ kind: 'poisoned', parentId: r.dataset.id, profileSetId: ps.profileSet.id, numUsers: r.dataset.numUsers + 1, numGenuineUsers: r.dataset.numUsers, targetItems: [0] });
    expect(p.dataset.name).toBe('x+random');
    expect((await s.derivePoisoned(r.dataset.id, ps.profileSet.id)).existed).toBe(true);
    expect(s.statistics(p.dataset.id)).toMatchObject({ fakeUsers: 1, fakeInteractions: 2 });
    await expect(s.derivePoisoned(p.dataset.id, ps.profileSet.id)).rejects.toThrow(/profile_set_id/);
    s.close();
  });
});

describe('catalogue', () => {
  const train = '0 1 2\n1 0\n';
  const test = '0 0\n1 1\n';
  const digest = (t: string): string => createHash('sha256').update(t).digest('hex');
  const entry: CatalogueEntry = {
    name: 'tiny',
    urls: { 'train.txt': 'https://example.invalid/tiny/train.txt', 'test.txt': 'https://example.invalid/tiny/test.txt' },
    sha256: { 'train.txt': digest(train) }, // test.txt unpinned: recorded on first download
    users: 2,
    items: 3,
    interactions: 5,
  };
  const served: Record<string, string> = { [entry.urls['train.txt']!]: train, [entry.urls['test.txt']!]: test };

  it('downloads once through the fetcher, verifies, caches and records digests', async () => {
    const fetched: string[] = [];
    const fetcher = async (url: string): Promise<Uint8Array> => {
      fetched.push(url);
      return Buffer.from(served[url]!);
    };
    const home = join(tmp.dir, 'c1');
    const s = DataStore.open(home, { roots, datasetsDir: join(tmp.dir, 'no-datasets'), catalogue: [entry], fetcher });
    expect(s.catalogue()[0]!.localPath).toBe('');
    const r = await s.importCatalogue('tiny');
    expect(r.dataset).toMatchObject({ name: 'tiny', numUsers: 2, numItems: 3, numTrain: 3, numTest: 2, source: 'catalogue:tiny' });
    expect(fetched.length).toBe(2);
    const again = await s.importCatalogue('tiny');
    expect(again.existed).toBe(true);
    expect(fetched.length).toBe(2); // served from the cache
    const listed = s.catalogue()[0]!;
    expect(listed.localPath).toBe(join(home, 'cache', 'tiny'));
    expect(listed.sha256).toEqual({ 'train.txt': digest(train), 'test.txt': digest(test) });
    await expect(s.importCatalogue('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    s.close();
  });

  it('rejects a download whose sha256 does not match and leaves no cache behind', async () => {
    const home = join(tmp.dir, 'c2');
    const s = DataStore.open(home, { roots, datasetsDir: join(tmp.dir, 'no-datasets'), catalogue: [entry], fetcher: async (url) => Buffer.from(served[url]! + '9 9\n') });
    await expect(s.importCatalogue('tiny')).rejects.toThrow(/expected [0-9a-f]{64}/);
    expect(readdirSync(join(home, 'cache'))).toEqual([]);
    s.close();
  });

  it('uses the local datasets directory without touching the network, and fails fast when absent', async () => {
    const local = join(tmp.dir, 'local-datasets');
    mkdirSync(join(local, 'tiny'), { recursive: true });
    writeFileSync(join(local, 'tiny', 'train.txt'), train);
    writeFileSync(join(local, 'tiny', 'test.txt'), test);
    const offline = async (): Promise<Uint8Array> => {
      throw new Error('no network here');
    };
    const s = DataStore.open(join(tmp.dir, 'c3'), { roots, datasetsDir: local, catalogue: [entry], fetcher: offline });
    expect((await s.importCatalogue('tiny')).dataset.numTrain).toBe(3);
    const t = DataStore.open(join(tmp.dir, 'c4'), { roots, datasetsDir: join(tmp.dir, 'empty'), catalogue: [entry], fetcher: offline });
    await expect(t.importCatalogue('tiny')).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/ROBUSTREC_DATASETS_DIR/) });
    expect(existsSync(join(tmp.dir, 'c4', 'cache', 'tiny'))).toBe(false);
    s.close();
    t.close();
  });
});
