import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { attack, common, data } from '@robustrec/contracts';
import { repoRoot, RrError } from '@robustrec/core';
import { call, callOptions, createClient, DATA_TOKEN_METADATA, iterate } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { startAttackService } from '@robustrec/attack-service';

/**
 * External generators end to end: real DataService and AttackService on loopback, and
 * separate OS processes (test/fixtures/external-generator/server.mjs, written against the
 * .proto files with @grpc/proto-loader only) registered with the token and used to poison
 * a dataset; misbehaving ones fail cleanly and store nothing. Generators are given the
 * advertised data address and a data access token, which the data service enforces.
 */
const home = mkdtempSync(join(tmpdir(), 'rr-attack-e2e-'));
const TOKEN = 'e2e-token';
const children: ChildProcess[] = [];
let dataSvc: Awaited<ReturnType<typeof startDataService>>;
let attackSvc: Awaited<ReturnType<typeof startAttackService>>;
let client: attack.AttackServiceClient;
let dataClient: data.DataServiceClient;
let datasetId = '';
let otherDatasetId = '';
/** What generators are told to read from: the same service, as another host name would reach it. */
let advertised = '';

/** Starts the external generator process; resolves to its address once it listens. */
function spawnGenerator(mode: string, name: string): Promise<string> {
  const child = spawn(process.execPath, [join(repoRoot, 'test/fixtures/external-generator/server.mjs'), '--mode', mode, '--name', name], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (l) => {
      const m = /^LISTENING (\d+)$/.exec(l);
      if (m) resolve(`127.0.0.1:${m[1]}`);
    });
    child.once('exit', (code) => reject(new Error(`generator process exited with ${code}`)));
  });
}

const cfg = (name: string, extra: Partial<attack.AttackConfig> = {}): attack.AttackConfig => ({
  generator: { name, params: {}, options: {} },
  targetItems: [],
  numTargets: 3,
  targetSelection: 0,
  budgetFraction: 0.02,
  numFakeUsers: 0,
  profileLength: 0,
  seed: 7,
  ...extra,
});

async function generate(config: attack.AttackConfig, derivePoisoned = false, timeoutSeconds = 0): Promise<{ progress: attack.GenerateResponse[]; result: attack.GenerateResult }> {
  const progress: attack.GenerateResponse[] = [];
  let result: attack.GenerateResult | undefined;
  for await (const m of iterate(client.generate({ datasetId, config, derivePoisoned, timeoutSeconds }))) {
    if (m.progress) progress.push(m);
    if (m.result) result = m.result;
  }
  if (!result) throw new Error('no result');
  return { progress, result };
}

async function expectError(p: Promise<unknown>, code: string, text: string): Promise<RrError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RrError);
  expect((e as RrError).code).toBe(code);
  expect((e as RrError).message).toContain(text);
  return e as RrError;
}

const profileSetCount = async (): Promise<number> => (await call(dataClient, dataClient.listProfileSets, { datasetId })).profileSets.length;
const register = (address: string, token = TOKEN, whiteBox = false) => call(client, client.registerGenerator, { address, token, name: '', whiteBox });
const startAttack = () => startAttackService({ home, dataAddress: dataSvc.address, advertisedDataAddress: advertised, token: TOKEN });

/** What an "echo" generator reported it was given. */
interface Given {
  dataServiceAddress: string;
  dataAccessToken: string;
  readableSplits: string[];
  maxProfileLength: number;
}
const given = (progress: attack.GenerateResponse[]): Given => JSON.parse(progress.find((m) => m.progress!.phase === 'echo')!.progress!.message) as Given;

/** FetchDataset with a data access token, as a generator would call it; resolves to the splits received or the status it got. */
async function fetchWith(token: string, id: string, splits: common.Split[]): Promise<string> {
  const md = new Metadata();
  md.set(DATA_TOKEN_METADATA, token);
  const got = new Set<string>();
  try {
    const stream = dataClient.fetchDataset({ id, splits, chunkSize: 0 }, md, callOptions('transfer'));
    for await (const m of stream as AsyncIterable<data.FetchDatasetResponse>) if (m.chunk) got.add(common.splitToJSON(m.chunk.split));
    return `OK ${[...got].sort().join(',')}`;
  } catch (e) {
    const err = e as ServiceError;
    return `${status[err.code]}: ${err.details}`;
  }
}

async function getWith(token: string, id: string): Promise<string> {
  const md = new Metadata();
  md.set(DATA_TOKEN_METADATA, token);
  return new Promise((resolve) => dataClient.getDataset({ id }, md, callOptions('lookup'), (err, res) => resolve(err ? `${status[err.code]}` : `OK ${res.dataset!.id}`)));
}

