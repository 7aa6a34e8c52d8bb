import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, loadPackageDefinition, status, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { join } from 'node:path';
import { data, evaluator, scoring } from '@robustrec/contracts';
import { Rng, csrHas, repoRoot, rowOf } from '@robustrec/core';
import { call, checkHealth, createClient, downloadModel, fetchInteractionData, iterate, listServices, registerModel } from '@robustrec/grpc';
import { evaluateRanking } from '@robustrec/metrics';
import { dotProductScorer } from '@robustrec/scoring';
import { startDataService } from '@robustrec/data-service';
import { startEvaluatorService } from '@robustrec/evaluator-service';
import { exited, mfModelHeader, spawnTs, tempDir } from './helpers';

/**
 * The evaluator process end to end: models registered over gRPC, evaluated against the
 * metrics library on the same data, served through ScoringService and the Open Inference
 * Protocol (called with a client built from the .proto alone).
 */
describe('evaluator, registry and scoring', () => {
  const tmp = tempDir();
  let dataSrv: Awaited<ReturnType<typeof startDataService>>;
  let evalSrv: Awaited<ReturnType<typeof startEvaluatorService>>;
  let dataset: data.Dataset;
  const dim = 8;
  let users: Float32Array;
  let items: Float32Array;

  const header = (name: string): evaluator.Model => mfModelHeader({ name, datasetId: dataset.id, numUsers: dataset.numUsers, numItems: dataset.numItems, dim });
  const randomTable = (n: number, seed: number): Float32Array => {
    const r = new Rng(seed);
    return Float32Array.from({ length: n * dim }, () => r.normal());
  };

  beforeAll(async () => {
    dataSrv = await startDataService({ home: tmp.dir });
    evalSrv = await startEvaluatorService({ home: tmp.dir, dataAddress: dataSrv.address, maxBatch: 50 });
    const dc = createClient(data.DataServiceClient, dataSrv.address);
    dataset = (await call(dc, dc.importDataset, { name: 'syn', synthetic: { numUsers: 300, numItems: 200, meanInteractions: 15, popularityExponent: 0, clusters: 0, seed: 3 } })).dataset!;
    dc.close();
    users = randomTable(dataset.numUsers, 1);
    items = randomTable(dataset.numItems, 2);
  });
  afterAll(async () => {
    await evalSrv?.shutdown();
    await dataSrv?.shutdown();
    tmp.cleanup();
  });

  it('registers versions, round-trips tensors and rejects incomplete uploads', async () => {
    const v1 = await registerModel(evalSrv.address, header('mf-test'), { user_embedding: users, item_embedding: items });
    const v2 = await registerModel(evalSrv.address, header('mf-test'), { user_embedding: users.map((x) => -x), item_embedding: items });
    expect([v1.version, v2.version]).toEqual([1, 2]);
    const back = await downloadModel(evalSrv.address, { id: '', name: 'mf-test', version: 1 });
    expect(Array.from(back.tensors.user_embedding!)).toEqual(Array.from(users));
    await expect(registerModel(evalSrv.address, header('broken'), { user_embedding: users, item_embedding: items.subarray(0, 8) })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/item_embedding incomplete/),
    });
    const rc = createClient(evaluator.ModelRegistryServiceClient, evalSrv.address);
    expect((await call(rc, rc.listModels, { name: 'broken' })).models).toHaveLength(0);
    await expect(call(rc, rc.getModel, { model: { id: 'nope', name: '', version: 0 } })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    rc.close();
    expect(await listServices(evalSrv.address)).toEqual(expect.arrayContaining(['inference.GRPCInferenceService', 'robustrec.v1.ScoringService', 'robustrec.v1.EvaluatorService']));
    expect(await checkHealth(evalSrv.address, 'robustrec.v1.EvaluatorService')).toBe('SERVING');
  });

  it('evaluates with the metrics library semantics and stores the result', async () => {
    const ec = createClient(evaluator.EvaluatorServiceClient, evalSrv.address);
    const { evaluation } = await call(ec, ec.evaluate, { model: { id: '', name: 'mf-test', version: 1 }, datasetId: '', split: 0, ks: [10, 20], targetItems: [5, 7] });
    const { data: d } = await fetchInteractionData(dataSrv.address, dataset.id);
    const expected = evaluateRanking({
      scorer: dotProductScorer(users, items, dim), numGenuineUsers: d.numGenuineUsers, exclude: [d.train, d.valid], relevant: d.test,
      targets: Uint32Array.of(5, 7), targetExclude: [d.train, d.valid, d.test], ks: [10, 20], threads: 1,
    });
    const got = Object.fromEntries(evaluation!.metrics.map((m) => [`${m.name}@${m.k}`, m.value]));
    for (const [k, v] of Object.entries(expected.metrics)) expect(got[k]).toBeCloseTo(v, 12);
    expect(got['recall@20']).toBeGreaterThan(0);
    expect(evaluation!.targets.map((t) => t.item)).toEqual([5, 7]);
    expect((await call(ec, ec.getEvaluation, { id: evaluation!.id })).evaluation!.metrics).toEqual(evaluation!.metrics);
    await expect(call(ec, ec.evaluate, { model: { id: '', name: 'mf-test', version: 1 }, datasetId: '', split: 0, ks: [0], targetItems: [] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/ks\[0\]/) });
    ec.close();
  });

  it('robustrec evaluate: shards over two evaluator replicas merge to the full evaluation; a seeded sample states its CI', async () => {
    // a second replica with its own registry holding the same model as mf-test version 1
    const tmp2 = tempDir();
    const replica = await startEvaluatorService({ home: tmp2.dir, dataAddress: dataSrv.address });
    try {
      await registerModel(replica.address, header('mf-test'), { user_embedding: users, item_embedding: items });
      const cli = async (args: string[]): Promise<{ code: number | null; out: string }> => {
        const p = spawnTs('services/orchestrator/src/main.ts', ['evaluate', '--model', 'mf-test@1', ...args]);
        return { code: await exited(p), out: p.output() };
      };
      const json = (out: string) => JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1));
      const ec = createClient(evaluator.EvaluatorServiceClient, evalSrv.address);
      const { evaluation: full } = await call(ec, ec.evaluate, { model: { id: '', name: 'mf-test', version: 1 }, datasetId: '', split: 0, ks: [10, 20], targetItems: [] }, { kind: 'work' });
      ec.close();
      const sharded = await cli(['--shards', '3', '--ks', '10,20', '--json', '--evaluator', `${evalSrv.address},${replica.address}`]);
      expect(sharded.code, sharded.out).toBe(0);
      const merged = json(sharded.out);
      expect(merged.usersEvaluated).toBe(full!.usersEvaluated);
      for (const m of full!.metrics) {
        const got = merged.metrics[`${m.name}@${m.k}`];
        expect(Math.abs(got - m.value), `${m.name}@${m.k}`).toBeLessThanOrEqual(1e-9 * Math.max(m.value, 1e-300));
        expect(merged.statistics[`${m.name}@${m.k}`].ciHalfWidth).toBe(0);
      }
      // both replicas evaluated shards (0 and 2 on the first, 1 on the second)
      const listed = async (address: string): Promise<number[]> => {
        const c = createClient(evaluator.EvaluatorServiceClient, address);
        const r = await call(c, c.listEvaluations, { modelId: '', datasetId: '' });
        c.close();
        return r.evaluations.filter((e) => e.sampling?.shardCount === 3).map((e) => e.sampling!.shardIndex).sort();
      };
      expect(await listed(evalSrv.address)).toEqual([0, 2]);
      expect(await listed(replica.address)).toEqual([1]);

      const sampled = await cli(['--sample-users', '100', '--seed', '5', '--shards', '2', '--evaluator', `${evalSrv.address},${replica.address}`]);
      expect(sampled.code, sampled.out).toBe(0);
      expect(sampled.out).toMatch(/users evaluated: \d+ with relevant items \(100 ranked of a population of \d+; seeded sample of 100, seed 5, merged from 2 shards\)/);
      expect(sampled.out).toMatch(/recall@20\s+0\.\d{6}\s+± 0\.\d{6}\s+95% CI \[/);

      const bad = await cli(['--shards', '2000', '--evaluator', evalSrv.address]);
      expect(bad.code).toBe(2);
      expect(bad.out).toMatch(/--shards: must be an integer in \[1, 1024\]/);

      // a replica that is gone: its shards (1 and 3 of 4) go to the live one, the merge is unchanged
      const tmp3 = tempDir();
      const gone = await startEvaluatorService({ home: tmp3.dir, dataAddress: dataSrv.address });
      const goneAddress = gone.address;
      await gone.shutdown();
      tmp3.cleanup();
      const rescued = await cli(['--shards', '4', '--ks', '10,20', '--json', '--evaluator', `${evalSrv.address},${goneAddress}`]);
      expect(rescued.code, rescued.out).toBe(0);
      expect(rescued.out).toMatch(new RegExp(`shard 1 on ${goneAddress}: .*\\(UNAVAILABLE\\); its unfinished shards went to the other evaluators`));
      const again = json(rescued.out);
      for (const m of full!.metrics) expect(Math.abs(again.metrics[`${m.name}@${m.k}`] - m.value)).toBeLessThanOrEqual(1e-9 * Math.max(m.value, 1e-300));
      const c4 = createClient(evaluator.EvaluatorServiceClient, evalSrv.address);
      const stored = (await call(c4, c4.listEvaluations, { modelId: '', datasetId: '' })).evaluations.filter((e) => e.sampling?.shardCount === 4);
      c4.close();
      expect(stored.map((e) => e.sampling!.shardIndex).sort()).toEqual([0, 1, 2, 3]);
      // every replica gone: UNAVAILABLE naming the shards, exit code of a failed call
      const none = await cli(['--shards', '2', '--evaluator', goneAddress]);
      expect(none.code).not.toBe(0);
      expect(none.out).toMatch(/shards 0, 1 not evaluated: every evaluator failed \(shard 0 on/);
    } finally {
      await replica.shutdown();
      tmp2.cleanup();
    }
  });

  it('recommends unseen items, scores items, switches versions and rejects bad requests', async () => {
    const sc = createClient(scoring.ScoringServiceClient, evalSrv.address);
    const { data: d } = await fetchInteractionData(dataSrv.address, dataset.id);
    const ref = { id: '', name: 'mf-test', version: 0 };
    await call(sc, sc.loadModel, { model: { ...ref, version: 1 } });
    // Concurrent requests are micro-batched; each must still get its own correct list.
    const answers = await Promise.all(Array.from({ length: 40 }, (_, u) => call(sc, sc.recommend, { model: ref, user: u, k: 10, includeSeen: false })));
    answers.forEach((r, u) => {
      expect(r.items).toHaveLength(10);
      for (const it of r.items) expect(csrHas(d.train, u, it)).toBe(false);
      const brute = Array.from({ length: d.numItems }, (_, i) => i)
        .filter((i) => !csrHas(d.train, u, i))
        .map((i) => ({ i, s: Math.fround(users.subarray(u * dim, u * dim + dim).reduce((a, x, j) => a + x * items[i * dim + j]!, 0)) }))
        .sort((a, b) => b.s - a.s || a.i - b.i)
        .slice(0, 10)
        .map((x) => x.i);
      expect(r.items).toEqual(brute);
    });
    const seen = await call(sc, sc.recommend, { model: ref, user: 0, k: d.numItems, includeSeen: true });
    expect(seen.items).toHaveLength(d.numItems);
    const sc0 = await call(sc, sc.score, { model: ref, user: 0, items: [answers[0]!.items[0]!] });
    expect(sc0.scores[0]).toBeCloseTo(answers[0]!.scores[0]!, 5);
    expect(rowOf(d.train, 0).length).toBeGreaterThan(0);
    // switch the served version: requests by name now answer with version 2
    const v2 = (await call(sc, sc.loadModel, { model: { ...ref, version: 2 } })).model!;
    expect((await call(sc, sc.recommend, { model: ref, user: 0, k: 5, includeSeen: false })).modelId).toBe(v2.id);
    // switch back and forth while requests are in flight: none is dropped, and each answer
    // is exactly the list of the version it names
    const brute = (table: Float32Array, u: number, k: number): number[] =>
      Array.from({ length: d.numItems }, (_, i) => i)
        .filter((i) => !csrHas(d.train, u, i))
        .map((i) => ({ i, s: Math.fround(table.subarray(u * dim, u * dim + dim).reduce((a, x, j) => a + x * items[i * dim + j]!, 0)) }))
        .sort((a, b) => b.s - a.s || a.i - b.i)
        .slice(0, k)
        .map((x) => x.i);
    const v1 = (await call(sc, sc.loadModel, { model: { ...ref, version: 1 } })).model!;
    const inflight = Array.from({ length: 120 }, (_, i) => call(sc, sc.recommend, { model: ref, user: i % 60, k: 5, includeSeen: false }));
    const switches = [2, 1, 2].map((version) => call(sc, sc.loadModel, { model: { ...ref, version } }));
    const more = Array.from({ length: 120 }, (_, i) => call(sc, sc.recommend, { model: ref, user: i % 60, k: 5, includeSeen: false }));
    await Promise.all(switches);
    const flight = await Promise.all([...inflight, ...more]);
    const negated = users.map((x) => -x);
    flight.forEach((r, i) => {
      expect([v1.id, v2.id]).toContain(r.modelId);
      expect(r.items).toEqual(brute(r.modelId === v1.id ? users : negated, i % 60, 5));
    });
    expect(new Set(flight.map((r) => r.modelId)).size).toBe(2);
    expect((await call(sc, sc.recommend, { model: ref, user: 0, k: 5, includeSeen: false })).modelId).toBe(v2.id);
    const loaded = await call(sc, sc.listLoadedModels, {});
    expect(loaded.models.filter((m) => m.serving).map((m) => m.model!.id)).toEqual([v2.id]);
    await expect(call(sc, sc.recommend, { model: ref, user: 100_000, k: 5, includeSeen: false })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(call(sc, sc.recommend, { model: { id: '', name: 'missing', version: 0 }, user: 0, k: 5, includeSeen: false })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(call(sc, sc.recommend, { model: ref, user: 0, k: 0, includeSeen: false })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(call(sc, sc.recommend, { model: ref, user: 0, k: d.numItems + 1, includeSeen: false })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const tooMany = async (): Promise<void> => {
      for await (const _ of iterate(sc.recommendBatch({ model: ref, users: Array.from({ length: 51 }, (_, i) => i), k: 5, includeSeen: false }))) void _;
    };
    await expect(tooMany()).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    const batch: scoring.RecommendBatchResponse[] = [];
    for await (const r of iterate(sc.recommendBatch({ model: ref, users: [3, 1, 2], k: 4, includeSeen: false }))) batch.push(r);
    expect(batch.map((b) => b.user)).toEqual([3, 1, 2]);
    // RecommendStream: one response per request, in order; bad requests answer with their
    // status code and the stream goes on
    const stream = sc.recommendStream();
    const streamed: scoring.RecommendStreamResponse[] = [];
    const ended = new Promise<void>((res, rej) => {
      stream.on('data', (r: scoring.RecommendStreamResponse) => streamed.push(r));
      stream.on('end', () => res());
      stream.on('error', rej);
    });
    const reqs = [
      { model: ref, user: 3, k: 4, includeSeen: false },
      { model: ref, user: 100_000, k: 4, includeSeen: false },
      { model: ref, user: 1, k: 0, includeSeen: false },
      { model: { id: '', name: 'missing', version: 0 }, user: 1, k: 4, includeSeen: false },
      { model: ref, user: 1, k: 4, includeSeen: false },
    ];
    for (const request of reqs) stream.write({ request });
    stream.write({ request: undefined });
    stream.end();
    await ended;
    expect(streamed.map((a) => a.errorCode)).toEqual([status.OK, status.NOT_FOUND, status.INVALID_ARGUMENT, status.NOT_FOUND, status.OK, status.INVALID_ARGUMENT]);
    expect(streamed[5]!.errorMessage).toMatch(/request/);
    expect(streamed[1]!.errorMessage).toMatch(/user/);
    expect(streamed[2]!.errorMessage).toMatch(/\bk\b/);
    expect(streamed[0]!.response!.items).toEqual(batch[0]!.items);
    expect(streamed[4]!.response!.items).toEqual(batch[1]!.items);
    // still serving after the errors
    expect((await call(sc, sc.recommend, { model: ref, user: 1, k: 3, includeSeen: false })).items).toHaveLength(3);
    sc.close();
  });

  it('answers Open Inference Protocol clients built from the .proto alone', async () => {
    const pkg = loadPackageDefinition(loadSync(join(repoRoot, 'proto/inference/grpc_predict_v2.proto'), { keepCase: true, longs: Number, defaults: true }));
    const Ctor = ((pkg.inference as GrpcObject).GRPCInferenceService as ServiceClientConstructor);
    const c = new Ctor(evalSrv.address, credentials.createInsecure()) as unknown as Record<string, (req: unknown, cb: (e: Error | null, r: any) => void) => void> & { close(): void };
    const p = <T>(m: string, req: unknown): Promise<T> => new Promise((res, rej) => c[m]!(req, (e, r) => (e ? rej(e) : res(r as T))));
    expect((await p<{ live: boolean }>('ServerLive', {})).live).toBe(true);
    expect((await p<{ ready: boolean }>('ModelReady', { name: 'mf-test', version: '' })).ready).toBe(true);
    expect((await p<{ ready: boolean }>('ModelReady', { name: 'nope', version: '' })).ready).toBe(false);
    const meta = await p<{ versions: string[]; outputs: Array<{ name: string }> }>('ModelMetadata', { name: 'mf-test' });
    expect(meta.versions.sort()).toEqual(['1', '2']);
    const res = await p<{ outputs: Array<{ name: string; shape: number[]; contents: { int64_contents: number[]; fp32_contents: number[] } }> }>('ModelInfer', {
      model_name: 'mf-test', model_version: '1', inputs: [{ name: 'user', datatype: 'INT64', shape: [2], contents: { int64_contents: [0, 1] } }], parameters: { k: { int64_param: 10 } },
    });
    const out = Object.fromEntries(res.outputs.map((o) => [o.name, o]));
    expect(out.items!.shape).toEqual([2, 10]);
    const sc = createClient(scoring.ScoringServiceClient, evalSrv.address);
    const direct = await call(sc, sc.recommend, { model: { id: '', name: 'mf-test', version: 1 }, user: 1, k: 10, includeSeen: false });
    sc.close();
    expect(out.items!.contents.int64_contents.slice(10)).toEqual(direct.items);
    c.close();
  });
});
