import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data, evaluator } from '@robustrec/contracts';
import { Rng } from '@robustrec/core';
import { call, createClient, registerModel } from '@robustrec/grpc';
import { startDataService, type RunningDataService } from '@robustrec/data-service';
import { pickUsers, Projector, userTable } from '../src/projection';
import { ModelRegistry, type StoredProjection } from '../src/registry';
import { startEvaluatorService } from '../src/service';

const DIM = 16;
const GENUINE = 400;
const FAKE = 40;

/** An MF model's RegisterModel header (user and item tables of DIM columns). */
const mfHeader = (name: string, datasetId: string, numUsers: number, numItems: number): evaluator.Model => ({
  id: '', name, version: 0, backbone: 'mf', defense: 'none', datasetId, jobId: '', numUsers, numItems,
  tensors: [{ name: 'user_embedding', shape: [numUsers, DIM] }, { name: 'item_embedding', shape: [numItems, DIM] }],
  metrics: [], provenance: undefined, sizeBytes: 0,
});

const centroid = (ps: evaluator.UserPoint[]): [number, number] => [ps.reduce((a, p) => a + p.x, 0) / ps.length, ps.reduce((a, p) => a + p.y, 0) / ps.length];

/**
 * EvaluatorService.ProjectUsers over loopback gRPC: a real data service holding a poisoned
 * dataset, MF models registered in the evaluator, the points stored in its SQLite registry.
 */
