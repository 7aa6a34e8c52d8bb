import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { attack, data, experiment, trainer } from '@robustrec/contracts';
import { call, checkHealth, configureSecurity, createClient, type SecurityConfig } from '@robustrec/grpc';
import { makeDevCerts, writeDevCerts } from './certs';
import { exited, freePort, queryDb, ServiceProcess, spawnTs, tempDir, waitForServing } from './helpers';
import { CLEAN, MF, PAMACF, RANDOM, smallGridSpec } from './specs';

const TOKEN = 'replica-test-token-7f3a';
const BANDWAGON = { name: 'Bandwagon', generator: 'bandwagon', budget: 0.02 };
// 3 attacks x 2 models x 2 seeds = 12 cells
const SPEC = smallGridSpec('replicas', {
  synthetic: { numUsers: 400, numItems: 300, meanInteractions: 15 },
  attacks: [CLEAN, RANDOM, BANDWAGON],
  models: [MF, PAMACF],
  train: { epochs: 3 },
  ks: [20],
}).replace('seeds:\n  - 1', 'seeds:\n  - 1\n  - 2');

/**
 * The platform as real processes on loopback with mutual TLS and a bearer token: the
 * orchestrator service, data, evaluator, three trainers and two attack services. The CLI
 * submits a 12-cell grid to the orchestrator and watches it; one trainer is SIGKILLed while it
 * trains a cell and never comes back. The grid completes: every cell once in the store and
 * done, the killed trainer's cell finished on another trainer, one model per cell in the
 * registry. Then clients without a token, with a wrong token, without TLS and without a client
 * certificate get the right status and change nothing.
 */
