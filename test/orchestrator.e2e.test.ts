import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExperimentStore } from '@robustrec/orchestrator-service';
import { exited, spawnTs, tempDir, waitForOutput } from './helpers';
import { CLEAN, PAMACF, RANDOM, smallGridSpec } from './specs';

const CLEAN_WITH_TARGETS = { ...CLEAN, targets: [3, 7] };
const SPEC = smallGridSpec('e2e', { attacks: [CLEAN_WITH_TARGETS, RANDOM] });

/**
 * The whole platform through the CLI: four services in-process, an experiment grid over
 * gRPC. The orchestrator process is killed after its first finished cell; the re-run
 * completes the grid without redoing finished cells.
 */
describe('orchestrator CLI', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  it('resumes a killed run without redoing finished cells and writes the reports', async () => {
    const spec = join(tmp.dir, 'spec.yaml');
    writeFileSync(spec, SPEC);
    const args = ['run', spec, '--home', tmp.dir];
    const first = spawnTs('services/orchestrator/src/main.ts', args);
    await waitForOutput(first, (o) => /\[1\/4\] .*recall@20/.test(o), 120_000);
    first.kill('SIGKILL');
    await exited(first);

    const store = new ExperimentStore(join(tmp.dir, 'orchestrator', 'experiments.db'));
    const doneBefore = store.list('e2e').filter((c) => c.state === 'done');
    store.close();
    expect(doneBefore.length).toBeGreaterThanOrEqual(1);

    const second = spawnTs('services/orchestrator/src/main.ts', args);
    expect(await exited(second)).toBe(0);
    const out = second.output();
    expect((out.match(/skip \(done earlier\)/g) ?? []).length).toBe(doneBefore.length);
    expect(out).toContain('4 cells done, 0 failed');
    expect(out).toMatch(/What the tables say:\n  (\w+ is the most robust|\w+ and \w+ tie as the most robust|No model is the most robust)/);

    const after = new ExperimentStore(join(tmp.dir, 'orchestrator', 'experiments.db'));
    const cells = after.list('e2e');
    after.close();
    expect(cells).toHaveLength(4);
    for (const c of doneBefore) expect(cells.find((x) => x.key === c.key)!.jobId).toBe(c.jobId);
    for (const c of cells) {
      expect(c.state).toBe('done');
      expect(c.metrics['recall@20']).toBeGreaterThan(0);
      expect(c.versions.node).toBe(process.version);
      // Both columns carry T-HR: Random on its lineage's targets, Clean on the spec's [3, 7].
      expect(c.metrics['t_hr@50']).toBeGreaterThanOrEqual(0);
    }
    const reports = join(tmp.dir, 'reports', 'e2e');
    for (const f of ['report.md', 'report.csv', 'report.json']) expect(existsSync(join(reports, f))).toBe(true);
    const md = readFileSync(join(reports, 'report.md'), 'utf8');
    expect(md).toContain('Table 1');
    expect(md).toContain('Table 2');
    expect(md).toMatch(/\| PamaCF \| \d/);
    expect(md).toMatch(/Table 2[^\n]*\n\n\| Model \| Clean T-HR@50/);

    // A sweep point that equals a finished cell's training (another spec, same data and
    // config) reuses that model instead of training it again.
    const sweep = join(tmp.dir, 'sweep.yaml');
    writeFileSync(sweep, smallGridSpec('e2e-sweep', { attacks: [CLEAN_WITH_TARGETS], models: [{ ...PAMACF, params: { warmup_epochs: 1 }, sweep: { rho: [0.3] } }] }));
    const third = spawnTs('services/orchestrator/src/main.ts', ['run', sweep, '--home', tmp.dir]);
    expect(await exited(third)).toBe(0);
    expect(third.output()).toContain('reusing the model trained for e2e/PamaCF');
    const again = new ExperimentStore(join(tmp.dir, 'orchestrator', 'experiments.db'));
    const [point] = again.list('e2e-sweep');
    again.close();
    const original = cells.find((c) => c.variant === 'PamaCF' && c.attack === 'Clean')!;
    expect(point!.variant).toBe('PamaCF[rho=0.3]');
    expect(point!.modelId).toBe(original.modelId);
    expect(point!.metrics['recall@20']).toBe(original.metrics['recall@20']);

    // A store copied into a fresh home (how a committed results snapshot is resumed) remembers
    // dataset ids that home's data service never stored: the missing cell re-imports and
    // re-poisons instead of failing with NOT_FOUND, and gets the same content-derived ids.
    const fresh = join(tmp.dir, 'fresh');
    mkdirSync(join(fresh, 'orchestrator'), { recursive: true });
    copyFileSync(join(tmp.dir, 'orchestrator', 'experiments.db'), join(fresh, 'orchestrator', 'experiments.db'));
    const dropped = cells.find((c) => c.variant === 'PamaCF' && c.attack === 'Random')!;
    const copy = new ExperimentStore(join(fresh, 'orchestrator', 'experiments.db'));
    copy.upsert({ ...dropped, state: 'failed', jobId: '', modelId: '', evaluationId: '', replica: '', metrics: {}, error: 'dropped by the test' });
    copy.close();
    const fourth = spawnTs('services/orchestrator/src/main.ts', ['run', spec, '--home', fresh]);
    expect(await exited(fourth)).toBe(0);
    expect(fourth.output()).toMatch(/not in the data service; producing it again/);
    expect(fourth.output()).toContain('4 cells done, 0 failed');
    const resumed = new ExperimentStore(join(fresh, 'orchestrator', 'experiments.db'));
    const redone = resumed.get('e2e', dropped.key)!;
    resumed.close();
    expect(redone.state).toBe('done');
    expect(redone.datasetId).toBe(dropped.datasetId);
  }, 500_000);
});
