import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, toBinary } from '@bufbuild/protobuf';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { attack, common, data, evaluator, generator, inference, scoring, trainer } from '@robustrec/contracts';
import { repoRoot } from '@robustrec/core';
import { call, callOptions, createClient, iterate, registerModel } from '@robustrec/grpc';
import { startPlatform, type Platform } from '@robustrec/orchestrator-service';
import { freePort, jobAtEnd, smallTrainConfig, tempDir } from './helpers';
import { loadRegistry } from './fuzz/schema';
import { frame, WireClient } from './fuzz/wire';

/**
 * Regression tests for the defects an outside client found (issue 15, part 7) and the
 * resource limits (part 6), against the four services started in-process by the
 * orchestrator (startPlatform) with a small memory budget (8 MiB, ROBUSTREC_MEMORY_BUDGET).
 */
const tmp = tempDir('rr-hostile-');
const root = join(tmp.dir, 'root');
const registry = loadRegistry(repoRoot);
let platform: Platform;
let datasetId = '';
let modelId = '';
let numItems = 0;

const trainConfig = smallTrainConfig;
const attackConfig = (over: Partial<attack.AttackConfig> = {}): attack.AttackConfig => ({
  generator: { name: 'random', params: {}, options: {} },
  targetItems: [],
  numTargets: 2,
  targetSelection: 0,
  budgetFraction: 0,
  numFakeUsers: 0,
  profileLength: 0,
  seed: 1,
  ...over,
});

/** A unary call with request bytes built from the descriptors (values the typed clients cannot encode). */
async function rawUnary(address: string, path: string, type: string, init: object): Promise<{ code?: number; message: string }> {
  const desc = registry.getMessage(type)!;
  const c = new WireClient(address);
  try {
    return await c.call(path, { chunks: [frame(toBinary(desc, create(desc, init as never)))] }, 10_000);
  } finally {
    c.close();
  }
}

const drain = async <T>(s: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const m of s) out.push(m);
  return out;
};

beforeAll(async () => {
  mkdirSync(join(root, 'imports'), { recursive: true });
  symlinkSync('/etc', join(root, 'imports', 'etc'));
  writeFileSync(join(root, 'imports', 'notes.txt'), 'secret-token-1234: do not show\n');
  // a LightGCN directory inside the root whose train.txt links out of it
  mkdirSync(join(root, 'imports', 'linked'));
  symlinkSync('/etc/passwd', join(root, 'imports', 'linked', 'train.txt'));
  writeFileSync(join(root, 'imports', 'linked', 'test.txt'), '0 1\n');
  process.env.ROBUSTREC_DATA_ROOTS = root;
  process.env.ROBUSTREC_MEMORY_BUDGET = '8MiB';
  platform = await startPlatform({ home: join(tmp.dir, 'home') });
  const dc = createClient(data.DataServiceClient, platform.endpoints.data);
  const ds = (await call(dc, dc.importDataset, { name: 'syn', synthetic: { numUsers: 120, numItems: 80, meanInteractions: 10, popularityExponent: 0, clusters: 0, seed: 3 } }, { kind: 'work' })).dataset!;
  datasetId = ds.id;
  numItems = ds.numItems;
  dc.close();
  const tc = createClient(trainer.TrainerServiceClient, platform.endpoints.trainers[0]!);
  const { job } = await call(tc, tc.startJob, { datasetId, config: trainConfig(), options: undefined, name: 'hostile-mf', idempotencyKey: '' });
  const last = await jobAtEnd(tc, job!);
  expect(last.state).toBe(trainer.JobState.JOB_STATE_SUCCEEDED);
  modelId = last.modelId;
  tc.close();
});

afterAll(async () => {
  await platform?.shutdown();
  tmp.cleanup();
});

