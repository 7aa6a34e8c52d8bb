import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data } from '@robustrec/contracts';
import { gowallaDir, rowOf } from '@robustrec/core';
import { startDataService, type RunningDataService } from '@robustrec/data-service';
import { call, checkHealth, createClient, fetchInteractionData, listServices } from '@robustrec/grpc';
import { tempDir } from './helpers';

const gowalla = gowallaDir();

/**
 * A deterministic Gowalla slice: every 10th user, plus the first user holding the largest
 * item id, renumbered 0..n-1. Including that user keeps the slice's item-id space equal to
 * the full 40,981 items (LightGCN import: numItems = max item id + 1), so the authors'
 * attack profiles, written in the full id space, are valid for it.
 */
function writeSlice(dir: string): { users: number; train: number; valid: number; test: number } {
  const read = (f: string): Map<number, number[]> =>
    new Map(
      readFileSync(join(gowalla!, f), 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => l.trim().split(/\s+/).map(Number))
        .map(([u, ...items]) => [u!, items]),
    );
  const files = { 'train.txt': read('train.txt'), 'valid.txt': read('valid.txt'), 'test.txt': read('test.txt') };
  let maxItem = 0;
  for (const m of Object.values(files)) for (const items of m.values()) for (const i of items) maxItem = Math.max(maxItem, i);
  const holder = [...Object.values(files)].flatMap((m) => [...m].filter(([, items]) => items.includes(maxItem)).map(([u]) => u)).sort((a, b) => a - b)[0]!;
  const keep = [...new Set([...files['train.txt'].keys()].filter((u) => u % 10 === 0).concat(holder))].sort((a, b) => a - b);
  const newId = new Map(keep.map((u, k) => [u, k]));
  mkdirSync(dir, { recursive: true });
  const counts: Record<string, number> = {};
  for (const [f, m] of Object.entries(files)) {
    const lines = keep.filter((u) => m.has(u)).map((u) => `${newId.get(u)} ${m.get(u)!.join(' ')}`);
    writeFileSync(join(dir, f), lines.join('\n') + '\n');
    counts[f] = keep.reduce((s, u) => s + new Set(m.get(u) ?? []).size, 0);
  }
  return { users: keep.length, train: counts['train.txt']!, valid: counts['valid.txt']!, test: counts['test.txt']! };
}

