import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { attack, common, data, evaluator, trainer } from '@robustrec/contracts';
import { Rng } from '@robustrec/core';
import { call, checkHealth, createClient, iterate, registerModel, watchHealth } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { startTrainerService } from '@robustrec/trainer-service';
import { filesUnder, integrityCheck, jobAtEnd, queryDb, ServiceProcess, smallTrainConfig, tempDir, waitForOutput, mfModelHeader } from './helpers';

const S = trainer.JobState;

/**
 * The attack service, the evaluator and the trainer each as their own OS process, killed
 * (SIGKILL) mid-work and started again on the same home and port: every SQLite store passes
 * integrity_check, nothing half-written is visible, and the work in flight either resumes or
 * ends with a clear status its caller sees. The data service they depend on runs in this
 * process. Fail points (ROBUSTREC_FAILPOINTS) freeze a process in the exact window a kill
 * has to hit; the rest is killed wherever it happens to be.
 */
describe('services killed mid-work', () => {
  const tmp = tempDir('rr-faults-svc-');
  const home = tmp.dir;
  let dataSrv: Awaited<ReturnType<typeof startDataService>>;
  let dc: data.DataServiceClient;
  let dataset: data.Dataset;

  beforeAll(async () => {
    dataSrv = await startDataService({ home, workers: 1 });
    dc = createClient(data.DataServiceClient, dataSrv.address);
    dataset = (await call(dc, dc.importDataset, { name: 'syn', synthetic: { numUsers: 1500, numItems: 800, meanInteractions: 20, popularityExponent: 0, clusters: 0, seed: 4 } })).dataset!;
  });
  afterAll(async () => {
    dc?.close();
    await dataSrv?.shutdown();
    tmp.cleanup();
  });

  const stored = async (): Promise<{ profileSets: number; datasets: number }> => ({
    profileSets: (await call(dc, dc.listProfileSets, { datasetId: '' })).profileSets.length,
    datasets: (await call(dc, dc.listDatasets, { kind: 0 })).datasets.length,
  });

  it('attack service killed during a DP generation: the caller gets UNAVAILABLE, nothing is stored; after a restart it generates', async () => {
    const svc = await ServiceProcess.create('attack', ['--data', dataSrv.address], { ROBUSTREC_HOME: home });
    try {
      await svc.start();
      const before = await stored();
      const config = (epochs: number): attack.AttackConfig => ({
        generator: { name: 'dp', params: { epochs, sample_users: 200, eval_users: 100 }, options: {} },
        targetItems: [],
        numTargets: 2,
        targetSelection: 0,
        budgetFraction: 0.02,
        numFakeUsers: 0,
        profileLength: 0,
        seed: 3,
      });
      let ac = createClient(attack.AttackServiceClient, svc.address);
      const phases: string[] = [];
      const generation = (async () => {
        for await (const m of iterate(ac.generate({ datasetId: dataset.id, config: config(5000), derivePoisoned: true, timeoutSeconds: 0 }))) if (m.progress) phases.push(m.progress.phase);
      })();
      generation.catch(() => undefined);
      // mid-work: the surrogate of DP is training on the attack service's worker thread
      await expect.poll(() => phases.includes('surrogate'), { timeout: 60_000, interval: 50 }).toBe(true);
      await svc.stop('SIGKILL');
      await expect(generation).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      expect(await stored()).toEqual(before);
      expect(integrityCheck(join(home, 'attack', 'attack.db'))).toBe('ok');

      await svc.start();
      ac.close();
      ac = createClient(attack.AttackServiceClient, svc.address);
      let result: attack.GenerateResult | undefined;
      for await (const m of iterate(ac.generate({ datasetId: dataset.id, config: config(3), derivePoisoned: true, timeoutSeconds: 0 }))) result = m.result ?? result;
      ac.close();
      expect(result!.poisonedDataset!.parentId).toBe(dataset.id);
      expect(await stored()).toEqual({ profileSets: before.profileSets + 1, datasets: before.datasets + 1 });
      expect(integrityCheck(join(home, 'attack', 'attack.db'))).toBe('ok');
    } finally {
      await svc.stop('SIGKILL');
    }
  });

  describe('evaluator', () => {
    let svc: ServiceProcess;
    const registryDb = join(home, 'evaluator', 'registry.db');
    const modelsDir = join(home, 'evaluator', 'models');
    const dim = 16;
    const table = (n: number, seed: number): Float32Array => {
      const r = new Rng(seed);
      return Float32Array.from({ length: n * dim }, () => 0.1 * r.normal());
    };
    const header = (name: string, jobId = ''): evaluator.Model => mfModelHeader({ name, jobId, datasetId: dataset.id, numUsers: dataset.numUsers, numItems: dataset.numItems, dim });
    const models = (): Array<{ id: string; job: string | null }> => queryDb(registryDb, "SELECT id, json_extract(header_json, '$.jobId') AS job FROM models");

    // Each restart arms the fail point the next test needs (a process start costs seconds).
    beforeAll(async () => {
      svc = await ServiceProcess.create('evaluator', ['--data', dataSrv.address, '--home', home]);
      await svc.start();
    });
    afterAll(async () => {
      await svc?.stop('SIGKILL');
    });

    it('killed during a model upload: the uploader gets UNAVAILABLE, no model or file is left', async () => {
      // its four services report on their own names
      for (const name of ['robustrec.v1.EvaluatorService', 'robustrec.v1.ModelRegistryService', 'robustrec.v1.ScoringService', 'inference.GRPCInferenceService'])
        expect(await checkHealth(svc.address, name)).toBe('SERVING');
      const before = models();
      const rc = createClient(evaluator.ModelRegistryServiceClient, svc.address);
      const users = table(dataset.numUsers, 1);
      const upload = new Promise<evaluator.RegisterModelResponse>((resolve, reject) => {
        const stream = rc.registerModel((err, res) => (err ? reject(err) : resolve(res)));
        stream.write({ header: header('half-sent'), chunk: undefined });
        // the user table only, in small chunks; the item table never comes
        const b = Buffer.from(users.buffer);
        for (let off = 0; off < b.byteLength; off += 4096) stream.write({ header: undefined, chunk: { name: 'user_embedding', offset: off, data: b.subarray(off, off + 4096) } });
      });
      upload.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
      await svc.stop('SIGKILL');
      await expect(upload).rejects.toMatchObject({ code: 14 });
      rc.close();
      expect(integrityCheck(registryDb)).toBe('ok');
      await svc.start({ ROBUSTREC_FAILPOINTS: 'evaluator.model-written' });
      expect(models()).toEqual(before);
      expect(filesUnder(modelsDir)).toEqual(before.map((m) => `${m.id}.bin`).sort());
    });

    it('killed between writing a trained model and recording it: the trainer retries its upload, the job ends with one model', async () => {
      const trainerSrv = await startTrainerService({ home, dataAddress: dataSrv.address, registryAddress: svc.address, threads: 1 });
      try {
        const tc = createClient(trainer.TrainerServiceClient, trainerSrv.address);
        const config = smallTrainConfig({ epochs: 2, batchSize: 512, seed: 5 });
        const { job } = await call(tc, tc.startJob, { datasetId: dataset.id, config, options: undefined, name: 'upload-retried', idempotencyKey: '' });
        // the evaluator froze with the model's file written and its row not: kill it there
        await waitForOutput(svc.child!, (o) => o.includes('failpoint evaluator.model-written reached'), 60_000);
        const orphan = filesUnder(modelsDir).filter((f) => !models().some((m) => `${m.id}.bin` === f));
        expect(orphan).toHaveLength(1);
        await svc.stop('SIGKILL');
        expect(integrityCheck(registryDb)).toBe('ok');
        // while the registry is down the job waits (RUNNING), retrying its upload
        await new Promise((r) => setTimeout(r, 500));
        expect((await call(tc, tc.getJob, { id: job!.id })).job!.state).toBe(S.JOB_STATE_RUNNING);
        await svc.start({ ROBUSTREC_FAILPOINTS: 'evaluator.evaluated' });
        expect(filesUnder(modelsDir)).not.toContain(orphan[0]);
        const last = await jobAtEnd(tc, job!);
        tc.close();
        expect(last.state).toBe(S.JOB_STATE_SUCCEEDED);
        const mine = models().filter((m) => m.job === job!.id);
        expect(mine.map((m) => m.id)).toEqual([last.modelId]);
        expect(filesUnder(modelsDir)).toEqual(models().map((m) => `${m.id}.bin`).sort());
      } finally {
        await trainerSrv.shutdown();
      }
    });

    it('killed during an evaluation: the caller gets UNAVAILABLE, no evaluation row is left; after a restart it evaluates', async () => {
      const model = await registerModel(svc.address, header('to-evaluate'), { user_embedding: table(dataset.numUsers, 2), item_embedding: table(dataset.numItems, 3) });
      const ec = createClient(evaluator.EvaluatorServiceClient, svc.address);
      const req = { model: { id: model.id, name: '', version: 0 }, datasetId: dataset.id, split: common.Split.SPLIT_TEST, ks: [20], targetItems: [], maskValid: true };
      const evaluating = call(ec, ec.evaluate, req);
      evaluating.catch(() => undefined);
      // metrics computed, the row not written yet
      await waitForOutput(svc.child!, (o) => o.includes('failpoint evaluator.evaluated reached'), 60_000);
      await svc.stop('SIGKILL');
      await expect(evaluating).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      expect(integrityCheck(registryDb)).toBe('ok');
      expect(queryDb(registryDb, 'SELECT id FROM evaluations')).toEqual([]);
      await svc.start();
      ec.close();
      const ec2 = createClient(evaluator.EvaluatorServiceClient, svc.address);
      const { evaluation } = await call(ec2, ec2.evaluate, req);
      expect(evaluation!.metrics.find((m) => m.name === 'recall')!.value).toBeGreaterThanOrEqual(0);
      expect((await call(ec2, ec2.listEvaluations, { modelId: model.id, datasetId: '' })).evaluations.map((e) => e.id)).toEqual([evaluation!.id]);
      ec2.close();
    });

    // the evaluator of this block, running without fail points after the previous test
    it('trainer stopped with SIGTERM mid-job: health NOT_SERVING, its watcher is told the job resumes, exit 0; restarted, the job finishes', async () => {
      const trainerProc = await ServiceProcess.create('trainer', ['--data', dataSrv.address, '--registry', svc.address, '--home', join(home, 'sigterm')]);
      try {
        await trainerProc.start();
        const tc = createClient(trainer.TrainerServiceClient, trainerProc.address);
        const config = smallTrainConfig({ epochs: 20, seed: 6 });
        const { job } = await call(tc, tc.startJob, { datasetId: dataset.id, config, options: undefined, name: 'sigterm', idempotencyKey: '' });
        const seen: string[] = [];
        const health = watchHealth(trainerProc.address, 'robustrec.v1.TrainerService', (s) => seen.push(s));
        const events: trainer.WatchJobResponse[] = [];
        const watching = (async () => {
          for await (const ev of iterate(tc.watchJob({ id: job!.id }))) events.push(ev);
        })();
        watching.catch(() => undefined);
        await expect.poll(() => events.some((e) => (e.progress?.epoch ?? 0) >= 1), { timeout: 60_000, interval: 50 }).toBe(true);
        const exit = trainerProc.stop('SIGTERM');
        await expect(watching).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/resumes from its last checkpoint/) });
        expect(await health.ended).toMatchObject({ code: 14 });
        expect(seen).toEqual(['SERVING', 'NOT_SERVING']);
        expect(await exit).toEqual({ code: 0, signal: null });
        tc.close();
        const db = join(home, 'sigterm', 'trainer', 'trainer.db');
        expect(integrityCheck(db)).toBe('ok');
        expect(queryDb<{ state: number }>(db, 'SELECT state FROM jobs WHERE id = ?', job!.id)[0]!.state).toBe(S.JOB_STATE_RUNNING);

        await trainerProc.start();
        const tc2 = createClient(trainer.TrainerServiceClient, trainerProc.address);
        const last = await jobAtEnd(tc2, job!);
        tc2.close();
        expect(last).toMatchObject({ state: S.JOB_STATE_SUCCEEDED, epoch: 20 });
        expect(filesUnder(join(home, 'sigterm', 'trainer', 'checkpoints'))).toEqual([]);
      } finally {
        await trainerProc.stop('SIGKILL');
      }
    });
  });

});
