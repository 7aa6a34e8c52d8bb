import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromAuthorsJson } from '@robustrec/attacks';
import { attack, data, generator } from '@robustrec/contracts';
import { RrError } from '@robustrec/core';
import { call, createClient, iterate } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { startAttackService } from '../src/index';

// Real DataService + AttackService over loopback, real SQLite files in a temp home.
const home = mkdtempSync(join(tmpdir(), 'rr-attack-svc-'));
let dataSvc: Awaited<ReturnType<typeof startDataService>>;
let attackSvc: Awaited<ReturnType<typeof startAttackService>>;
let client: attack.AttackServiceClient;
let dataClient: data.DataServiceClient;
let datasetId = '';

async function generate(req: Partial<attack.GenerateRequest>): Promise<{ progress: number; result: attack.GenerateResult }> {
  let progress = 0;
  let result: attack.GenerateResult | undefined;
  const full: attack.GenerateRequest = { datasetId, config: undefined, derivePoisoned: false, timeoutSeconds: 0, ...req };
  for await (const m of iterate(client.generate(full))) {
    if (m.progress) progress++;
    if (m.result) result = m.result;
  }
  if (!result) throw new Error('no result');
  return { progress, result };
}

const cfg = (name: string, extra: Partial<attack.AttackConfig> = {}): attack.AttackConfig => ({
  generator: { name, params: {}, options: {} },
  targetItems: [],
  numTargets: 0,
  targetSelection: 0,
  budgetFraction: 0,
  numFakeUsers: 0,
  profileLength: 0,
  seed: 0,
  ...extra,
});

async function expectError(p: Promise<unknown>, code: string, text: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RrError);
  expect((e as RrError).code).toBe(code);
  expect((e as RrError).message).toContain(text);
}

const profileSetCount = async (): Promise<number> => (await call(dataClient, dataClient.listProfileSets, { datasetId })).profileSets.length;

beforeAll(async () => {
  dataSvc = await startDataService({ home, roots: [home] });
  attackSvc = await startAttackService({ home, dataAddress: dataSvc.address, token: 'secret' });
  client = createClient(attack.AttackServiceClient, attackSvc.address);
  dataClient = createClient(data.DataServiceClient, dataSvc.address);
  const imp = await call(dataClient, dataClient.importDataset, {
    name: 'synth',
    synthetic: { numUsers: 600, numItems: 300, meanInteractions: 20, popularityExponent: 0.9, clusters: 6, seed: 3 },
  });
  datasetId = imp.dataset!.id;
});

afterAll(async () => {
  client?.close();
  dataClient?.close();
  await attackSvc?.shutdown();
  await dataSvc?.shutdown();
  rmSync(home, { recursive: true, force: true });
});