describe('a scaled platform with TLS and tokens', () => {
  const tmp = tempDir('rr-replicas-');
  const home = tmp.dir;
  const procs: ServiceProcess[] = [];
  let sec: SecurityConfig;
  let env: Record<string, string>;
  let dataSvc: ServiceProcess, evalSvc: ServiceProcess, orch: ServiceProcess;
  let trainers: ServiceProcess[];
  let healthPort: number;

  beforeAll(async () => {
    const certs = await makeDevCerts();
    const files = writeDevCerts(join(home, 'certs'), certs);
    env = {
      ROBUSTREC_TLS_CERT: files.cert,
      ROBUSTREC_TLS_KEY: files.key,
      ROBUSTREC_TLS_CA: files.ca,
      ROBUSTREC_TLS_CLIENT_AUTH: 'require',
      ROBUSTREC_TOKEN: TOKEN,
    };
    // this process is a client like the CLI: the client certificate, the CA, the token
    sec = { tls: { ca: Buffer.from(certs.ca), cert: Buffer.from(certs.clientCert), key: Buffer.from(certs.clientKey) }, token: TOKEN };
    configureSecurity(sec);
    healthPort = await freePort();
    dataSvc = await ServiceProcess.create('data', ['--home', join(home, 'data')], { ...env, ROBUSTREC_HEALTH_ADDRESS: `127.0.0.1:${healthPort}` });
    evalSvc = await ServiceProcess.create('evaluator', ['--home', join(home, 'evaluator'), '--data', dataSvc.address], env);
    trainers = [];
    for (let i = 0; i < 3; i++)
      trainers.push(
        await ServiceProcess.create(
          'trainer',
          ['--home', join(home, `trainer-${i}`), '--data', dataSvc.address, '--registry', evalSvc.address],
          // the victim's first job freezes after reporting its first epoch: the kill always lands
          // mid-job (small epochs take milliseconds, so a timed kill could find the job done)
          i === 1 ? { ...env, ROBUSTREC_FAILPOINTS: 'trainer.epoch-reported' } : env,
        ),
      );
    const attackers = [];
    for (let i = 0; i < 2; i++) attackers.push(await ServiceProcess.create('attack', ['--home', join(home, `attack-${i}`), '--data', dataSvc.address], env));
    orch = await ServiceProcess.create(
      'orchestrator',
      ['--home', join(home, 'orch'), '--data', dataSvc.address, '--evaluator', evalSvc.address, '--trainer', trainers.map((t) => t.address).join(','), '--attack', attackers.map((a) => a.address).join(','), '--lost-after-ms', '2000'],
      env,
    );
    procs.push(orch, ...trainers, ...attackers, evalSvc, dataSvc);
    await dataSvc.start();
    await evalSvc.start();
    await Promise.all([...trainers, ...attackers, orch].map((p) => p.start()));
  }, 240_000);

  afterAll(async () => {
    configureSecurity(undefined);
    for (const p of procs) await p.stop('SIGKILL');
    tmp.cleanup();
  });

  it('completes a 12-cell grid with a trainer SIGKILLed mid-grid, each cell once, the lost cell finished elsewhere', async () => {
    const specPath = join(home, 'replicas.yaml');
    writeFileSync(specPath, SPEC);
    const t0 = Date.now();
    const cli = spawnTs('services/orchestrator/src/main.ts', ['run', specPath, '--orchestrator', orch.address, '--home', join(home, 'cli')], {
      ROBUSTREC_TLS_CA: env.ROBUSTREC_TLS_CA!,
      ROBUSTREC_TLS_CERT: env.ROBUSTREC_TLS_CERT!,
      ROBUSTREC_TLS_KEY: env.ROBUSTREC_TLS_KEY!,
      ROBUSTREC_TOKEN: TOKEN,
    });
    const ec = createClient(experiment.ExperimentServiceClient, orch.address);
    // mid-grid: some cells done, and the second trainer is training a cell (its job has started)
    const victim = trainers[1]!;
    let killedCell = '';
    let killedAt = 0;
    while (!killedCell) {
      if (cli.exitCode !== null) throw new Error(`the CLI ended before the kill:\n${cli.output()}`);
      const [exp] = (await call(ec, ec.listExperiments, { specName: 'replicas' })).experiments;
      if (exp) {
        const { cells } = await call(ec, ec.getExperiment, { id: exp.id });
        const onVictim = cells.find((c) => c.state === experiment.CellState.CELL_STATE_RUNNING && c.replica === victim.address && c.jobId);
        if (onVictim && exp.cellsDone >= 2 && victim.child!.output().includes('failpoint trainer.epoch-reported reached')) {
          const tc = createClient(trainer.TrainerServiceClient, victim.address);
          const job = (await call(tc, tc.getJob, { id: onVictim.jobId }).catch(() => undefined))?.job;
          tc.close();
          // frozen after its first epoch: it cannot have finished
          expect(job?.state).toBe(trainer.JobState.JOB_STATE_RUNNING);
          await victim.stop('SIGKILL');
          killedCell = onVictim.key;
          killedAt = Date.now();
        }
      }
      if (!killedCell) await new Promise((r) => setTimeout(r, 100));
    }

    expect(await exited(cli), cli.output()).toBe(0);
    const wall = (Date.now() - t0) / 1000;
    const out = cli.output();
    expect(out).toMatch(/replicas: succeeded, 12 cells done, 0 failed/);
    expect(out).toContain('report.md');

    const [exp] = (await call(ec, ec.listExperiments, { specName: 'replicas' })).experiments;
    const { cells } = await call(ec, ec.getExperiment, { id: exp!.id });
    ec.close();
    expect(exp!.state).toBe(experiment.ExperimentState.EXPERIMENT_STATE_SUCCEEDED);
    // every cell exactly once in the store, each done
    const stored = queryDb<{ key: string; state: string; replica: string; job_id: string; model_id: string; lost_replicas_json: string }>(
      join(home, 'orch', 'orchestrator', 'experiments.db'),
      "SELECT key, state, replica, job_id, model_id, lost_replicas_json FROM cells WHERE spec_name = 'replicas'",
    );
    expect(stored).toHaveLength(12);
    expect(new Set(stored.map((c) => c.key)).size).toBe(12);
    for (const c of stored) expect(c.state).toBe('done');
    // the killed trainer's cell finished on another trainer, after losing that one
    const moved = stored.find((c) => c.key === killedCell)!;
    expect(JSON.parse(moved.lost_replicas_json)).toEqual([victim.address]);
    expect(moved.replica).not.toBe(victim.address);
    expect(cells.find((c) => c.key === killedCell)!.lostReplicas).toEqual([victim.address]);
    // no cell counts as finished on the dead trainer after its death: each done cell's job is a
    // SUCCEEDED job in the table of the trainer it names
    const survivors = trainers.filter((t) => t !== victim);
    for (const c of stored) {
      const t = trainers.find((x) => x.address === c.replica)!;
      const db = join(home, `trainer-${trainers.indexOf(t)}`, 'trainer', 'trainer.db');
      const [job] = queryDb<{ state: number; model_id: string }>(db, 'SELECT state, model_id FROM jobs WHERE id = ?', c.job_id);
      expect(job, `${c.key} job ${c.job_id} on ${c.replica}`).toMatchObject({ state: trainer.JobState.JOB_STATE_SUCCEEDED, model_id: c.model_id });
    }
    // one model per cell in the registry, each a cell's
    const models = queryDb<{ id: string }>(join(home, 'evaluator', 'evaluator', 'registry.db'), 'SELECT id FROM models');
    expect(models.map((m) => m.id).sort()).toEqual(stored.map((c) => c.model_id).sort());
    // the cells were spread: every surviving trainer ran some
    const perReplica = Object.fromEntries(trainers.map((t) => [t.address, stored.filter((c) => c.replica === t.address).length]));
    for (const t of survivors) expect(perReplica[t.address]).toBeGreaterThan(0);
    console.log(
      `[replicas] 12 cells in ${wall.toFixed(1)} s (CLI submit to end); trainer ${victim.address} SIGKILLed at ${((killedAt - t0) / 1000).toFixed(1)} s; ` +
        `cells per trainer ${JSON.stringify(perReplica)}; the lost cell finished on ${moved.replica}`,
    );
  }, 400_000);

  it('refuses clients without a token, with a wrong token, without TLS or without a client certificate, and changes nothing', async () => {
    const code = (p: Promise<unknown>): Promise<number> => p.then(() => status.OK, (e: ServiceError & { code: number }) => (typeof e.code === 'number' ? e.code : -1));
    type Ctor = new (a: string, c: ReturnType<typeof credentials.createInsecure>, o?: object) => Client;
    const raw = (C: Ctor, address: string, s: SecurityConfig | 'plaintext'): Record<string, Function> =>
      (s === 'plaintext' ? new C(address, credentials.createInsecure()) : createClient(C, address, { security: s })) as unknown as Record<string, Function>;
    const unary = <Req>(c: Record<string, Function>, method: string, req: Req): Promise<unknown> =>
      new Promise((resolve, reject) => c[method]!.call(c, req, new Metadata(), { deadline: Date.now() + 10_000 }, (e: unknown, r: unknown) => (e ? reject(e) : resolve(r))));

    const good = createClient(data.DataServiceClient, dataSvc.address);
    const before = (await call(good, good.listDatasets, { kind: 0 })).datasets.map((d) => d.id).sort();
    const noToken: SecurityConfig = { ...sec, token: undefined };
    const wrongToken: SecurityConfig = { ...sec, token: 'not-the-token' };
    const noClientCert: SecurityConfig = { tls: { ca: sec.tls!.ca }, token: TOKEN };
    const importReq: data.ImportDatasetRequest = { name: 'intruder', synthetic: { numUsers: 50, numItems: 40, meanInteractions: 5, popularityExponent: 0, clusters: 0, seed: 1 } };

    const dc = (s: SecurityConfig | 'plaintext') => raw(data.DataServiceClient, dataSvc.address, s);
    expect(await code(unary(dc(noToken), 'importDataset', importReq))).toBe(status.UNAUTHENTICATED);
    expect(await code(unary(dc(wrongToken), 'importDataset', importReq))).toBe(status.PERMISSION_DENIED);
    expect(await code(unary(dc('plaintext'), 'importDataset', importReq))).toBe(status.UNAVAILABLE);
    expect(await code(unary(dc(noClientCert), 'importDataset', importReq))).toBe(status.UNAVAILABLE);
    // reads are open to TLS clients without a token unless ROBUSTREC_AUTH_READS=1
    expect(await code(unary(dc(noToken), 'listDatasets', { kind: 0 }))).toBe(status.OK);
    // ... but a dataset's own reads without a plug-in's data token are platform reads: they need the token
    expect(await code(unary(dc(noToken), 'getDataset', { id: before[0] }))).toBe(status.UNAUTHENTICATED);
    expect(await code(unary(dc(wrongToken), 'getDataset', { id: before[0] }))).toBe(status.PERMISSION_DENIED);
    expect(await code(unary(dc(sec), 'getDataset', { id: before[0] }))).toBe(status.OK);

    const tc = (s: SecurityConfig) => raw(trainer.TrainerServiceClient, trainers[0]!.address, s);
    const startReq = { datasetId: before[0], config: undefined, options: undefined, name: 'intruder', idempotencyKey: '' };
    expect(await code(unary(tc(noToken), 'startJob', startReq))).toBe(status.UNAUTHENTICATED);
    expect(await code(unary(tc(wrongToken), 'startJob', startReq))).toBe(status.PERMISSION_DENIED);
    const ac = (s: SecurityConfig) => raw(attack.AttackServiceClient, procs.find((p) => p.kind === 'attack')!.address, s);
    expect(await code(unary(ac(noToken), 'registerGenerator', { name: 'evil', address: '127.0.0.1:1', token: '' }))).toBe(status.UNAUTHENTICATED);
    const oc = (s: SecurityConfig) => raw(experiment.ExperimentServiceClient, orch.address, s);
    expect(await code(unary(oc(noToken), 'submitExperiment', { specYaml: SPEC.replace('name: replicas', 'name: intruder'), seeds: [] }))).toBe(status.UNAUTHENTICATED);
    expect(await code(unary(oc(wrongToken), 'submitExperiment', { specYaml: SPEC.replace('name: replicas', 'name: intruder'), seeds: [] }))).toBe(status.PERMISSION_DENIED);

    // nothing changed: the same datasets, no job, no experiment of the intruders
    expect((await call(good, good.listDatasets, { kind: 0 })).datasets.map((d) => d.id).sort()).toEqual(before);
    good.close();
    for (const [i, t] of trainers.entries()) {
      if (t.child?.exitCode !== null || t.child?.signalCode) continue;
      expect(queryDb(join(home, `trainer-${i}`, 'trainer', 'trainer.db'), "SELECT id FROM jobs WHERE name = 'intruder'")).toEqual([]);
    }
    expect(queryDb(join(home, 'orch', 'orchestrator', 'experiments.db'), "SELECT id FROM experiments WHERE spec_name = 'intruder'")).toEqual([]);

    // the plaintext health port answers probes (Kubernetes' gRPC probes speak no TLS) and only health
    expect(await checkHealth(`127.0.0.1:${healthPort}`, 'robustrec.v1.DataService', {})).toBe('SERVING');
    const onHealthPort = raw(data.DataServiceClient, `127.0.0.1:${healthPort}`, 'plaintext');
    expect(await code(unary(onHealthPort, 'listDatasets', { kind: 0 }))).toBe(status.UNIMPLEMENTED);
    await waitForServing(dataSvc.address, 'robustrec.v1.DataService', 5_000);
  }, 120_000);
});