describe('one long id no longer hangs the platform', () => {
  it('AttackService.GetProfileSet{id: "A" x 100000} and StartJob with such a dataset_id answer INVALID_ARGUMENT at once; every later call works', async () => {
    const ac = createClient(attack.AttackServiceClient, platform.endpoints.attackers[0]!);
    const tc = createClient(trainer.TrainerServiceClient, platform.endpoints.trainers[0]!);
    const dc = createClient(data.DataServiceClient, platform.endpoints.data);
    const long = 'A'.repeat(100_000);
    const t0 = performance.now();
    await expect(call(ac, ac.getProfileSet, { id: long })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'id: too long: 100000 characters, at most 256' });
    await expect(call(tc, tc.startJob, { datasetId: long, config: trainConfig(), options: undefined, name: '', idempotencyKey: '' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'dataset_id: too long: 100000 characters, at most 256' });
    expect(performance.now() - t0).toBeLessThan(5000);
    // later calls through the attack and trainer services reach the data service as before
    await expect(call(ac, ac.getProfileSet, { id: 'ps_000000000000000000000000' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(call(tc, tc.startJob, { datasetId: 'ds_000000000000000000000000', config: trainConfig(), options: undefined, name: '', idempotencyKey: '' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await call(dc, dc.listDatasets, { kind: 0 })).datasets.map((d) => d.id)).toContain(datasetId);
    expect((await drain(iterate(dc.fetchDataset({ id: datasetId, splits: [], chunkSize: 0 }, callOptions('transfer'))))).length).toBeGreaterThan(1);
    // the longest id a service accepts comes back in a status message of bounded size
    const err = await call(dc, dc.getDataset, { id: 'B'.repeat(256) }).catch((e: Error) => e);
    expect((err as Error).message.length).toBeLessThanOrEqual(1024);
    for (const c of [ac, tc, dc]) c.close();
  });
});

describe('data roots: real paths, and errors that show nothing of a file', () => {
  it('a symlink inside a data root pointing at /etc does not let ImportProfileSet read /etc/passwd', async () => {
    const dc = createClient(data.DataServiceClient, platform.endpoints.data);
    for (const path of [join(root, 'imports', 'etc', 'passwd'), join(root, 'imports', 'etc', '..', 'etc', 'passwd'), '/etc/passwd']) {
      const e = (await call(dc, dc.importProfileSet, { datasetId, path, json: '', minLength: 0, generator: '' }).catch((x: Error) => x)) as Error & { code: string };
      expect(e.code).toBe('PERMISSION_DENIED');
      expect(e.message).toBe(`path: outside the configured data roots (${root})`);
      expect(e.message).not.toMatch(/root:|\/etc/);
    }
    await expect(call(dc, dc.importDataset, { name: '', lightgcn: { directory: join(root, 'imports', 'etc'), mergeValidIntoTrain: false } })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    // the directory is inside the root, but its train.txt is a link to /etc/passwd
    await expect(call(dc, dc.importDataset, { name: '', lightgcn: { directory: join(root, 'imports', 'linked'), mergeValidIntoTrain: false } })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: `lightgcn.directory: outside the configured data roots (${root})`,
    });
    dc.close();
  });

  it("a profile file or JSON that does not parse is reported by position, never by its text", async () => {
    const dc = createClient(data.DataServiceClient, platform.endpoints.data);
    const fromFile = (await call(dc, dc.importProfileSet, { datasetId, path: join(root, 'imports', 'notes.txt'), json: '', minLength: 0, generator: '' }).catch((x: Error) => x)) as Error & { code: string };
    expect(fromFile.code).toBe('INVALID_ARGUMENT');
    expect(fromFile.message).toBe('notes.txt: invalid JSON: unexpected token');
    const inline = (await call(dc, dc.importProfileSet, { datasetId, path: '', json: 'root:x:0:0:root:/root:/bin/bash', minLength: 0, generator: '' }).catch((x: Error) => x)) as Error;
    expect(inline.message).toBe('json: invalid JSON: unexpected token');
    const positioned = (await call(dc, dc.importProfileSet, { datasetId, path: '', json: '{"target_items" 1}', minLength: 0, generator: '' }).catch((x: Error) => x)) as Error;
    expect(positioned.message).toBe('json: invalid JSON at 1:17');
    dc.close();
  });
});

describe('server-side request forgery', () => {
  it("GenerateProfiles reads only from the attack service's configured data service; every other address gets the same PERMISSION_DENIED", async () => {
    const g = createClient(generator.AttackGeneratorClient, platform.endpoints.attackers[0]!);
    const ask = (address: string): Promise<{ code?: string; message: string; ms: number }> => {
      const t0 = performance.now();
      return drain(iterate(g.generateProfiles({ dataServiceAddress: address, datasetId, numUsers: 0, numItems: 0, config: attackConfig(), dataAccessToken: '', readableSplits: [], maxProfileLength: 0 }, callOptions('lookup')))).then(
        () => ({ code: 'OK', message: '', ms: performance.now() - t0 }),
        (e: Error & { code: string }) => ({ code: e.code, message: e.message, ms: performance.now() - t0 }),
      );
    };
    const closed = `127.0.0.1:${await freePort()}`;
    const open = platform.endpoints.evaluator; // a gRPC server that is up
    const answers = await Promise.all([closed, open, '10.255.255.1:9', 'localhost:22', 'example.com:443'].map(ask));
    for (const a of answers) {
      expect(a.code).toBe('PERMISSION_DENIED');
      expect(a.message).toBe('data_service_address: not a data service this attack service is configured to read from');
      expect(a.ms).toBeLessThan(2000); // refused before connecting anywhere
    }
    // the configured address (also written as localhost) is used
    const allowed = await ask(platform.endpoints.data.replace('127.0.0.1', 'localhost'));
    expect(allowed.code).toBe('OK');
    g.close();
  });
});

describe('amplification', () => {
  it('FetchDataset sends each split once however often it is asked for, and refuses a long list', async () => {
    const dc = createClient(data.DataServiceClient, platform.endpoints.data);
    const bytes = async (splits: common.Split[]): Promise<number> =>
      (await drain(iterate(dc.fetchDataset({ id: datasetId, splits, chunkSize: 0 }, callOptions('transfer'))))).reduce((s, m) => s + data.FetchDatasetResponse.encode(m).finish().length, 0);
    const once = await bytes([common.Split.SPLIT_TRAIN]);
    expect(await bytes(Array(16).fill(common.Split.SPLIT_TRAIN))).toBe(once);
    expect(await bytes([common.Split.SPLIT_TEST, common.Split.SPLIT_TRAIN, common.Split.SPLIT_TEST])).toBe(await bytes([common.Split.SPLIT_TEST, common.Split.SPLIT_TRAIN]));
    await expect(drain(iterate(dc.fetchDataset({ id: datasetId, splits: Array(200).fill(common.Split.SPLIT_TRAIN), chunkSize: 0 })))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'splits: at most 16 entries, got 200',
    });
    dc.close();
  });
});

describe('client mistakes are INVALID_ARGUMENT / RESOURCE_EXHAUSTED naming the field, before anything is allocated', () => {
  it('RegisterModel with a dimension of 2^32-1 (was "Invalid typed array length"), or tensors over the budget', async () => {
    const header = (shape: number[]): evaluator.Model => ({
      id: '', name: 'huge', version: 0, backbone: 'mf', defense: 'none', datasetId, jobId: '', numUsers: 1, numItems: 1,
      tensors: [{ name: 'user_embedding', shape }], metrics: [], provenance: undefined, sizeBytes: 0,
    });
    await expect(registerModel(platform.endpoints.evaluator, header([1, 2 ** 32 - 1]), { user_embedding: new Float32Array(1) })).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      message: expect.stringMatching(/^RegisterModel: header\.tensors\[0\]\.shape: \[1,4294967295\] is 17179869180 bytes/),
    });
    await expect(registerModel(platform.endpoints.evaluator, header([4096, 1024]), { user_embedding: new Float32Array(1) })).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      message: expect.stringMatching(/header\.tensors\[0\]\.shape: the declared tensors \(1\) would need about 16\.0 MiB, more than this service's memory budget of 8\.00 MiB/),
    });
  });

  it('StartJob seed = 2^64-1 and ModelInfer user 2^53+1 (were INTERNAL "Error deserializing request")', async () => {
    const seed = await rawUnary(platform.endpoints.trainers[0]!, '/robustrec.v1.TrainerService/StartJob', 'robustrec.v1.StartJobRequest', { datasetId, config: { backbone: { name: 'mf' }, seed: 2n ** 64n - 1n } });
    expect(seed).toMatchObject({ code: 3, message: 'config.seed: 18446744073709551615 is outside the supported integer range ±(2^53 - 1)' });
    const user = await rawUnary(platform.endpoints.evaluator, '/inference.GRPCInferenceService/ModelInfer', 'inference.ModelInferRequest', {
      modelName: 'hostile-mf',
      inputs: [{ name: 'user', datatype: 'INT64', shape: [1n], contents: { int64Contents: [2n ** 53n + 1n] } }],
    });
    expect(user).toMatchObject({ code: 3, message: 'inputs[0].contents.int64_contents[0]: 9007199254740993 is outside the supported integer range ±(2^53 - 1)' });
  });

  it('Generate budget_fraction = NaN (was silently the default) and timeout_seconds = NaN are refused like every other NaN', async () => {
    const ac = createClient(attack.AttackServiceClient, platform.endpoints.attackers[0]!);
    const gen = (req: Partial<attack.GenerateRequest>) => drain(iterate(ac.generate({ datasetId, config: attackConfig(), derivePoisoned: false, timeoutSeconds: 0, ...req }, callOptions('lookup'))));
    await expect(gen({ config: attackConfig({ budgetFraction: Number.NaN }) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'config.budget_fraction: must be a finite number, got NaN' });
    await expect(gen({ timeoutSeconds: Number.NaN })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^timeout_seconds:/) });
    ac.close();
  });

  it('an enum value outside the contract is refused (it used to fall back to a default)', async () => {
    const tc = createClient(trainer.TrainerServiceClient, platform.endpoints.trainers[0]!);
    await expect(call(tc, tc.startJob, { datasetId, config: trainConfig({ optimizer: 7 as trainer.Optimizer }), options: undefined, name: '', idempotencyKey: '' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'config.optimizer: 7 is not a Optimizer value',
    });
    tc.close();
  });
});

