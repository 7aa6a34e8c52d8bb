import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { data, inference } from '@robustrec/contracts';
import { call, checkHealth, createClient } from '@robustrec/grpc';
import { startPlatform, type Platform } from '@robustrec/orchestrator-service';
import { filesUnder, integrityCheck, tempDir } from './helpers';

/**
 * The four services in one process, as `robustrec up` runs them. A large synthetic import
 * used to run on the shared event loop and froze every service for its whole duration
 * (22.9 s for 1M users, evaluator ServerLive 22.87 s); the data service now runs it on a
 * worker thread, and the other RPCs of the process keep answering (milliseconds when the machine is idle).
 */
describe('one process, four services: heavy data work stays off the event loop', () => {
  const tmp = tempDir('rr-responsive-');
  let platform: Platform;
  let dc: data.DataServiceClient;
  let small = '';

  beforeAll(async () => {
    platform = await startPlatform({ home: tmp.dir });
    dc = createClient(data.DataServiceClient, platform.endpoints.data);
    small = (await call(dc, dc.importDataset, { name: 'small', synthetic: { numUsers: 300, numItems: 200, meanInteractions: 10, popularityExponent: 0, clusters: 0, seed: 1 } })).dataset!.id;
  });
  afterAll(async () => {
    dc?.close();
    await platform?.shutdown();
    tmp.cleanup();
  });

  // The bug this guards froze every RPC for the whole import (asserted below to last over a
  // second); unblocked answers take milliseconds. The bound sits well between the two so a
  // loaded 2-core CI box (measured 209 ms worst at load average 11) does not flake it.
  it('answers health, GetDataset and evaluator ServerLive within 750 ms during a large synthetic import', async () => {
    const ev = createClient(inference.GRPCInferenceServiceClient, platform.endpoints.evaluator);
    const probes: Record<string, () => Promise<unknown>> = {
      health: () => checkHealth(platform.endpoints.data, 'robustrec.v1.DataService'),
      getDataset: () => call(dc, dc.getDataset, { id: small }),
      serverLive: () => call(ev, ev.serverLive, {}),
    };
    for (const p of Object.values(probes)) await p(); // connections up before timing
    let importing = true;
    const t0 = performance.now();
    // 100,000 users x 30 interactions: seconds of generation, CSR encoding and hashing
    const imported = call(dc, dc.importDataset, { name: 'large', synthetic: { numUsers: 100_000, numItems: 20_000, meanInteractions: 30, popularityExponent: 0, clusters: 0, seed: 9 } }).finally(
      () => (importing = false),
    );
    const worst: Record<string, number> = { health: 0, getDataset: 0, serverLive: 0 };
    let rounds = 0;
    while (importing) {
      for (const [name, p] of Object.entries(probes)) {
        const s = performance.now();
        await p();
        worst[name] = Math.max(worst[name]!, performance.now() - s);
      }
      rounds++;
      await new Promise((r) => setTimeout(r, 20));
    }
    const r = await imported;
    const seconds = (performance.now() - t0) / 1000;
    ev.close();
    expect(r.dataset!.numUsers).toBe(100_000);
    for (const [name, ms] of Object.entries(worst)) expect(ms, `${name}: slowest answer ${ms.toFixed(0)} ms during a ${seconds.toFixed(1)} s import`).toBeLessThan(750);
    // the probes ran throughout an import that took seconds
    expect(seconds).toBeGreaterThan(1);
    expect(rounds).toBeGreaterThan(10);
  });

  it('commits concurrent imports correctly: distinct ones all stored, a duplicate found as existing', async () => {
    const syn = (seed: number): data.ImportDatasetRequest => ({ name: `c${seed}`, synthetic: { numUsers: 5000, numItems: 1000, meanInteractions: 20, popularityExponent: 0, clusters: 0, seed } });
    const rs = await Promise.all([syn(21), syn(22), syn(23), syn(21), syn(22)].map((req) => call(dc, dc.importDataset, req)));
    const ids = rs.map((r) => r.dataset!.id);
    expect(new Set(ids).size).toBe(3);
    expect(ids[3]).toBe(ids[0]);
    expect(ids[4]).toBe(ids[1]);
    // whichever of two identical imports committed first created it; the other found it
    expect([rs[0]!.existed, rs[3]!.existed].sort()).toEqual([false, true]);
    expect([rs[1]!.existed, rs[4]!.existed].sort()).toEqual([false, true]);
    const listed = (await call(dc, dc.listDatasets, { kind: 0 })).datasets.map((d) => d.id);
    for (const id of ids) expect(listed).toContain(id);
    expect(integrityCheck(join(tmp.dir, 'data', 'data.db'))).toBe('ok');
    expect(filesUnder(join(tmp.dir, 'data', 'tmp'))).toEqual([]);
    const dirs = new Set(filesUnder(join(tmp.dir, 'data', 'datasets')).map((f) => f.split('/')[0]));
    expect([...dirs].sort()).toEqual([...listed].sort());
  });
});
