import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trainer } from '@robustrec/contracts';
import { exited, filesUnder, integrityCheck, queryDb, ServiceProcess, spawnTs, tempDir, waitForOutput } from './helpers';
import { smallGridSpec } from './specs';

const SPEC = smallGridSpec('grid', { synthetic: { numUsers: 2000, numItems: 1000, meanInteractions: 30 }, train: { epochs: 4 }, ks: [20] });

/**
 * The whole platform as five OS processes: data, attack, trainer and evaluator services and
 * the CLI (`robustrec run` driving them with --data/--trainer/...). The trainer is SIGKILLed
 * mid-epoch of the first cell and restarted: the CLI, watching that job, reconnects and the
 * job resumes from its checkpoint. Then the CLI itself is SIGKILLed mid-grid, with the second
 * cell's job running, and run again: it reattaches to that job and completes the grid. In the
 * end every cell is done once: one job per cell in the trainer's table, one model per cell in
 * the registry, every SQLite store intact, no temp file or checkpoint left; and every service
 * stops on SIGTERM with exit code 0.
 */
describe('experiment grid with the trainer and the orchestrator killed mid-work', () => {
  const tmp = tempDir('rr-faults-grid-');
  const home = tmp.dir;
  const services: ServiceProcess[] = [];
  afterAll(async () => {
    for (const s of services) await s.stop('SIGKILL');
    tmp.cleanup();
  });

  it('loses no cell and runs none twice', async () => {
    const dataSvc = await ServiceProcess.create('data', ['--home', home]);
    const evalSvc = await ServiceProcess.create('evaluator', ['--home', home, '--data', dataSvc.address]);
    const attackSvc = await ServiceProcess.create('attack', ['--data', dataSvc.address], { ROBUSTREC_HOME: home });
    const trainerSvc = await ServiceProcess.create('trainer', ['--home', home, '--data', dataSvc.address, '--registry', evalSvc.address]);
    services.push(trainerSvc, attackSvc, evalSvc, dataSvc);
    await Promise.all(services.map((s) => s.start()));
    const spec = join(home, 'grid.yaml');
    writeFileSync(spec, SPEC);
    const cli = ['run', spec, '--home', home, '--data', dataSvc.address, '--evaluator', evalSvc.address, '--trainer', trainerSvc.address, '--attack', attackSvc.address];

    const first = spawnTs('services/orchestrator/src/main.ts', cli);
    // cell 1 is training: kill its trainer mid-epoch and start it again on the same port
    // a failed wait shows the trainer's output too: a job that fails says why there
    const waitForCli = (done: (out: string) => boolean): Promise<string> =>
      waitForOutput(first, done, 120_000).catch((e: Error) => {
        throw new Error(`${e.message}\n--- trainer output ---\n${trainerSvc.output()}`);
      });
    await waitForCli((o) => /\[0\/4\] .*Syn\/Clean\/MF\/seed 1 epoch 1\/4/.test(o));
    await trainerSvc.stop('SIGKILL');
    await trainerSvc.start();
    // the CLI lost its WatchJob stream, retried, and the resumed job finished cell 1
    await waitForCli((o) => /\[1\/4\] Syn\/Clean\/MF\/seed 1: recall@20/.test(o));
    expect(first.output()).toMatch(/WatchJob job_\w+: .*retrying in \d+ ms/);
    // cell 2 is training: kill the CLI
    await waitForCli((o) => /\[1\/4\] .*Syn\/Clean\/PamaCF\/seed 1 epoch \d\/4/.test(o));
    first.kill('SIGKILL');
    await exited(first);

    const experiments = join(home, 'orchestrator', 'experiments.db');
    expect(integrityCheck(experiments)).toBe('ok');
    const before = queryDb<{ key: string; state: string; job_id: string }>(experiments, 'SELECT key, state, job_id FROM cells ORDER BY rowid');
    expect(before.map((c) => c.state)).toEqual(['done', 'running']);

    const second = spawnTs('services/orchestrator/src/main.ts', cli);
    expect(await exited(second), `${second.output()}\n--- trainer output ---\n${trainerSvc.output()}`).toBe(0);
    expect(second.output()).toContain('4 cells done, 0 failed');
    expect((second.output().match(/skip \(done earlier\)/g) ?? []).length).toBe(1);

    const cells = queryDb<{ key: string; state: string; job_id: string; model_id: string }>(experiments, 'SELECT key, state, job_id, model_id FROM cells ORDER BY rowid');
    expect(cells.map((c) => c.state)).toEqual(['done', 'done', 'done', 'done']);
    expect(cells[0]!.job_id).toBe(before[0]!.job_id);
    const trainerDb = join(home, 'trainer', 'trainer.db');
    const jobs = queryDb<{ id: string; state: number; epoch: number; model_id: string; idempotency_key: string }>(trainerDb, 'SELECT id, state, epoch, model_id, idempotency_key FROM jobs');
    // one job per cell: the re-run reattached to the job the killed CLI had started
    expect(jobs).toHaveLength(4);
    expect(new Set(jobs.map((j) => j.idempotency_key)).size).toBe(4);
    expect(jobs.map((j) => j.id).sort()).toEqual(cells.map((c) => c.job_id).sort());
    for (const j of jobs) expect(j).toMatchObject({ state: trainer.JobState.JOB_STATE_SUCCEEDED, epoch: 4 });
    // one model per cell, each the model of its cell's job
    const registryDb = join(home, 'evaluator', 'registry.db');
    const models = queryDb<{ id: string; job: string }>(registryDb, "SELECT id, json_extract(header_json, '$.jobId') AS job FROM models");
    expect(models).toHaveLength(4);
    expect(models.map((m) => m.id).sort()).toEqual(cells.map((c) => c.model_id).sort());
    for (const j of jobs) expect(models.filter((m) => m.job === j.id).map((m) => m.id)).toEqual([j.model_id]);

    for (const db of [join(home, 'data', 'data.db'), join(home, 'attack', 'attack.db'), trainerDb, registryDb, experiments]) expect(integrityCheck(db), db).toBe('ok');
    expect(filesUnder(join(home, 'data', 'tmp'))).toEqual([]);
    expect(filesUnder(join(home, 'trainer', 'checkpoints'))).toEqual([]);
    expect(filesUnder(join(home, 'evaluator', 'models'))).toEqual(models.map((m) => `${m.id}.bin`).sort());

    const exits = await Promise.all(services.map((s) => s.stop('SIGTERM')));
    expect(exits).toEqual(services.map(() => ({ code: 0, signal: null })));
  }, 300_000);
});