describe.skipIf(!gowalla)('DataService end to end (Gowalla slice + authors\' Random attack)', () => {
  const tmp = tempDir('rr-data-e2e-');
  const root = join(tmp.dir, 'root');
  const home = join(tmp.dir, 'home');
  let srv: RunningDataService;
  let client: data.DataServiceClient;
  let expected: ReturnType<typeof writeSlice>;
  let clean: data.Dataset;
  const randomJson = gowalla ? join(gowalla, 'attacks', 'random.json') : '';

  beforeAll(async () => {
    expected = writeSlice(join(root, 'gowalla-slice'));
    srv = await startDataService({ home, roots: [root, gowalla!] });
    client = createClient(data.DataServiceClient, srv.address);
  });
  afterAll(async () => {
    client?.close();
    await srv?.shutdown();
    tmp.cleanup();
  });

  it('answers health checks and reflection', async () => {
    expect(await checkHealth(srv.address)).toBe('SERVING');
    expect(await checkHealth(srv.address, 'robustrec.v1.DataService')).toBe('SERVING');
    const services = await listServices(srv.address);
    expect(services).toContain('robustrec.v1.DataService');
    expect(services).toContain('grpc.health.v1.Health');
  });

  it('imports the slice over gRPC with the counts of its text', async () => {
    const r = await call(client, client.importDataset, { name: 'gowalla-slice', lightgcn: { directory: join(root, 'gowalla-slice'), mergeValidIntoTrain: false } });
    clean = r.dataset!;
    expect(r.existed).toBe(false);
    expect(clean).toMatchObject({
      kind: data.DatasetKind.DATASET_KIND_CLEAN,
      numUsers: expected.users,
      numGenuineUsers: expected.users,
      numItems: 40_981,
      numTrain: expected.train,
      numValid: expected.valid,
      numTest: expected.test,
    });
    expect(clean.id).toMatch(/^ds_[0-9a-f]{24}$/);
    const again = await call(client, client.importDataset, { name: 'again', lightgcn: { directory: join(root, 'gowalla-slice'), mergeValidIntoTrain: false } });
    expect(again).toMatchObject({ existed: true, dataset: { id: clean.id } });
  });

  it("imports the authors' Random profiles, derives the poisoned dataset and checks counts, flags and lineage", async () => {
    const doc = JSON.parse(readFileSync(randomJson, 'utf8')) as { target_items: string[]; fake_users: Record<string, string[]> };
    const profiles = Object.values(doc.fake_users);
    const kept = profiles.filter((p) => p.length >= 10);
    const imp = await call(client, client.importProfileSet, { datasetId: clean.id, path: randomJson, json: '', minLength: 10, generator: 'random' });
    expect(imp.dropped).toBe(profiles.length - kept.length);
    expect(imp.profileSet).toMatchObject({ datasetId: clean.id, generator: 'random', numProfiles: kept.length, targetItems: doc.target_items.map(Number) });
    // a stricter minimum drops more, as the authors' loader would
    const strict = await call(client, client.importProfileSet, { datasetId: clean.id, path: randomJson, json: '', minLength: 25, generator: 'random' });
    expect(strict.dropped).toBe(profiles.filter((p) => p.length < 25).length);
    expect(strict.profileSet!.id).not.toBe(imp.profileSet!.id);

    const res = await call(client, client.derivePoisonedDataset, { datasetId: clean.id, profileSetId: imp.profileSet!.id, name: '' });
    const p = res.dataset!;
    const fakeInteractions = kept.reduce((s, items) => s + new Set(items).size, 0);
    expect(p).toMatchObject({
      kind: data.DatasetKind.DATASET_KIND_POISONED,
      name: 'gowalla-slice+random',
      numUsers: expected.users + kept.length,
      numGenuineUsers: expected.users,
      numItems: 40_981,
      numTrain: expected.train + fakeInteractions,
      numValid: expected.valid,
      numTest: expected.test,
      parentId: clean.id,
      profileSetId: imp.profileSet!.id,
      targetItems: doc.target_items.map(Number),
    });
    const stats = (await call(client, client.getStatistics, { id: p.id })).statistics!;
    expect(stats).toMatchObject({ users: expected.users, fakeUsers: kept.length, fakeInteractions, interactions: expected.train + expected.valid + expected.test });

    // what other services receive over the chunked stream: fake rows = profiles, train only
    const { data: got } = await fetchInteractionData(srv.address, p.id);
    const fake0 = expected.users;
    expect(Array.from(rowOf(got.train, fake0))).toEqual([...new Set(kept[0]!.map(Number))].sort((a, b) => a - b));
    for (let u = fake0; u < got.numUsers; u++) expect(rowOf(got.valid, u).length + rowOf(got.test, u).length).toBe(0);
    expect(got.numGenuineUsers).toBe(expected.users);
    const poisonedList = await call(client, client.listDatasets, { kind: data.DatasetKind.DATASET_KIND_POISONED });
    expect(poisonedList.datasets.map((d) => d.id)).toEqual([p.id]);
    // re-deriving is idempotent; exporting gives back the authors' format for the kept profiles
    expect((await call(client, client.derivePoisonedDataset, { datasetId: clean.id, profileSetId: imp.profileSet!.id, name: '' })).existed).toBe(true);
    const exported = JSON.parse((await call(client, client.exportProfileSet, { id: imp.profileSet!.id })).json) as typeof doc;
    expect(exported.target_items).toEqual(doc.target_items);
    expect(Object.keys(exported.fake_users).length).toBe(kept.length);
  });

  it('maps bad input to status codes and stores nothing for a failed import', async () => {
    const before = readdirSync(join(home, 'data', 'datasets')).sort();
    const bad = join(root, 'broken');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'train.txt'), '0 1 2\n1 2 3\n2 4 five\n');
    writeFileSync(join(bad, 'test.txt'), '0 3\n');
    await expect(call(client, client.importDataset, { name: 'broken', lightgcn: { directory: bad, mergeValidIntoTrain: false } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^train\.txt:3: /),
    });
    writeFileSync(join(root, 'broken.csv'), 'user,item\n1,2\n3\n');
    await expect(call(client, client.importDataset, { name: '', interactions: { path: join(root, 'broken.csv'), delimiter: '', hasHeader: true, userColumn: '', itemColumn: '', timestampColumn: '', ratingColumn: '', minRating: 0 } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^broken\.csv:3: /),
    });
    expect(readdirSync(join(home, 'data', 'datasets')).sort()).toEqual(before);
    expect(readdirSync(join(home, 'data', 'tmp'))).toEqual([]);
    expect((await call(client, client.listDatasets, { kind: data.DatasetKind.DATASET_KIND_UNSPECIFIED })).datasets.length).toBe(before.length);

    await expect(call(client, client.getDataset, { id: 'ds_0123456789abcdef01234567' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(call(client, client.importDataset, { name: '', lightgcn: { directory: tmp.dir, mergeValidIntoTrain: false } })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(call(client, client.importProfileSet, { datasetId: clean.id, path: '/etc/passwd', json: '', minLength: 0, generator: '' })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(call(client, client.importDataset, { name: '', lightgcn: { directory: join(root, 'nothing-here'), mergeValidIntoTrain: false } })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('imports the full Gowalla with the published counts (a fraction of a second)', async () => {
    const t0 = performance.now();
    const r = await call(client, client.importDataset, { name: 'gowalla', lightgcn: { directory: gowalla!, mergeValidIntoTrain: true } });
    expect(performance.now() - t0).toBeLessThan(20_000);
    expect(r.dataset).toMatchObject({ numUsers: 29_858, numItems: 40_981, numTrain: 810_128, numValid: 0, numTest: 217_242 });
    const stats = (await call(client, client.getStatistics, { id: r.dataset!.id })).statistics!;
    expect(stats.interactions).toBe(1_027_370);
    expect(stats.sparsity).toBeCloseTo(1 - 1_027_370 / (29_858 * 40_981), 10);
    expect(existsSync(join(home, 'data', 'datasets', r.dataset!.id, 'train.csr'))).toBe(true);
  });
});
