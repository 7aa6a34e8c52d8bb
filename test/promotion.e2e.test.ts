import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'node:http';
import { data, evaluator, inference, scoring } from '@robustrec/contracts';
import { csrHas, Rng } from '@robustrec/core';
import { call, createClient, fetchInteractionData, registerModel } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { startEvaluatorService } from '@robustrec/evaluator-service';
import { tempDir, mfModelHeader } from './helpers';

/**
 * Atomic promotion under load. Invariant (services/evaluator/src/models.ts, ModelServer): a
 * request by alias is answered by exactly one version, the one the alias named at some
 * moment during the request; once SetAlias has answered, every later request gets the new
 * version. 32 concurrent clients (gRPC Recommend, gRPC ModelInfer and HTTP/REST infer, all by
 * the alias "production") run while the alias is moved back and forth between two versions
 * with different embeddings. Each answer must name a version allowed by the timeline and
 * carry exactly that version's brute-force top-k; there must be no error at all.
 */
describe('alias promotion under 32 concurrent clients', () => {
  const tmp = tempDir();
  let dataSrv: Awaited<ReturnType<typeof startDataService>>;
  let evalSrv: Awaited<ReturnType<typeof startEvaluatorService>>;
  const dim = 8;
  const K = 5;
  /** expected[version][user]: the version's top-K of that user, seen items masked. */
  const expected: Record<number, number[][]> = {};
  let numUsers = 0;

  beforeAll(async () => {
    dataSrv = await startDataService({ home: tmp.dir });
    evalSrv = await startEvaluatorService({ home: tmp.dir, dataAddress: dataSrv.address, httpAddress: '127.0.0.1:0' });
    const dc = createClient(data.DataServiceClient, dataSrv.address);
    const ds = (await call(dc, dc.importDataset, { name: 'promo', synthetic: { numUsers: 150, numItems: 120, meanInteractions: 10, popularityExponent: 0, clusters: 0, seed: 9 } })).dataset!;
    dc.close();
    numUsers = ds.numUsers;
    const train = (await fetchInteractionData(dataSrv.address, ds.id)).data.train;
    for (const v of [1, 2]) {
      const r = new Rng(100 + v);
      const users = Float32Array.from({ length: ds.numUsers * dim }, () => r.normal());
      const items = Float32Array.from({ length: ds.numItems * dim }, () => r.normal());
      await registerModel(evalSrv.address, mfModelHeader({ name: 'promo-mf', datasetId: ds.id, numUsers: ds.numUsers, numItems: ds.numItems, dim }), { user_embedding: users, item_embedding: items });
      expected[v] = Array.from({ length: ds.numUsers }, (_, u) =>
        Array.from({ length: ds.numItems }, (_, i) => i)
          .filter((i) => !csrHas(train, u, i))
          .map((i) => ({ i, s: Math.fround(users.subarray(u * dim, u * dim + dim).reduce((a, x, j) => a + x * items[i * dim + j]!, 0)) }))
          .sort((a, b) => b.s - a.s || a.i - b.i)
          .slice(0, K)
          .map((x) => x.i),
      );
    }
    expect(expected[1]).not.toEqual(expected[2]);
  });
  afterAll(async () => {
    await evalSrv?.shutdown();
    await dataSrv?.shutdown();
    tmp.cleanup();
  });

  it('every answer comes from exactly the old or the new version, 0 errors', async () => {
    const rc = createClient(evaluator.ModelRegistryServiceClient, evalSrv.address);
    await call(rc, rc.setAlias, { name: 'promo-mf', alias: 'production', version: 1 });

    interface Answer { start: number; end: number; version: number; user: number; items: number[]; via: string }
    const answers: Answer[] = [];
    const errors: string[] = [];
    let stop = false;
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    type Ask = (user: number) => Promise<{ version: number; items: number[] }>;
    const grpcRecommend = (): Ask => {
      const c = createClient(scoring.ScoringServiceClient, evalSrv.address);
      return async (user) => {
        const r = await call(c, c.recommend, { model: { id: '', name: 'promo-mf', version: 0, alias: 'production' }, user, k: K, includeSeen: false });
        return { version: r.version!, items: r.items };
      };
    };
    const grpcInfer = (): Ask => {
      const c = createClient(inference.GRPCInferenceServiceClient, evalSrv.address);
      return async (user) => {
        const r = await call(c, c.modelInfer, {
          modelName: 'promo-mf', modelVersion: 'production', id: '', parameters: { k: { int64Param: K } }, outputs: [], rawInputContents: [],
          inputs: [{ name: 'user', datatype: 'INT64', shape: [1], parameters: {}, contents: { boolContents: [], intContents: [], int64Contents: [user], uintContents: [], uint64Contents: [], fp32Contents: [], fp64Contents: [], bytesContents: [] } }],
        });
        return { version: Number(r.modelVersion), items: r.outputs.find((o) => o.name === 'items')!.contents!.int64Contents };
      };
    };
    const rest = (): Ask => async (user) => {
      const body = JSON.stringify({ parameters: { k: K }, inputs: [{ name: 'user', shape: [1], datatype: 'INT64', data: [user] }], outputs: [{ name: 'items' }] });
      const r = await new Promise<string>((resolve, reject) => {
        const q = request(`http://${evalSrv.httpAddress}/v2/models/promo-mf/versions/production/infer`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}: ${text}`))));
        });
        q.on('error', reject);
        q.end(body);
      });
      const j = JSON.parse(r) as { model_version: string; outputs: Array<{ data: number[] }> };
      return { version: Number(j.model_version), items: j.outputs[0]!.data };
    };
    const clients: Array<[string, Ask]> = [
      ...Array.from({ length: 16 }, () => ['grpc-recommend', grpcRecommend()] as [string, Ask]),
      ...Array.from({ length: 8 }, () => ['grpc-infer', grpcInfer()] as [string, Ask]),
      ...Array.from({ length: 8 }, () => ['rest', rest()] as [string, Ask]),
    ];
    expect(clients).toHaveLength(32);
    const rng = new Rng(4);
    const loops = clients.map(async ([via, ask]) => {
      while (!stop) {
        const user = rng.int(numUsers);
        const start = performance.now();
        try {
          const r = await ask(user);
          answers.push({ start, end: performance.now(), version: r.version, user, items: r.items, via });
        } catch (e) {
          errors.push(`${via}: ${e instanceof Error ? e.message : e}`);
        }
      }
    });

    // the promotions: production moves 2, 1, 2, ... while the clients run
    const promotions: Array<{ start: number; end: number; version: number }> = [{ start: 0, end: 0, version: 1 }];
    await new Promise((r) => setTimeout(r, 150));
    for (let i = 0; i < 12; i++) {
      const version = i % 2 === 0 ? 2 : 1;
      const start = performance.now();
      const res = await call(rc, rc.setAlias, { name: 'promo-mf', alias: 'production', version });
      promotions.push({ start, end: performance.now(), version });
      expect(res.alias!.version).toBe(version);
      await new Promise((r) => setTimeout(r, 40 + rng.int(40)));
    }
    stop = true;
    await Promise.all(loops);
    agent.destroy();
    rc.close();

    expect(errors).toEqual([]);
    expect(answers.length).toBeGreaterThan(300);
    for (const a of answers) {
      // the last promotion that had answered before the request began, and any that began before it ended
      let last = 0;
      promotions.forEach((p, i) => {
        if (p.end <= a.start) last = i;
      });
      const allowed = new Set(promotions.filter((p, i) => i >= last && (i === last || p.start < a.end)).map((p) => p.version));
      if (!allowed.has(a.version)) throw new Error(`${a.via} request [${a.start.toFixed(1)}, ${a.end.toFixed(1)}] answered by v${a.version}, allowed ${[...allowed]}`);
      // and the list is exactly that version's
      expect(a.items).toEqual(expected[a.version]![a.user]);
    }
    const byVersion = (v: number): number => answers.filter((a) => a.version === v).length;
    expect(byVersion(1)).toBeGreaterThan(0);
    expect(byVersion(2)).toBeGreaterThan(0);
    for (const via of ['grpc-recommend', 'grpc-infer', 'rest']) expect(answers.some((a) => a.via === via)).toBe(true);
    // the registry and the served alias agree at the end
    const final = promotions.at(-1)!.version;
    const rc2 = createClient(evaluator.ModelRegistryServiceClient, evalSrv.address);
    expect((await call(rc2, rc2.listAliases, { name: 'promo-mf' })).aliases.map((a) => a.version)).toEqual([final]);
    rc2.close();
  });
});