describe('EvaluatorService.ProjectUsers', () => {
  const home = mkdtempSync(join(tmpdir(), 'rr-project-users-'));
  let dataSrv: RunningDataService;
  let evalSrv: Awaited<ReturnType<typeof startEvaluatorService>>;
  let ec: evaluator.EvaluatorServiceClient;
  let poisoned: data.Dataset;
  let clean: data.Dataset;
  let model: evaluator.Model;
  let copy: evaluator.Model;
  let onClean: evaluator.Model;
  let noUsers: evaluator.Model;

  const project = (m: evaluator.ModelRef, sample: number, seed: number): Promise<evaluator.ProjectUsersResponse> => call(ec, ec.projectUsers, { model: m, sample, seed }, { kind: 'work' });
  const ref = (m: evaluator.Model): evaluator.ModelRef => ({ id: m.id, name: '', version: 0 });

  beforeAll(async () => {
    dataSrv = await startDataService({ home });
    evalSrv = await startEvaluatorService({ home, dataAddress: dataSrv.address });
    ec = createClient(evaluator.EvaluatorServiceClient, evalSrv.address);
    const dc = createClient(data.DataServiceClient, dataSrv.address);
    clean = (await call(dc, dc.importDataset, { name: 'syn', synthetic: { numUsers: GENUINE, numItems: 200, meanInteractions: 15, popularityExponent: 0, clusters: 0, seed: 3 } })).dataset!;
    // FAKE profiles of 12 items each, all promoting item 5
    const r = new Rng(9);
    const profiles = Object.fromEntries(Array.from({ length: FAKE }, (_, f) => [`fake${f}`, ['5', ...r.sample(200, 11).map(String)]]));
    const ps = (await call(dc, dc.importProfileSet, { datasetId: clean.id, path: '', json: JSON.stringify({ target_items: ['5'], fake_users: profiles }), minLength: 0, generator: 'test' })).profileSet!;
    poisoned = (await call(dc, dc.derivePoisonedDataset, { datasetId: clean.id, profileSetId: ps.id, name: '' })).dataset!;
    dc.close();
    expect([poisoned.numUsers, poisoned.numGenuineUsers]).toEqual([GENUINE + FAKE, GENUINE]);

    // genuine users N(0, 1) in every dimension; fake users a tight cluster 3 units away in each
    const users = Float32Array.from({ length: poisoned.numUsers * DIM }, (_, j) => (j < GENUINE * DIM ? r.normal() : 3 + 0.3 * r.normal()));
    const items = Float32Array.from({ length: poisoned.numItems * DIM }, () => r.normal());
    model = await registerModel(evalSrv.address, mfHeader('mf-poisoned', poisoned.id, poisoned.numUsers, poisoned.numItems), { user_embedding: users, item_embedding: items });
    copy = await registerModel(evalSrv.address, mfHeader('mf-poisoned-copy', poisoned.id, poisoned.numUsers, poisoned.numItems), { user_embedding: users, item_embedding: items });
    onClean = await registerModel(evalSrv.address, mfHeader('mf-clean', clean.id, clean.numUsers, clean.numItems), { user_embedding: users.subarray(0, GENUINE * DIM), item_embedding: items });
    noUsers = await registerModel(evalSrv.address, { ...mfHeader('items-only', poisoned.id, poisoned.numUsers, poisoned.numItems), tensors: [{ name: 'item_embedding', shape: [poisoned.numItems, DIM] }] }, { item_embedding: items });
  });
  afterAll(async () => {
    ec?.close();
    await evalSrv?.shutdown();
    await dataSrv?.shutdown();
    rmSync(home, { recursive: true, force: true });
  });

  it('projects every fake user and the sampled genuine ones, then answers from its store', async () => {
    const first = await project(ref(model), 100, 7);
    expect(first).toMatchObject({ method: 'umap', modelId: model.id, numGenuineUsers: GENUINE, numFakeUsers: FAKE, cached: false });
    expect(first.seconds).toBeGreaterThan(0);
    const ids = first.points.map((p) => p.user);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    // fake: exactly the ids from num_genuine_users on, every one of them
    expect(first.points.filter((p) => p.fake).map((p) => p.user)).toEqual(Array.from({ length: FAKE }, (_, i) => GENUINE + i));
    expect(first.points.every((p) => p.fake === p.user >= GENUINE)).toBe(true);
    expect(first.points.filter((p) => !p.fake)).toHaveLength(100);
    expect(first.points.every((p) => Number.isFinite(p.x) && Number.isFinite(p.y))).toBe(true);

    const again = await project(ref(model), 100, 7);
    expect(again.cached).toBe(true);
    expect(again.points).toEqual(first.points);
    expect(again.seconds).toBe(first.seconds);
    // the same model by name: the same stored points
    expect(await project({ id: '', name: 'mf-poisoned', version: 1 }, 100, 7)).toEqual(again);
  });

  it('gives the same points for the same seed and embeddings, another sample for another seed', async () => {
    const a = await project(ref(model), 100, 7);
    // another model id with the same tensors: computed afresh, not read from the store
    const b = await project(ref(copy), 100, 7);
    expect(b.cached).toBe(false);
    expect(b.points).toEqual(a.points);
    const c = await project(ref(copy), 100, 8);
    expect(c.points.filter((p) => !p.fake).map((p) => p.user)).not.toEqual(a.points.filter((p) => !p.fake).map((p) => p.user));
    expect(c.points.filter((p) => p.fake)).toHaveLength(FAKE);
  });

  it('separates the planted fake cluster from the genuine users, without holding up other calls', async () => {
    const rc = createClient(evaluator.ModelRegistryServiceClient, evalSrv.address);
    // sample 0: the default 1,500, more than the dataset has: every genuine user
    let done = false;
    const t0 = performance.now();
    const running = project(ref(model), 0, 0).finally(() => (done = true));
    const latencies: number[] = [];
    while (!done) {
      const s = performance.now();
      await call(rc, rc.getModel, { model: ref(model) });
      if (!done) latencies.push(performance.now() - s);
      await new Promise((r) => setTimeout(r, 20));
    }
    const res = await running;
    const wall = performance.now() - t0;
    rc.close();
    // the fit ran on its worker thread: the registry answered all along, each call in a small
    // part of the projection's time (a fit on the event loop would hold one for most of it)
    expect(latencies.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...latencies)).toBeLessThan(wall / 3);

    expect(res.points).toHaveLength(GENUINE + FAKE);
    const genuine = res.points.filter((p) => !p.fake);
    const fake = res.points.filter((p) => p.fake);
    const [gx, gy] = centroid(genuine);
    const [fx, fy] = centroid(fake);
    const spread = Math.sqrt(genuine.reduce((a, p) => a + (p.x - gx) ** 2 + (p.y - gy) ** 2, 0) / genuine.length);
    expect(Math.hypot(fx - gx, fy - gy)).toBeGreaterThan(2 * spread);
    // defaults: sample 1500 and seed 2024 are the stored key
    expect((await project(ref(model), 1500, 2024)).cached).toBe(true);
  });

  it('marks no one fake on a clean dataset', async () => {
    const res = await project(ref(onClean), 50, 1);
    expect(res).toMatchObject({ numGenuineUsers: GENUINE, numFakeUsers: 0 });
    expect(res.points).toHaveLength(50);
    expect(res.points.some((p) => p.fake)).toBe(false);
  });

  it('refuses bad requests with the right codes, naming the field or the model', async () => {
    await expect(project(ref(model), 6000, 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^sample: at most 5000/) });
    await expect(project({ id: 'model_nope', name: '', version: 0 }, 10, 1)).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/model_nope/) });
    await expect(project({ id: '', name: '', version: 0 }, 10, 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^model:/) });
    await expect(project(ref(noUsers), 10, 1)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining(`model ${noUsers.id} (mf) has no user embeddings`) });
  });
});

