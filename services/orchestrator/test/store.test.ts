import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExperimentStore, type CellRecord } from '../src/store';
import { expandCells, parseSpec } from '../src/spec';
import { readFileSync } from 'node:fs';

const dir = mkdtempSync(join(tmpdir(), 'rr-orch-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cell = (key: string, over: Partial<CellRecord> = {}): CellRecord => ({
  specName: 's', key, dataset: 'D', attack: 'A', model: 'M', variant: 'M', sweepParam: '', sweepValue: null, seed: 1, state: 'failed',
  datasetId: '', jobId: '', modelId: '', evaluationId: '', metrics: {}, config: {}, versions: {}, error: 'boom', errorCode: '', seconds: 1, finishedAt: '',
  ...over,
});

describe('ExperimentStore', () => {
  it("keeps a failed cell's status code, and adds the column to a store written before it existed", () => {
    const path = join(dir, 'experiments.db');
    let store = new ExperimentStore(path);
    store.upsert(cell('old'));
    // the store as the previous version left it: no error_code column, schema version 2
    // (cells, then replica pinning and experiments)
    store.db.exec('ALTER TABLE cells DROP COLUMN error_code; DROP TABLE specs');
    store.db.pragma('user_version = 2');
    store.close();

    store = new ExperimentStore(path);
    expect(store.get('s', 'old')).toMatchObject({ error: 'boom', errorCode: '' });
    store.upsert(cell('new', { error: 'generator g at h:1 broke rule count', errorCode: 'FAILED_PRECONDITION' }));
    store.upsert(cell('old', { state: 'done', error: '', errorCode: '' }));
    expect(store.get('s', 'new')).toMatchObject({ state: 'failed', errorCode: 'FAILED_PRECONDITION' });
    expect(store.get('s', 'old')).toMatchObject({ state: 'done', errorCode: '' });
    store.close();
  });

  it('records the spec a run used (seeds of partial runs added up) and counts each spec\'s cells by state', () => {
    const store = new ExperimentStore(join(dir, 'specs.db'));
    const spec = parseSpec(readFileSync(join(__dirname, '..', 'specs', 'gowalla-paper.yaml'), 'utf8'));
    store.putSpec({ ...spec, seeds: [2025] });
    store.putSpec({ ...spec, seeds: [2024] });
    const back = store.getSpec(spec.name) as typeof spec;
    expect(back.seeds).toEqual([2024, 2025]);
    // the stored definition expands to the same cells (keys are content hashes of the cells)
    const keys = (s: typeof spec): string[] => expandCells(s).map((c) => c.key);
    expect(keys(back)).toEqual(keys({ ...spec, seeds: [2024, 2025] }));
    store.upsert(cell('a', { specName: 'x', state: 'done', finishedAt: '2026-01-02' }));
    store.upsert(cell('b', { specName: 'x', state: 'failed', finishedAt: '2026-01-01' }));
    store.upsert(cell('c', { specName: 'x', state: 'running' }));
    store.upsert(cell('d', { specName: 'y', state: 'done' }));
    expect(store.specSummaries()).toEqual([
      { name: 'x', total: 3, done: 1, failed: 1, running: 1, lastFinishedAt: '2026-01-02' },
      { name: 'y', total: 1, done: 1, failed: 0, running: 0, lastFinishedAt: '' },
    ]);
    store.close();
  });
});