describe('resource limits: the memory budget is checked before allocating', () => {
  it('top-k of 10^9 items, a synthetic dataset of 10^10 interactions, a model 4096 wide, 10 million fake users', async () => {
    const sc = createClient(scoring.ScoringServiceClient, platform.endpoints.evaluator);
    const ref = { id: modelId, name: '', version: 0 };
    await expect(call(sc, sc.recommend, { model: ref, user: 0, k: 1e9, includeSeen: false })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: `k: must be in [1, ${numItems}], got 1000000000` });
    const dc = createClient(data.DataServiceClient, platform.endpoints.data);
    await expect(call(dc, dc.importDataset, { name: '', synthetic: { numUsers: 5_000_000, numItems: 5_000_000, meanInteractions: 2000, popularityExponent: 0, clusters: 0, seed: 1 } })).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      message: expect.stringMatching(/^synthetic\.num_users: the synthetic dataset would need about 373\.1 GiB/),
    });
    const tc = createClient(trainer.TrainerServiceClient, platform.endpoints.trainers[0]!);
    await expect(call(tc, tc.startJob, { datasetId, config: trainConfig({ dim: 4096 }), options: undefined, name: '', idempotencyKey: '' })).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED', message: expect.stringMatching(/^config\.dim: /) });
    const ac = createClient(attack.AttackServiceClient, platform.endpoints.attackers[0]!);
    await expect(drain(iterate(ac.generate({ datasetId, config: attackConfig({ numFakeUsers: 10_000_000 }), derivePoisoned: false, timeoutSeconds: 0 }, callOptions('lookup'))))).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      message: expect.stringMatching(/^config\.num_fake_users: /),
    });
    for (const c of [sc, dc, tc, ac]) c.close();
  });

  it('a RecommendBatch or ModelInfer beyond the budget, and huge ks lists', async () => {
    const sc = createClient(scoring.ScoringServiceClient, platform.endpoints.evaluator);
    const ref = { id: modelId, name: '', version: 0 };
    await expect(drain(iterate(sc.recommendBatch({ model: ref, users: Array(10_000).fill(0), k: numItems, includeSeen: false })))).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      message: expect.stringMatching(/^users: top-80 lists for 10000 users would need about/),
    });
    const ic = createClient(inference.GRPCInferenceServiceClient, platform.endpoints.evaluator);
    const tensor = { name: 'user', datatype: 'INT64', shape: [10_000], parameters: {}, contents: { boolContents: [], intContents: [], int64Contents: Array(10_000).fill(1), uintContents: [], uint64Contents: [], fp32Contents: [], fp64Contents: [], bytesContents: [] } };
    await expect(call(ic, ic.modelInfer, { modelName: 'hostile-mf', modelVersion: '', id: '', parameters: { k: { int64Param: numItems } }, inputs: [tensor], outputs: [], rawInputContents: [] })).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      message: expect.stringMatching(/^inputs\[user\]: /),
    });
    // a version is a number, an alias label or empty ("latest" is an alias now)
    await expect(call(ic, ic.modelReady, { name: 'hostile-mf', version: 'v 1' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'version: must be a letter then up to 63 of [A-Za-z0-9._-], got "v 1"' });
    const ec = createClient(evaluator.EvaluatorServiceClient, platform.endpoints.evaluator);
    const ks = Array.from({ length: 40 }, (_, i) => i + 1);
    await expect(call(ec, ec.evaluate, { model: ref, datasetId: '', split: 0, ks, targetItems: [] }, { kind: 'work' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'ks: at most 32 distinct cut-offs, got 40' });
    // a long list of one cut-off is one cut-off
    const ok = await call(ec, ec.evaluate, { model: ref, datasetId: '', split: 0, ks: Array(1000).fill(5), targetItems: [] }, { kind: 'work' });
    expect(ok.evaluation!.metrics.every((m) => m.k === 5)).toBe(true);
    for (const c of [sc, ic, ec]) c.close();
  });
});