describe('AttackService', () => {
  it('lists the six built-ins first, with their default params', async () => {
    const res = await call(client, client.listGenerators, {});
    expect(res.generators.map((g) => g.name)).toEqual(['random', 'bandwagon', 'average', 'segment', 'dp', 'rev']);
    expect(res.generators.every((g) => g.builtin && g.address === '')).toBe(true);
    expect(res.generators.find((g) => g.name === 'dp')!.defaultParams.decay).toBe(0.9);
    // the same schema the request is resolved against: bounds and descriptions
    expect(res.generators.find((g) => g.name === 'bandwagon')!.params.find((p) => p.name === 'popular_share')).toMatchObject({ defaultValue: 0.5, min: 0, max: 1 });
  });

  it('also serves the built-ins through the AttackGenerator contract', async () => {
    const gen = createClient(generator.AttackGeneratorClient, attackSvc.address);
    const d = await call(gen, gen.describe, {});
    gen.close();
    expect(d.generator!.builtin).toBe(true);
    expect(d.generator!.description).toContain('rev');
  });

  it('generates, stores and poisons: random with the paper defaults', async () => {
    const before = await profileSetCount();
    const { progress, result } = await generate({ config: cfg('random'), derivePoisoned: true });
    expect(progress).toBeGreaterThan(0);
    const ps = result.profileSet!;
    expect(ps.generator).toBe('random');
    expect(ps.numProfiles).toBe(6); // 1% of 600 genuine users
    expect(ps.targetItems).toHaveLength(5);
    expect(result.seconds).toBeGreaterThan(0);
    expect(result.peakRssBytes).toBeGreaterThan(0);
    const poisoned = result.poisonedDataset!;
    expect(poisoned.kind).toBe(data.DatasetKind.DATASET_KIND_POISONED);
    expect(poisoned.numUsers).toBe(606);
    expect(poisoned.numGenuineUsers).toBe(600);
    expect(poisoned.profileSetId).toBe(ps.id);
    expect(await profileSetCount()).toBe(before + 1);

    const got = (await call(client, client.getProfileSet, { id: ps.id })).profileSet!;
    expect(got.profiles).toHaveLength(6);
    for (const p of got.profiles) for (const t of ps.targetItems) expect(p.items).toContain(t);
    expect(JSON.parse(got.provenance!.configJson).generator).toBe('random');
    // exportable in the authors' JSON format
    const json = (await call(dataClient, dataClient.exportProfileSet, { id: ps.id })).json;
    expect(fromAuthorsJson(json).profiles.map((p) => p.items)).toEqual(got.profiles.map((p) => p.items));
  });

  it('runs the optimisation attacks with explicit work sizes (dp, rev)', async () => {
    const dp = await generate({ config: cfg('dp', { numFakeUsers: 10, seed: 4, generator: { name: 'dp', params: { dim: 8, epochs: 2, rounds: 1, sample_users: 100, eval_users: 50 }, options: {} } }) });
    expect(dp.result.profileSet!.numProfiles).toBe(10);
    const rev = await generate({
      config: cfg('rev', { numFakeUsers: 6, targetItems: [5, 250], generator: { name: 'rev', params: { dim: 8, candidates: 50, rounds: 1, init_sweeps: 1, unroll: 2, adv_users: 50, eval_users: 50 }, options: {} } }),
    });
    expect(rev.result.profileSet!.targetItems).toEqual([5, 250]);
    const diag = JSON.parse(rev.result.profileSet!.provenance!.configJson).diagnostics as { name: string }[];
    expect(diag.map((d) => d.name)).toContain('surrogate_t_hr');
  });

  it('runs built-ins off the event loop: the service answers during a long attack, whose deadline stops it', async () => {
    const before = await profileSetCount();
    const slow = generate({
      timeoutSeconds: 1.5,
      config: cfg('rev', { generator: { name: 'rev', params: { rounds: 200, candidates: 250, dim: 32 }, options: {} } }),
    });
    await new Promise((r) => setTimeout(r, 700));
    const t0 = Date.now();
    await call(client, client.listGenerators, {});
    expect(Date.now() - t0).toBeLessThan(300);
    await expectError(slow, 'DEADLINE_EXCEEDED', 'deadline');
    expect(await profileSetCount()).toBe(before);
  });

  it('rejects bad requests with the right code and stores nothing', async () => {
    const before = await profileSetCount();
    await expectError(generate({ config: cfg('random', { generator: { name: 'random', params: { nope: 1 }, options: {} } }) }), 'INVALID_ARGUMENT', 'generator.params.nope');
    await expectError(generate({ config: cfg('random', { targetItems: [300] }) }), 'INVALID_ARGUMENT', 'config.target_items[0]');
    await expectError(generate({ config: cfg('nosuch') }), 'NOT_FOUND', 'nosuch');
    await expectError(generate({ datasetId: 'missing', config: cfg('random') }), 'NOT_FOUND', 'missing');
    await expectError(generate({ config: undefined }), 'INVALID_ARGUMENT', 'config.generator.name');
    expect(await profileSetCount()).toBe(before);
  });

  it('guards registration with the token and checks the address answers', async () => {
    const reg = (token: string, address: string) => call(client, client.registerGenerator, { address, token, name: '', whiteBox: false });
    await expectError(reg('wrong', '127.0.0.1:1'), 'PERMISSION_DENIED', 'token');
    await expectError(reg('secret', '127.0.0.1:1'), 'UNAVAILABLE', '127.0.0.1:1');
    await expectError(call(client, client.unregisterGenerator, { name: 'x', token: 'nope' }), 'PERMISSION_DENIED', 'token');
    await expectError(call(client, client.unregisterGenerator, { name: 'x', token: 'secret' }), 'NOT_FOUND', 'x');
    // a built-in name cannot be taken: the built-in server itself answers Describe as "builtin"
    await expectError(call(client, client.registerGenerator, { address: attackSvc.address, token: 'secret', name: 'random', whiteBox: false }), 'ALREADY_EXISTS', 'random');
  });
});
