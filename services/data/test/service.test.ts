import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { common, data } from '@robustrec/contracts';
import { rowOf, type RrError } from '@robustrec/core';
import { syntheticInteractions } from '@robustrec/data';
import { call, createClient, fetchInteractionData, iterate } from '@robustrec/grpc';
import { MAX_CHUNK, startDataService, type RunningDataService } from '../src';

/** DataService RPCs over a real loopback server and a temp home. */
describe('DataService', () => {
  const home = mkdtempSync(join(tmpdir(), 'rr-data-svc-'));
  const root = join(home, 'root');
  let srv: RunningDataService;
  let client: data.DataServiceClient;
  let synthId = '';
  const synth = { numUsers: 400, numItems: 300, meanInteractions: 20, popularityExponent: 0, clusters: 0, seed: 5 };

  beforeAll(async () => {
    mkdirSync(root, { recursive: true });
    srv = await startDataService({ home, roots: [root], datasetsDir: join(home, 'none'), fetcher: async () => Promise.reject(new Error('offline')) });
    client = createClient(data.DataServiceClient, srv.address);
    const r = await call(client, client.importDataset, { name: 'synth', synthetic: synth });
    synthId = r.dataset!.id;
  });
  afterAll(async () => {
    client?.close();
    await srv?.shutdown();
    rmSync(home, { recursive: true, force: true });
  });

  it('imports synthetic data equal to the library generator, idempotently', async () => {
    const lib = syntheticInteractions({ numUsers: 400, numItems: 300, meanInteractions: 20, seed: 5 });
    expect(synthId).toBe(lib.id);
    const again = await call(client, client.importDataset, { name: 'other', synthetic: synth });
    expect(again.existed).toBe(true);
    const got = await call(client, client.getDataset, { id: synthId });
    expect(got.dataset).toMatchObject({ kind: data.DatasetKind.DATASET_KIND_SYNTHETIC, numUsers: 400, numGenuineUsers: 400, numItems: 300, numTrain: lib.train.indices.length });
    expect(got.dataset!.provenance!.seed).toBe(5);
    const listed = await call(client, client.listDatasets, { kind: data.DatasetKind.DATASET_KIND_SYNTHETIC });
    expect(listed.datasets.map((d) => d.id)).toEqual([synthId]);
    const stats = (await call(client, client.getStatistics, { id: synthId })).statistics!;
    expect(stats.users).toBe(400);
    expect(stats.interactions).toBe(lib.train.indices.length + lib.valid.indices.length + lib.test.indices.length);
    expect(stats.itemPopularity.reduce((a, b) => a + b, 0)).toBe(lib.train.indices.length);
  });

  it('streams a header then sorted COO chunks of at most chunk_size per split, in the order asked', async () => {
    const lib = syntheticInteractions({ numUsers: 400, numItems: 300, meanInteractions: 20, seed: 5 });
    const msgs: data.FetchDatasetResponse[] = [];
    for await (const m of iterate(client.fetchDataset({ id: synthId, splits: [common.Split.SPLIT_TEST, common.Split.SPLIT_TRAIN], chunkSize: 1000 }))) msgs.push(m);
    expect(msgs[0]!.header!.dataset!.id).toBe(synthId);
    const chunks = msgs.slice(1).map((m) => m.chunk!);
    expect(chunks.every((c) => c.users.length <= 1000 && c.users.length === c.items.length)).toBe(true);
    const firstTrain = chunks.findIndex((c) => c.split === common.Split.SPLIT_TRAIN);
    expect(chunks.slice(0, firstTrain).every((c) => c.split === common.Split.SPLIT_TEST)).toBe(true);
    const test = chunks.filter((c) => c.split === common.Split.SPLIT_TEST);
    const tu = test.flatMap((c) => c.users);
    const ti = test.flatMap((c) => c.items);
    expect(tu.length).toBe(lib.test.indices.length);
    for (let k = 1; k < tu.length; k++) expect(tu[k - 1]! < tu[k]! || (tu[k - 1] === tu[k] && ti[k - 1]! < ti[k]!)).toBe(true);
    expect(ti.slice(0, rowOf(lib.test, 0).length)).toEqual(Array.from(rowOf(lib.test, 0)));
    // the shared client helper rebuilds identical CSR
    const { data: fetched } = await fetchInteractionData(srv.address, synthId);
    expect(Array.from(fetched.train.indices)).toEqual(Array.from(lib.train.indices));
    expect(Array.from(fetched.valid.indptr)).toEqual(Array.from(lib.valid.indptr));
  });

  it('rejects bad fetch requests with INVALID_ARGUMENT / NOT_FOUND', async () => {
    const drain = async (req: Partial<data.FetchDatasetRequest>): Promise<RrError> => {
      try {
        for await (const _ of iterate(client.fetchDataset({ id: synthId, splits: [], chunkSize: 0, ...req })));
      } catch (e) {
        return e as RrError;
      }
      throw new Error('no error');
    };
    expect(await drain({ chunkSize: MAX_CHUNK + 1 })).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/chunk_size/) });
    expect(await drain({ splits: [common.Split.SPLIT_UNSPECIFIED] })).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/splits\[0\]/) });
    expect(await drain({ id: 'ds_ffffffffffffffffffffffff' })).toMatchObject({ code: 'NOT_FOUND' });
    await expect(call(client, client.getStatistics, { id: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(call(client, client.importDataset, { name: 'x' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^source:/) });
    await expect(call(client, client.importDataset, { name: '', synthetic: { ...synth, numUsers: 1 } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/synthetic\.num_users/) });
  });

  it('stores, lists, gets and exports profile sets; validates items naming the profile', async () => {
    const ps = {
      id: '',
      datasetId: synthId,
      generator: 'random',
      targetItems: [3, 4],
      profiles: [
        { name: 'a', items: [3, 4, 10] },
        { name: 'b', items: [4, 11, 12] },
      ],
      numProfiles: 0,
      provenance: { seed: 9, configJson: '{"n":2}', versions: {}, host: 'h', createdAt: '' },
      seconds: 0.5,
    };
    const put = await call(client, client.putProfileSet, { profileSet: ps });
    expect(put.existed).toBe(false);
    expect(put.profileSet).toMatchObject({ generator: 'random', numProfiles: 2, targetItems: [3, 4], seconds: 0.5, profiles: [] });
    expect(put.profileSet!.provenance!.seed).toBe(9);
    expect((await call(client, client.putProfileSet, { profileSet: ps })).existed).toBe(true);
    const got = await call(client, client.getProfileSet, { id: put.profileSet!.id });
    expect(got.profileSet!.profiles).toEqual(ps.profiles);
    const listed = await call(client, client.listProfileSets, { datasetId: synthId });
    expect(listed.profileSets.map((p) => p.id)).toEqual([put.profileSet!.id]);
    const exported = await call(client, client.exportProfileSet, { id: put.profileSet!.id });
    expect(exported.json).toBe('{"target_items": ["3", "4"], "fake_users": {"a": ["3", "4", "10"], "b": ["4", "11", "12"]}}');
    // round trip through ImportProfileSet(json) gives the same content id
    const imported = await call(client, client.importProfileSet, { datasetId: synthId, path: '', json: exported.json, minLength: 0, generator: '' });
    expect(imported).toMatchObject({ existed: true, dropped: 0 });
    expect(imported.profileSet!.id).toBe(put.profileSet!.id);
    const bad = { ...ps, profiles: [{ name: 'evil', items: [3, 300] }] };
    await expect(call(client, client.putProfileSet, { profileSet: bad })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/profiles\[0\] \(evil\): item 300 is outside/),
    });
    await expect(call(client, client.putProfileSet, { profileSet: { ...ps, datasetId: 'ds_000000000000000000000000' } })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('imports CSV files under the roots and lists the catalogue offline', async () => {
    const lines = ['u\ti\tt'];
    for (let u = 0; u < 15; u++) for (let i = 0; i < 15; i++) lines.push(`${u}\t${100 + ((u * 7 + i) % 16)}\t${u * 1000 + i}`);
    writeFileSync(join(root, 'log.tsv'), lines.join('\n'));
    const r = await call(client, client.importDataset, {
      name: '',
      interactions: { path: 'log.tsv', delimiter: '', hasHeader: true, userColumn: 'u', itemColumn: 'i', timestampColumn: 't', ratingColumn: '', minRating: 0 },
    });
    expect(r.dataset).toMatchObject({ name: 'log', numUsers: 15, kind: data.DatasetKind.DATASET_KIND_CLEAN });
    expect(r.dataset!.numTrain + r.dataset!.numValid + r.dataset!.numTest).toBe(225);
    expect(r.dataset!.numTest).toBe(15 * 3);
    const cat = await call(client, client.listCatalogue, {});
    expect(cat.entries.map((e) => e.name)).toEqual(['gowalla', 'yelp2018', 'amazon-book']);
    expect(cat.entries[0]).toMatchObject({ users: 29858, items: 40981, interactions: 1027370, localPath: '' });
    expect(cat.entries[0]!.urls['train.txt']).toMatch(/^https:\/\/.*gowalla\/train\.txt$/);
    await expect(call(client, client.importDataset, { name: '', catalogue: { name: 'gowalla', mergeValidIntoTrain: false } })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/offline/),
    });
  });
});
