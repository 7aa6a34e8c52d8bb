import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExperimentStore, type CellRecord } from '../src/store';

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
    store.db.exec('ALTER TABLE cells DROP COLUMN error_code');
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
});
