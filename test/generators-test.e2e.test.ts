import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { attack } from '@robustrec/contracts';
import { repoRoot } from '@robustrec/core';
import { call, createClient } from '@robustrec/grpc';
import { startAttackService } from '@robustrec/attack-service';
import { startDataService } from '@robustrec/data-service';
import { ExperimentStore, Orchestrator, parseSpec } from '@robustrec/orchestrator-service';
import { exited, spawnTs, tempDir } from './helpers';
import { MF, smallGridSpec } from './specs';

/**
 * `robustrec generators test` and the TestGenerator RPC behind it: one misbehaving generator
 * process per rule of the contract (test/fixtures/external-generator/server.mjs in "by-name"
 * mode: the name it is tested under picks the misbehaviour), each reported with exactly the
 * rule it breaks; and a broken generator in a grid cell leaves its status code in the cell.
 */
const TOKEN = 'gen-test-token';
const tmp = tempDir('rr-gentest-');
const children: ChildProcess[] = [];
let dataSvc: Awaited<ReturnType<typeof startDataService>>;
let attackSvc: Awaited<ReturnType<typeof startAttackService>>;
let client: attack.AttackServiceClient;
let byName = '';
let brokenDescribe = '';

function spawnGenerator(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [join(repoRoot, 'test/fixtures/external-generator/server.mjs'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /^LISTENING (\d+)$/.exec(l);
      if (m) resolve(`127.0.0.1:${m[1]}`);
    });
    child.once('exit', (code) => reject(new Error(`generator process exited with ${code}`)));
  });
}

const test = (name: string, address = byName, timeoutSeconds = 0) =>
  call(client, client.testGenerator, { address, token: TOKEN, name, whiteBox: false, datasetId: '', timeoutSeconds }, { deadlineMs: 60_000 });

beforeAll(async () => {
  dataSvc = await startDataService({ home: tmp.dir, roots: [tmp.dir] });
  attackSvc = await startAttackService({ home: tmp.dir, dataAddress: dataSvc.address, token: TOKEN });
  client = createClient(attack.AttackServiceClient, attackSvc.address);
  [byName, brokenDescribe] = await Promise.all([spawnGenerator(['--mode', 'by-name']), spawnGenerator(['--mode', 'good', '--describe', 'broken'])]);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  client?.close();
  await attackSvc?.shutdown();
  await dataSvc?.shutdown();
  tmp.cleanup();
});

describe('generators test', () => {
  it('reports exactly the rule each misbehaviour breaks, and nothing for a good generator', async () => {
    const expected: Record<string, string[]> = {
      good: [],
      'out-of-range': ['items-range'],
      'items-dup': ['items-unique'],
      'name-dup': ['name'],
      'too-long': ['length'],
      'no-target': ['has-target'],
      'missing-target': ['targets-covered'],
      count: ['count'],
      'too-many': ['count'],
      'no-done': ['stream-done'],
      'after-done': ['stream-done'],
      'empty-message': ['stream-message'],
      'done-count': ['done-count'],
      error: ['answers'],
    };
    const got: Record<string, string[]> = {};
    for (const mode of Object.keys(expected)) got[mode] = (await test(mode)).violations.map((v) => v.rule);
    expect(got).toEqual(expected);
    const ok = await test('good');
    expect(ok.numProfiles).toBe(15); // 5% of the 300-user test dataset
    expect(ok.rulesChecked).toHaveLength(14);
    const oob = (await test('out-of-range')).violations[0]!;
    expect(oob.message).toBe('profiles[1] (ext_1): item id 205 out of range [0, 200)');
    expect(oob.description).toBe('every item id is an integer in [0, num_items)');
    expect((await test('error')).violations[0]!.message).toContain('this generator always fails');
    // a runaway stream is cut off, not buffered
    expect((await test('too-many')).violations[0]!.message).toMatch(/expected 15 profiles, got more \(stopped reading at 20\)/);
  });

  it('the deadline and the Describe answer are rules too', async () => {
    const slow = await test('slow', byName, 1.5);
    expect(slow.violations.map((v) => `${v.rule}: ${v.message}`)).toEqual(['deadline: the stream did not end within its 1.5 s deadline']);
    const d = await test('', brokenDescribe);
    expect(d.violations.map((v) => v.rule)).toEqual(['describe-name', 'describe-params']);
    expect(d.violations[1]!.message).toBe('default_params.gain is NaN');
    // registering it is refused for the same reason, naming the generator's rule
    await expect(call(client, client.registerGenerator, { address: brokenDescribe, token: TOKEN, name: '', whiteBox: false })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining(`generator at ${brokenDescribe} broke rule describe-name`),
    });
    await expect(test('good', byName).then(() => call(client, client.testGenerator, { address: byName, token: 'wrong', name: 'good', whiteBox: false, datasetId: '', timeoutSeconds: 0 }))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  it('the CLI prints one line per broken rule and exits 1; a generator that keeps every rule exits 0', async () => {
    const env = { ROBUSTREC_ATTACK_TOKEN: TOKEN };
    const bad = spawnTs('services/orchestrator/src/main.ts', ['generators', 'test', 'broken', brokenDescribe, '--attack', attackSvc.address], env);
    expect(await exited(bad)).toBe(1);
    const lines = bad.output().trim().split('\n');
    expect(lines.filter((l) => l.startsWith('BROKEN '))).toEqual([
      'BROKEN describe-name: invalid name "has spaces!"  [rule: Describe returns a generator name: 1-64 characters of [A-Za-z0-9_.-], starting with a letter or digit]',
      "BROKEN describe-params: default_params.gain is NaN  [rule: Describe's default_params are finite numbers]",
    ]);
    expect(lines.at(-1)).toBe('broken broke 2 of 14 rules');
    // the token from a file this time
    const tokenFile = join(tmp.dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const good = spawnTs('services/orchestrator/src/main.ts', ['generators', 'test', 'good', byName, '--attack', attackSvc.address, '--token-file', tokenFile]);
    expect(await exited(good)).toBe(0);
    expect(good.output()).toMatch(/good kept all 14 rules/);
  }, 120_000);

  it('a grid cell whose generator breaks a rule fails with FAILED_PRECONDITION, kept in the cell record', async () => {
    await call(client, client.registerGenerator, { address: byName, token: TOKEN, name: 'out-of-range', whiteBox: false });
    const spec = parseSpec(smallGridSpec('broken-gen', { attacks: [{ name: 'Broken', generator: 'out-of-range', budget: 0.02 }], models: [MF] }));
    const store = new ExperimentStore(join(tmp.dir, 'orchestrator', 'experiments.db'));
    try {
      // the cell fails while poisoning, before any training: no trainer is contacted
      const orch = new Orchestrator({ data: dataSvc.address, evaluator: '127.0.0.1:1', trainers: ['127.0.0.1:1'], attackers: [attackSvc.address] }, store);
      const [cell] = await orch.run(spec);
      expect(cell).toMatchObject({ state: 'failed', errorCode: 'FAILED_PRECONDITION' });
      expect(cell!.error).toContain(`generator out-of-range at ${byName} broke rule items-range`);
      expect(store.get('broken-gen', cell!.key)!.errorCode).toBe('FAILED_PRECONDITION');
    } finally {
      store.close();
    }
  });
});
