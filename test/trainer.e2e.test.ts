import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeCheckpoint, encodeCheckpoint } from '@robustrec/models';
import { data, trainer } from '@robustrec/contracts';
import { call, checkHealth, collectUntil, createClient, downloadModel, listServices } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { startEvaluatorService } from '@robustrec/evaluator-service';
import { exited, freePort, spawnTs, tempDir, waitForOutput } from './helpers';

const S = trainer.JobState;

function config(over: Partial<trainer.TrainConfig> = {}): trainer.TrainConfig {
  return {
    backbone: { name: 'mf', params: {}, options: {} },
    defense: { name: 'pamacf', params: { rho: 0.3, warmup_epochs: 2 }, options: {} },
    epochs: 6,
    batchSize: 256,
    dim: 16,
    lr: 0.01,
    weightDecay: undefined,
    l2: undefined,
    optimizer: trainer.Optimizer.OPTIMIZER_UNSPECIFIED,
    seed: 7,
    initStd: undefined,
    ...over,
  };
}

/**
 * TrainerService end to end: a real data service and model registry in this process, the
 * trainer as a separate process that is killed mid-job (SIGKILL) and restarted; the
 * resumed job must produce exactly the parameters of an uninterrupted run.
 */
describe('TrainerService', () => {
  const tmp = tempDir();
  let dataSrv: Awaited<ReturnType<typeof startDataService>>;
  let evalSrv: Awaited<ReturnType<typeof startEvaluatorService>>;
  let datasetId = '';
  let trainerAddress = '';
  let child: ReturnType<typeof spawnTs> | undefined;

  const startTrainer = async (): Promise<void> => {
    child = spawnTs('services/trainer/src/main.ts', ['--address', trainerAddress, '--data', dataSrv.address, '--registry', evalSrv.address, '--home', tmp.dir]);
    await waitForOutput(child, (o) => o.includes('listening'));
  };

  beforeAll(async () => {
    dataSrv = await startDataService({ home: tmp.dir });
    evalSrv = await startEvaluatorService({ home: tmp.dir, dataAddress: dataSrv.address });
    const dc = createClient(data.DataServiceClient, dataSrv.address);
    const res = await call(dc, dc.importDataset, {
      name: 'syn',
      synthetic: { numUsers: 400, numItems: 300, meanInteractions: 20, popularityExponent: 0, clusters: 0, seed: 11 },
    });
    datasetId = res.dataset!.id;
    dc.close();
    trainerAddress = `127.0.0.1:${await freePort()}`;
    await startTrainer();
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await evalSrv?.shutdown();
    await dataSrv?.shutdown();
    tmp.cleanup();
  });

  const client = () => createClient(trainer.TrainerServiceClient, trainerAddress);

  async function watchUntil(id: string, stop: (ev: trainer.WatchJobResponse) => boolean): Promise<trainer.WatchJobResponse[]> {
    const c = client();
    try {
      return await collectUntil(c.watchJob({ id }), stop);
    } finally {
      c.close();
    }
  }

  it('lists the backbones, defenses and training options it accepts, with defaults and bounds', async () => {
    const c = client();
    try {
      const res = await call(c, c.listComponents, {});
      expect(res.backbones.map((b) => b.name)).toEqual(['mf', 'lightgcn', 'neumf']);
      const pamacf = res.defenses.find((d) => d.name === 'pamacf')!;
      expect(pamacf.params.find((p) => p.name === 'rho')).toMatchObject({ defaultValue: 0.3 });
      expect(pamacf.options.find((o) => o.name === 'magnitude')!.values).toEqual(expect.arrayContaining(['published', 'paper']));
      const train = res.trainOptions!;
      expect(train.params.find((p) => p.name === 'batchSize')).toMatchObject({ defaultValue: 2048, min: 1, integer: true });
      expect(train.options[0]).toMatchObject({ name: 'optimizer', defaultValue: 'adamw' });
    } finally {
      c.close();
    }
  });

  it('serves health and reflection', async () => {
    expect(await checkHealth(trainerAddress, 'robustrec.v1.TrainerService')).toBe('SERVING');
    expect(await listServices(trainerAddress)).toContain('robustrec.v1.TrainerService');
  });

  it('rejects bad hyper-parameters naming the field, and unknown datasets', async () => {
    const c = client();
    await expect(call(c, c.startJob, { datasetId, config: config({ batchSize: 2_000_000 }), options: undefined, name: '', idempotencyKey: '' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/config\.batch_size/) });
    await expect(call(c, c.startJob, { datasetId, config: config({ defense: { name: 'apr', params: { eps: -0.3 }, options: {} } }), options: undefined, name: '', idempotencyKey: '' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/eps/),
    });
    await expect(call(c, c.startJob, { datasetId, config: config({ backbone: { name: 'nope', params: {}, options: {} } }), options: undefined, name: '', idempotencyKey: '' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/backbone/),
    });
    await expect(call(c, c.startJob, { datasetId, config: config({ lr: Number.NaN }), options: undefined, name: '', idempotencyKey: '' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/lr/) });
    await expect(call(c, c.startJob, { datasetId: 'missing', config: config(), options: undefined, name: '', idempotencyKey: '' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    c.close();
  });

  it('resumes a killed job from its checkpoint with identical final parameters', async () => {
    let c = client();
    const { job } = await call(c, c.startJob, { datasetId, config: config(), options: undefined, name: 'resumed', idempotencyKey: 'resume-test' });
    c.close();
    // Kill the trainer process hard once two epochs are checkpointed.
    await watchUntil(job!.id, (ev) => (ev.progress?.epoch ?? 0) >= 2);
    child!.kill('SIGKILL');
    await exited(child!);
    await startTrainer();
    const events = await watchUntil(job!.id, (ev) => ev.job!.state === S.JOB_STATE_SUCCEEDED || ev.job!.state === S.JOB_STATE_FAILED);
    const resumed = events.at(-1)!.job!;
    expect(resumed.state).toBe(S.JOB_STATE_SUCCEEDED);
    expect(resumed.epoch).toBe(6);
    // The same idempotency key returns the same job.
    c = client();
    expect((await call(c, c.startJob, { datasetId, config: config(), options: undefined, name: 'resumed', idempotencyKey: 'resume-test' })).job!.id).toBe(job!.id);
    // An uninterrupted run of the same seed.
    const { job: ref } = await call(c, c.startJob, { datasetId, config: config(), options: undefined, name: 'reference', idempotencyKey: '' });
    c.close();
    const refEvents = await watchUntil(ref!.id, (ev) => ev.job!.state === S.JOB_STATE_SUCCEEDED || ev.job!.state === S.JOB_STATE_FAILED);
    const refJob = refEvents.at(-1)!.job!;
    expect(refJob.state).toBe(S.JOB_STATE_SUCCEEDED);
    // Epoch events carry losses and an ETA.
    const epochEvents = refEvents.filter((e) => e.progress);
    expect(epochEvents.map((e) => e.progress!.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(epochEvents[0]!.progress!.metrics.find((m) => m.name === 'loss')!.value).toBeGreaterThan(0);
    const a = await downloadModel(evalSrv.address, { id: resumed.modelId, name: '', version: 0 });
    const b = await downloadModel(evalSrv.address, { id: refJob.modelId, name: '', version: 0 });
    expect(Object.keys(a.tensors).sort()).toEqual(Object.keys(b.tensors).sort());
    for (const name of Object.keys(a.tensors)) expect(Buffer.compare(Buffer.from(a.tensors[name]!.buffer), Buffer.from(b.tensors[name]!.buffer))).toBe(0);
    expect(a.header.provenance?.seed).toBe(7);
    // provenance names what ran the training, as the training thread saw it (not the service's tfjs backend)
    for (const versions of [a.header.provenance?.versions, refJob.provenance?.versions])
      expect(versions).toMatchObject({
        'training-kernels': 'wasm-simd (step.wat)',
        'optimizer-update': 'adamw: wasm-simd (step.wat adam)',
        'training-engine': expect.stringMatching(/^robustrec fused kernels, [12] thread\(s\)$/),
        tfjs: expect.stringMatching(/^not used by training/),
      });
  });

  // The validated hyper-parameter ranges leave no way to make a job diverge from the outside,
  // so the divergence is planted: the job's checkpoint is overwritten with NaN parameters
  // while its trainer is down, and the resumed job must stop FAILED, not register garbage.
  it('stops a job whose loss becomes non-finite with FAILED and registers no model', async () => {
    let c = client();
    const { job } = await call(c, c.startJob, { datasetId, config: config({ epochs: 200 }), options: undefined, name: 'diverges', idempotencyKey: '' });
    c.close();
    await watchUntil(job!.id, (ev) => (ev.progress?.epoch ?? 0) >= 1);
    child!.kill('SIGKILL');
    await exited(child!);
    const path = join(tmp.dir, 'trainer', 'checkpoints', `${job!.id}.ckpt`);
    const ckpt = decodeCheckpoint(readFileSync(path));
    for (const t of Object.values(ckpt.tensors)) t.fill(Number.NaN);
    writeFileSync(path, encodeCheckpoint(ckpt));
    await startTrainer();
    const events = await watchUntil(job!.id, (ev) => ev.job!.state === S.JOB_STATE_SUCCEEDED || ev.job!.state === S.JOB_STATE_FAILED);
    const end = events.at(-1)!.job!;
    expect(end.state).toBe(S.JOB_STATE_FAILED);
    expect(end.error).toMatch(/non-finite/);
    expect(end.modelId).toBe('');
    // The service keeps serving: the failed job is listed as such.
    c = client();
    const failed = await call(c, c.listJobs, { state: S.JOB_STATE_FAILED });
    c.close();
    expect(failed.jobs.map((j) => j.id)).toContain(job!.id);
  });

  it('cancels a running job and lists it', async () => {
    const c = client();
    const { job: long } = await call(c, c.startJob, { datasetId, config: config({ epochs: 200 }), options: undefined, name: 'cancel-me', idempotencyKey: '' });
    await watchUntil(long!.id, (e) => (e.progress?.epoch ?? 0) >= 1);
    await call(c, c.cancelJob, { id: long!.id });
    const end = await watchUntil(long!.id, (e) => e.job!.state === S.JOB_STATE_CANCELLED);
    expect(end.at(-1)!.job!.state).toBe(S.JOB_STATE_CANCELLED);
    await expect(call(c, c.cancelJob, { id: long!.id })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    const listed = await call(c, c.listJobs, { state: S.JOB_STATE_CANCELLED });
    expect(listed.jobs.map((j) => j.id)).toContain(long!.id);
    c.close();
  });
});