describe('projection inputs, store and thread', () => {
  const header = (backbone: string, numUsers: number): evaluator.Model => ({ ...mfHeader('m', '', numUsers, 1), id: 'model_t', backbone });
  const t = (shape: number[]) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i) });

  it('reads MF and LightGCN user tables whole and the GMF half of NeuMF rows', () => {
    expect(userTable({ header: header('mf', 3), tensors: { user_embedding: t([3, 4]) } })).toMatchObject({ rows: 3, dim: 4, stride: 4 });
    expect(userTable({ header: header('lightgcn', 3), tensors: { user_embedding: t([3, 4]), ego_embedding: t([4, 4]) } })).toMatchObject({ rows: 3, dim: 4, source: 'user_embedding (propagated)' });
    expect(userTable({ header: header('neumf', 3), tensors: { user_embedding: t([3, 8]) } })).toMatchObject({ rows: 3, dim: 4, stride: 8 });
    expect(() => userTable({ header: header('mf', 5), tensors: { user_embedding: t([3, 4]) } })).toThrow(expect.objectContaining({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/3 rows for 5 users/) }));
  });

  it('samples genuine users by seed and appends every fake one', () => {
    const a = pickUsers(100, 110, 20, 5);
    expect(a).toHaveLength(30);
    expect(Array.from(a.subarray(20))).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
    expect(Array.from(a.subarray(0, 20)).every((u, i, xs) => u < 100 && (i === 0 || u > xs[i - 1]!))).toBe(true);
    expect(pickUsers(100, 110, 20, 5)).toEqual(a);
    expect(Array.from(pickUsers(5, 6, 20, 5))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('stores points exactly and keeps a bounded number per model, the newest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rr-projections-'));
    const registry = new ModelRegistry(dir);
    try {
      const m = registry.register(mfHeader('m', 'ds', 2, 1), { user_embedding: new Uint8Array(2 * DIM * 4), item_embedding: new Uint8Array(DIM * 4) });
      const p = (seed: number): StoredProjection => ({
        modelId: m.id, sample: 10, seed, method: 'umap', params: { nEpochs: 200 }, numGenuineUsers: 1, numFakeUsers: 1,
        users: Uint32Array.of(0, 1), coords: Float32Array.of(0.1, -2.5, 1e-7, 3.25), seconds: 0.5,
      });
      registry.saveProjection(p(1), 2);
      expect(registry.getProjection(m.id, 10, 1)).toEqual(p(1));
      registry.saveProjection(p(2), 2);
      registry.saveProjection(p(3), 2);
      expect([1, 2, 3].map((seed) => registry.getProjection(m.id, 10, seed) !== undefined)).toEqual([false, true, true]);
      expect(registry.getProjection(m.id, 11, 3)).toBeUndefined();
    } finally {
      registry.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not start a fit whose callers have all left', async () => {
    const p = new Projector();
    await expect(p.fit({ rows: new Float32Array(8), n: 4, dim: 2, seed: 1, nNeighbors: 3, minDist: 0.1, nEpochs: 10 }, () => true)).rejects.toMatchObject({ code: 'CANCELLED' });
    await p.close();
  });
});
