import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data, trainer } from '@robustrec/contracts';
import { call, collectUntil, createClient } from '@robustrec/grpc';
import { trainConfigToProto } from '@robustrec/models';
import { startDataService, type RunningDataService } from '@robustrec/data-service';
import { startEvaluatorService } from '@robustrec/evaluator-service';
import { startTrainerService } from '../src';
import { JobStore } from '../src/jobs';

const S = trainer.JobState;
const ended = (j: trainer.Job | undefined): boolean => !!j && [S.JOB_STATE_SUCCEEDED, S.JOB_STATE_FAILED, S.JOB_STATE_CANCELLED].includes(j.state);

/** A small MF job (dim 8) of `epochs` epochs. */
const config = (epochs: number): trainer.TrainConfig =>
  trainConfigToProto({ backbone: { name: 'mf' }, defense: { name: 'none' }, epochs, batchSize: 256, dim: 8, lr: 0.01, seed: 1 });

/**
 * GetJob's per-epoch history over loopback gRPC: a real data service and model registry, the
 * trainer in this process, restarted on the same home (its SQLite job store).
 */
describe('TrainerService job history', () => {
  const home = mkdtempSync(join(tmpdir(), 'rr-trainer-history-'));
  let dataSrv: RunningDataService;
  let evalSrv: Awaited<ReturnType<typeof startEvaluatorService>>;
  let trainerSrv: Awaited<ReturnType<typeof startTrainerService>> | undefined;
  let datasetId = '';

  const startTrainer = async (): Promise<trainer.TrainerServiceClient> => {
    trainerSrv = await startTrainerService({ home, dataAddress: dataSrv.address, registryAddress: evalSrv.address, threads: 1 });
    return createClient(trainer.TrainerServiceClient, trainerSrv.address);
  };

  /** WatchJob's events until `stop` holds or the stream ends. */
  const watch = (c: trainer.TrainerServiceClient, id: string, stop: (ev: trainer.WatchJobResponse) => boolean): Promise<trainer.WatchJobResponse[]> =>
    collectUntil(c.watchJob({ id }), stop);

  beforeAll(async () => {
    dataSrv = await startDataService({ home });
    evalSrv = await startEvaluatorService({ home, dataAddress: dataSrv.address });
    const dc = createClient(data.DataServiceClient, dataSrv.address);
    datasetId = (await call(dc, dc.importDataset, { name: 'syn', synthetic: { numUsers: 300, numItems: 200, meanInteractions: 15, popularityExponent: 0, clusters: 0, seed: 4 } })).dataset!.id;
    dc.close();
  });
  afterAll(async () => {
    await trainerSrv?.shutdown(1000);
    await evalSrv?.shutdown();
    await dataSrv?.shutdown();
    rmSync(home, { recursive: true, force: true });
  });

  it('returns every epoch as WatchJob streamed it, and still after a restart', async () => {
    let c = await startTrainer();
    const epochs = 3;
    const { job } = await call(c, c.startJob, { datasetId, config: config(epochs), name: 'history', idempotencyKey: '', options: undefined });
    const events = await watch(c, job!.id, (ev) => ended(ev.job));
    expect(events.at(-1)!.job!.state).toBe(S.JOB_STATE_SUCCEEDED);
    const streamed = events.filter((e) => e.progress).map((e) => e.progress!);
    expect(streamed.map((p) => p.epoch)).toEqual([1, 2, 3]);

    const got = await call(c, c.getJob, { id: job!.id });
    expect(got.history.map((p) => p.epoch)).toEqual([1, 2, 3]);
    expect(got.history.every((p) => p.epochs === epochs && p.etaSeconds === 0 && p.seconds > 0)).toBe(true);
    for (const p of got.history) {
      const loss = p.metrics.find((m) => m.name === 'loss');
      expect(loss && Number.isFinite(loss.value) && loss.value > 0).toBe(true);
    }
    // the same values the live stream carried (ETA aside)
    expect(got.history).toEqual(streamed.map((p) => ({ ...p, etaSeconds: 0 })));
    // the last epoch's metrics are the job's
    expect(got.history.at(-1)!.metrics).toEqual(got.job!.metrics);

    c.close();
    await trainerSrv!.shutdown(1000);
    c = await startTrainer();
    expect((await call(c, c.getJob, { id: job!.id })).history).toEqual(got.history);
    // a second trainer on the same directory is refused: it would resume this one's jobs
    await expect(startTrainerService({ home, dataAddress: dataSrv.address, registryAddress: evalSrv.address, threads: 1 })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining('already in use'),
    });
    // a job that does not exist has no history to give
    await expect(call(c, c.getJob, { id: 'job_missing' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    c.close();
  });

  it('keeps one entry per epoch when a job resumes from its checkpoint after a restart', async () => {
    await trainerSrv?.shutdown(1000);
    let c = await startTrainer();
    // enough epochs that the job is still running when the trainer stops
    const epochs = 150;
    const { job } = await call(c, c.startJob, { datasetId, config: config(epochs), name: 'resumed', idempotencyKey: '', options: undefined });
    await watch(c, job!.id, (ev) => (ev.progress?.epoch ?? 0) >= 2);
    c.close();
    // stopped mid-job: the job stays RUNNING with its checkpoint and resumes on the next start
    await trainerSrv!.shutdown(1000);
    // what the store holds while the trainer is down: the epochs done so far
    const down = new JobStore(join(home, 'trainer', 'trainer.db'));
    const stored = down.history(job!.id).map((p) => p.epoch);
    down.close();
    expect(stored.slice(0, 2)).toEqual([1, 2]);
    c = await startTrainer();
    const events = await watch(c, job!.id, (ev) => ended(ev.job));
    expect(events.at(-1)!.job!.state).toBe(S.JOB_STATE_SUCCEEDED);
    // the resumed run started after the checkpointed epoch, not from 1
    const resumedEpochs = events.filter((e) => e.progress).map((e) => e.progress!.epoch);
    expect(resumedEpochs[0]).toBeGreaterThan(1);
    const { history } = await call(c, c.getJob, { id: job!.id });
    expect(history.map((p) => p.epoch)).toEqual(Array.from({ length: epochs }, (_, i) => i + 1));
    expect(history.every((p) => p.epochs === epochs && p.metrics.some((m) => m.name === 'loss' && Number.isFinite(m.value)))).toBe(true);
    c.close();
  });
});
