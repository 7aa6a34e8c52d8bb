import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exited, spawnTs, tempDir, waitForOutput } from './helpers';
import { CLEAN, MF, PAMACF, smallGridSpec } from './specs';

// A copy of the demo's shape with one cell that must fail (APR with a negative ε).
const SPEC = smallGridSpec('fails', {
  synthetic: { numUsers: 300, numItems: 200, meanInteractions: 15, seed: 3 },
  models: [MF, { name: 'APR', backbone: 'mf', defense: 'apr', params: { eps: -1 } }, PAMACF],
  train: { epochs: 2, dim: 8 },
});

/** Failures are loud: a grid with a failed cell exits non-zero, lists it last, and its report hides nothing. */
describe('orchestrator CLI with a failing cell', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  it('exits 1, lists the failed cells with their errors at the end, and the tables say what is missing', async () => {
    const spec = join(tmp.dir, 'spec.yaml');
    writeFileSync(spec, SPEC);
    const run = spawnTs('services/orchestrator/src/main.ts', ['run', spec, '--home', tmp.dir]);
    expect(await exited(run)).toBe(1);
    const out = run.output();
    const tail = out.slice(out.lastIndexOf('cells did not finish'));
    expect(out).toContain('2 of 6 cells did not finish:');
    expect(tail).toMatch(/Syn\/Clean\/APR\/seed 1: INVALID_ARGUMENT: .*config\.defense\.params\.eps: must be >= 0, got -1/); // with its status code
    expect(tail).toMatch(/Syn\/Random\/APR\/seed 1: /);
    expect(out).toContain('4 cells done, 2 failed');
    const md = readFileSync(join(tmp.dir, 'reports', 'fails', 'report.md'), 'utf8');
    expect(md).toMatch(/\| APR \| failed \| failed \| failed \| failed \|/);
    expect(md).toContain('n/a: APR missing');
    expect(md).not.toContain('±');
  }, 300_000);

  it('--attacks/--models narrow a run to those cells (the failed ones outside it are not retried); unknown names are refused', async () => {
    const spec = join(tmp.dir, 'spec.yaml');
    const narrow = spawnTs('services/orchestrator/src/main.ts', ['run', spec, '--home', tmp.dir, '--attacks', 'Random', '--models', 'MF,PamaCF']);
    expect(await exited(narrow)).toBe(0);
    expect(narrow.output()).toContain('2 cells done, 0 failed');
    const bad = spawnTs('services/orchestrator/src/main.ts', ['run', spec, '--home', tmp.dir, '--attacks', 'Clean,DP']);
    expect(await exited(bad)).not.toBe(0);
    expect(bad.output()).toContain('--attacks: not in the spec: DP; the spec has Clean, Random');
  }, 120_000);

  it('names the unfinished trainer jobs of another spec that will resume before this run', async () => {
    const home = tempDir();
    try {
      const main = 'services/orchestrator/src/main.ts';
      const long = join(home.dir, 'long.yaml');
      writeFileSync(long, smallGridSpec('long', { attacks: [CLEAN], models: [MF], train: { epochs: 5000, dim: 8 } }));
      const first = spawnTs(main, ['run', long, '--home', home.dir, '--trainers', '1']);
      await waitForOutput(first, (o) => /epoch \d+\/5000/.test(o), 120_000);
      first.kill('SIGKILL'); // its job stays RUNNING in the home's trainer store
      await exited(first);
      const short = join(home.dir, 'short.yaml');
      writeFileSync(short, smallGridSpec('short', { attacks: [CLEAN], models: [MF], train: { epochs: 1, dim: 8 } }));
      const second = spawnTs(main, ['run', short, '--home', home.dir, '--trainers', '1']);
      const out = await waitForOutput(second, (o) => o.includes('(to keep them apart'), 120_000);
      second.kill('SIGKILL');
      await exited(second);
      expect(out).toMatch(/1 unfinished trainer job\(s\) of earlier runs on this home resume first, before this spec's cells:\n {2}job_\S+ long\/\S+, epoch \d+\/5000\n\(to keep them apart, give this spec its own --home\)/);
    } finally {
      home.cleanup();
    }
  }, 300_000);
});
