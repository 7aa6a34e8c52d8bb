import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { attack, data } from '@robustrec/contracts';
import { repoRoot, RrError } from '@robustrec/core';
import { call, createClient, iterate } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { startAttackService } from '@robustrec/attack-service';

/**
 * External generators end to end: real DataService and AttackService on loopback, and
 * separate OS processes (test/fixtures/external-generator/server.mjs, written against the
 * .proto files with @grpc/proto-loader only) registered with the token and used to poison
 * a dataset; misbehaving ones fail cleanly and store nothing.
 */
const home = mkdtempSync(join(tmpdir(), 'rr-attack-e2e-'));
const TOKEN = 'e2e-token';
const children: ChildProcess[] = [];
let dataSvc: Awaited<ReturnType<typeof startDataService>>;
let attackSvc: Awaited<ReturnType<typeof startAttackService>>;
let client: attack.AttackServiceClient;
let dataClient: data.DataServiceClient;
let datasetId = '';

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
const register = (address: string, token = TOKEN) => call(client, client.registerGenerator, { address, token, name: '' });

beforeAll(async () => {
  dataSvc = await startDataService({ home, roots: [home] });
  attackSvc = await startAttackService({ home, dataAddress: dataSvc.address, token: TOKEN });
  client = createClient(attack.AttackServiceClient, attackSvc.address);
  dataClient = createClient(data.DataServiceClient, dataSvc.address);
  const imp = await call(dataClient, dataClient.importDataset, {
    name: 'synth-e2e',
    synthetic: { numUsers: 500, numItems: 250, meanInteractions: 15, popularityExponent: 0.9, clusters: 4, seed: 11 },
  });
  datasetId = imp.dataset!.id;
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
    attackSvc = await startAttackService({ home, dataAddress: dataSvc.address, token: TOKEN });
    client = createClient(attack.AttackServiceClient, attackSvc.address);
    const list = (await call(client, client.listGenerators, {})).generators;
    expect(list.at(-1)).toMatchObject({ name: 'popular-copy', builtin: false });
  });

  it('out-of-range item ids are INVALID_ARGUMENT and nothing is stored', async () => {
    await register(await spawnGenerator('out-of-range', 'bad-ids'));
    const before = await profileSetCount();
    await expectError(generate(cfg('bad-ids')), 'INVALID_ARGUMENT', 'out of range');
    expect(await profileSetCount()).toBe(before);
  });

  it('a stream without its done message is INVALID_ARGUMENT and nothing is stored', async () => {
    await register(await spawnGenerator('no-done', 'no-done'));
    const before = await profileSetCount();
    await expectError(generate(cfg('no-done')), 'INVALID_ARGUMENT', 'without a done message');
    expect(await profileSetCount()).toBe(before);
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