beforeAll(async () => {
  dataSvc = await startDataService({ home, roots: [home] });
  advertised = dataSvc.address.replace('127.0.0.1', 'localhost');
  attackSvc = await startAttack();
  client = createClient(attack.AttackServiceClient, attackSvc.address);
  dataClient = createClient(data.DataServiceClient, dataSvc.address);
  const imp = await call(dataClient, dataClient.importDataset, {
    name: 'synth-e2e',
    synthetic: { numUsers: 500, numItems: 250, meanInteractions: 15, popularityExponent: 0.9, clusters: 4, seed: 11 },
  });
  datasetId = imp.dataset!.id;
  const other = await call(dataClient, dataClient.importDataset, {
    name: 'synth-other',
    synthetic: { numUsers: 200, numItems: 100, meanInteractions: 10, popularityExponent: 0.9, clusters: 2, seed: 12 },
  });
  otherDatasetId = other.dataset!.id;
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  client?.close();
  dataClient?.close();
  await attackSvc?.shutdown();
  await dataSvc?.shutdown();
  rmSync(home, { recursive: true, force: true });
});

describe('external AttackGenerator plug-ins', () => {
  it('a separate process is registered with the token, listed, and poisons a dataset like a built-in', async () => {
    const address = await spawnGenerator('good', 'popular-copy');
    await expectError(register(address, 'not-the-token'), 'PERMISSION_DENIED', 'token');
    const reg = await register(address);
    expect(reg.generator).toMatchObject({ name: 'popular-copy', builtin: false, address, defaultParams: { pool: 50 } });

    const list = (await call(client, client.listGenerators, {})).generators;
    expect(list.map((g) => g.name)).toEqual(['random', 'bandwagon', 'average', 'segment', 'dp', 'rev', 'popular-copy']);

    const { progress, result } = await generate(cfg('popular-copy', { generator: { name: 'popular-copy', params: { pool: 30 }, options: {} } }), true);
    expect(progress.some((m) => m.progress!.phase === 'external')).toBe(true);
    const ps = result.profileSet!;
    expect(ps.generator).toBe('popular-copy');
    expect(ps.numProfiles).toBe(10); // 2% of 500, resolved by the attack service
    expect(ps.targetItems).toHaveLength(3);
    expect(result.poisonedDataset!.numUsers).toBe(510);
    expect(result.poisonedDataset!.targetItems).toEqual(ps.targetItems);

    const got = (await call(client, client.getProfileSet, { id: ps.id })).profileSet!;
    const stats = (await call(dataClient, dataClient.getStatistics, { id: datasetId })).statistics!;
    const pool = new Set(
      stats.itemPopularity
        .map((c, i) => [c, i] as const)
        .sort((a, b) => b[0] - a[0] || a[1] - b[1])
        .slice(0, 30)
        .map(([, i]) => i),
    );
    for (const p of got.profiles) {
      for (const t of ps.targetItems) expect(p.items).toContain(t);
      for (const i of p.items) if (!ps.targetItems.includes(i)) expect(pool.has(i)).toBe(true);
    }
    // unknown params are rejected against the external generator's own Describe
    await expectError(generate(cfg('popular-copy', { generator: { name: 'popular-copy', params: { nope: 1 }, options: {} } })), 'INVALID_ARGUMENT', 'generator.params.nope');
  });

  it('registrations persist across a restart of the attack service', async () => {
    await attackSvc.shutdown();
    client.close();
    attackSvc = await startAttack();
    client = createClient(attack.AttackServiceClient, attackSvc.address);
    const list = (await call(client, client.listGenerators, {})).generators;
    expect(list.at(-1)).toMatchObject({ name: 'popular-copy', builtin: false, whiteBox: false });
  });

  it('out-of-range item ids are FAILED_PRECONDITION naming the generator and the rule, and nothing is stored', async () => {
    const address = await spawnGenerator('out-of-range', 'bad-ids');
    await register(address);
    const before = await profileSetCount();
    const e = await expectError(generate(cfg('bad-ids')), 'FAILED_PRECONDITION', `generator bad-ids at ${address} broke rule items-range`);
    expect(e.message).toMatch(/profiles\[1\] \(ext_1\): item id 255 out of range \[0, 250\); nothing stored$/);
    expect(await profileSetCount()).toBe(before);
  });

  it('a stream without its done message is FAILED_PRECONDITION (rule stream-done) and nothing is stored', async () => {
    await register(await spawnGenerator('no-done', 'no-done'));
    const before = await profileSetCount();
    await expectError(generate(cfg('no-done')), 'FAILED_PRECONDITION', 'broke rule stream-done (the stream ends with exactly one done message and nothing after it): the stream ended without a done message');
    expect(await profileSetCount()).toBe(before);
  });

  it('a generator is given the advertised data address and a token that reads the TRAIN split of that one dataset, until the deadline', async () => {
    await register(await spawnGenerator('echo', 'echo'));
    const startedAt = Date.now();
    const { progress, result } = await generate(cfg('echo'), false, 3);
    expect(result.profileSet!.numProfiles).toBe(10); // it read TRAIN with its token
    const g = given(progress);
    expect(g.dataServiceAddress).toBe(advertised);
    expect(g.readableSplits).toEqual(['SPLIT_TRAIN']);
    expect(g.maxProfileLength).toBeGreaterThanOrEqual(2);
    const { SPLIT_TRAIN: TRAIN, SPLIT_VALID: VALID, SPLIT_TEST: TEST } = common.Split;
    // over real gRPC, as the generator could try: TRAIN only, this dataset only
    expect(await fetchWith(g.dataAccessToken, datasetId, [TRAIN])).toBe('OK SPLIT_TRAIN');
    expect(await fetchWith(g.dataAccessToken, datasetId, [TEST])).toMatch(/^PERMISSION_DENIED: .*grants SPLIT_TRAIN only, not SPLIT_TEST/);
    expect(await fetchWith(g.dataAccessToken, datasetId, [TRAIN, VALID])).toMatch(/^PERMISSION_DENIED: .*not SPLIT_VALID/);
    expect(await fetchWith(g.dataAccessToken, datasetId, [])).toMatch(/^PERMISSION_DENIED: .*not SPLIT_VALID, SPLIT_TEST/);
    expect(await fetchWith(g.dataAccessToken, otherDatasetId, [TRAIN])).toMatch(/^PERMISSION_DENIED: .*another dataset/);
    expect(await getWith(g.dataAccessToken, datasetId)).toBe(`OK ${datasetId}`);
    expect(await getWith(g.dataAccessToken, otherDatasetId)).toBe('PERMISSION_DENIED');
    const [v, payload] = g.dataAccessToken.split('.');
    const wider = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), s: [1, 2, 3] })).toString('base64url');
    expect(await fetchWith(`${v}.${wider}.${g.dataAccessToken.split('.')[2]}`, datasetId, [TEST])).toMatch(/^UNAUTHENTICATED: .*signature does not verify/);
    // the token lasts until the generation's deadline (3 s after it started), rounded up to the
    // whole second the payload holds; it is refused from that second on
    const expiresMs = (JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { e: number }).e * 1000;
    expect(expiresMs - startedAt).toBeGreaterThanOrEqual(3000);
    expect(expiresMs - startedAt).toBeLessThanOrEqual(4000 + 1000);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresMs - Date.now()) + 100));
    expect(await fetchWith(g.dataAccessToken, datasetId, [TRAIN])).toMatch(/^UNAUTHENTICATED: .*expired/);
  });

  it('white-box is an explicit registration option, kept across restarts: such a generator reads every split', async () => {
    await register(await spawnGenerator('echo', 'echo-white'), TOKEN, true);
    await attackSvc.shutdown();
    client.close();
    attackSvc = await startAttack();
    client = createClient(attack.AttackServiceClient, attackSvc.address);
    const list = (await call(client, client.listGenerators, {})).generators;
    expect(list.find((g) => g.name === 'echo-white')).toMatchObject({ whiteBox: true });
    expect(list.find((g) => g.name === 'echo')).toMatchObject({ whiteBox: false });
    const g = given((await generate(cfg('echo-white'))).progress);
    expect(g.readableSplits).toEqual(['SPLIT_TRAIN', 'SPLIT_VALID', 'SPLIT_TEST']);
    expect(await fetchWith(g.dataAccessToken, datasetId, [])).toBe('OK SPLIT_TEST,SPLIT_TRAIN,SPLIT_VALID');
    expect(await fetchWith(g.dataAccessToken, otherDatasetId, [common.Split.SPLIT_TRAIN])).toMatch(/^PERMISSION_DENIED/);
  });

  it('a slow generator hits the deadline (DEADLINE_EXCEEDED) and nothing is stored', async () => {
    await register(await spawnGenerator('slow', 'slow'));
    const before = await profileSetCount();
    await expectError(generate(cfg('slow'), false, 1.5), 'DEADLINE_EXCEEDED', 'deadline');
    expect(await profileSetCount()).toBe(before);
  });

  it('a generator that went away is UNAVAILABLE; unregistering needs the token', async () => {
    const address = await spawnGenerator('good', 'gone');
    await register(address);
    const child = children.at(-1)!;
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const before = await profileSetCount();
    await expectError(generate(cfg('gone')), 'UNAVAILABLE', 'gone');
    expect(await profileSetCount()).toBe(before);
    await expectError(register(address), 'UNAVAILABLE', address);
    await expectError(call(client, client.unregisterGenerator, { name: 'gone', token: 'x' }), 'PERMISSION_DENIED', 'token');
    await call(client, client.unregisterGenerator, { name: 'gone', token: TOKEN });
    expect((await call(client, client.listGenerators, {})).generators.map((g) => g.name)).not.toContain('gone');
  });
});
